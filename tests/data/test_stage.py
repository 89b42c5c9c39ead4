"""Staging remote inputs: content-addressed cache, verification, corruption, concurrency."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from pathlib import Path

import pytest

from preserve.data import StagedData, cache_root, stage
from preserve.errors import DataError, IntegrityError, PreserveError
from preserve.settings import Settings
from tests.data.conftest import RecordingProgress
from tests.servers.dcache import DcacheServer

DATA = os.urandom(3 * 1024 * 1024 + 1)
SHA = hashlib.sha256(DATA).hexdigest()


def cache_files(settings: Settings) -> list[str]:
    root = cache_root(settings)
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


@pytest.mark.parametrize("scheme", ["http", "dav"])
def test_stage_downloads_verifies_and_caches(
    dcache: DcacheServer, settings: Settings, progress: RecordingProgress, scheme: str
) -> None:
    dcache.put("/p01/frames.h5", DATA)
    uri = dcache.url("/p01/frames.h5", scheme=scheme)
    staged = stage("frames", uri, settings, expected_sha256=SHA, progress=progress)
    assert staged.downloaded and (staged.name, staged.uri) == ("frames", uri)
    assert staged.path == settings.cache_dir / "data" / "sha256" / SHA
    assert staged.path.read_bytes() == DATA
    assert (staged.size, staged.sha256) == (len(DATA), SHA)
    assert stat.S_IMODE(staged.path.stat().st_mode) == 0o444  # read-only
    assert staged.info.checksums["adler32"]  # what the server reported, verified
    assert cache_files(settings) == [SHA]  # no temporary files left
    assert progress.advanced == len(DATA)


def test_second_stage_is_a_cache_hit_without_any_request(
    dcache: DcacheServer, settings: Settings
) -> None:
    dcache.put("/frames.h5", DATA)
    uri = dcache.url("/frames.h5")
    stage("frames", uri, settings, expected_sha256=SHA)
    before = len(dcache.log)
    again = stage("frames", uri, settings, expected_sha256=SHA, expected_size=len(DATA))
    assert not again.downloaded and again.path.read_bytes() == DATA
    assert len(dcache.log) == before  # no network access at all
    dcache.close()  # even with the server gone
    assert stage("frames", uri, settings, expected_sha256=SHA) == again


def test_server_sha256_finds_cached_content_with_only_a_head(
    dcache: DcacheServer, settings: Settings
) -> None:
    dcache.put("/a.h5", DATA, algorithms=("adler32", "sha256"))
    dcache.put("/copy-of-a.h5", DATA, algorithms=("adler32", "sha256"))
    stage("a", dcache.url("/a.h5"), settings)
    before = len(dcache.log)
    copy = stage("copy", dcache.url("/copy-of-a.h5"), settings)  # nothing recorded yet
    assert not copy.downloaded and copy.sha256 == SHA
    assert [(r.role, r.method) for r in dcache.log[before:]] == [("door", "HEAD")]


def test_changed_input_is_refused_and_not_cached(dcache: DcacheServer, settings: Settings) -> None:
    dcache.put("/p01/frames.h5", DATA)
    changed = os.urandom(len(DATA))  # same size: only the checksum tells
    dcache.change("/p01/frames.h5", changed)
    uri = dcache.url("/p01/frames.h5")
    with pytest.raises(IntegrityError) as err:
        stage("frames", uri, settings, expected_sha256=SHA)
    message = err.value.message
    assert message.startswith(f"input 'frames' ({uri}) changed since it was recorded")
    assert f"expected sha256 {SHA}" in message
    assert f"got {hashlib.sha256(changed).hexdigest()}" in message
    assert cache_files(settings) == []  # nothing from the failed verification


def test_changed_size_is_refused_before_downloading(
    dcache: DcacheServer, settings: Settings
) -> None:
    dcache.put("/frames.h5", DATA + b"more")
    with pytest.raises(IntegrityError) as err:
        stage(
            "frames",
            dcache.url("/frames.h5"),
            settings,
            expected_sha256=SHA,
            expected_size=len(DATA),
        )
    assert f"expected {len(DATA)} bytes, the server has {len(DATA) + 4}" in err.value.message
    assert dcache.requests("pool") == [] and dcache.requests(method="GET") == []


def test_changed_input_known_from_server_sha256_is_refused_before_downloading(
    dcache: DcacheServer, settings: Settings
) -> None:
    dcache.put("/frames.h5", DATA, algorithms=("adler32", "sha256"))
    dcache.change("/frames.h5", os.urandom(len(DATA)))
    with pytest.raises(IntegrityError) as err:
        stage("frames", dcache.url("/frames.h5"), settings, expected_sha256=SHA)
    server_sha = hashlib.sha256(dcache.files["/frames.h5"].data).hexdigest()
    assert f"expected sha256 {SHA}, the server reports {server_sha}" in err.value.message
    assert dcache.requests(method="GET") == []


@pytest.mark.parametrize("algorithms", [("adler32",), ("md5",)])
def test_corrupted_transfer_is_detected_by_the_reported_checksum(
    dcache: DcacheServer, settings: Settings, algorithms: tuple[str, ...]
) -> None:
    dcache.put("/frames.h5", DATA, algorithms=algorithms)
    dcache.corrupt = True  # Content-Length and Digest stay those of the stored file
    with pytest.raises(IntegrityError) as err:
        stage("frames", dcache.url("/frames.h5"), settings)  # nothing recorded to compare
    assert "was corrupted in transfer" in err.value.message
    assert f"the server reports {algorithms[0]}" in err.value.message
    assert cache_files(settings) == []
    dcache.corrupt = False
    assert stage("frames", dcache.url("/frames.h5"), settings).path.read_bytes() == DATA


def test_resumed_transfer_is_verified_whole(dcache: DcacheServer, settings: Settings) -> None:
    dcache.put("/frames.h5", DATA, algorithms=("adler32", "md5"))
    dcache.drop_after = 2_200_000
    staged = stage("frames", dcache.url("/frames.h5"), settings, expected_sha256=SHA)
    assert staged.sha256 == SHA and len(dcache.requests("pool")) == 2


def test_concurrent_stagers_of_the_same_content(dcache: DcacheServer, settings: Settings) -> None:
    dcache.put("/frames.h5", DATA)
    results: list[StagedData] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(stage("frames", dcache.url("/frames.h5"), settings, expected_sha256=SHA))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 4
    assert {r.path for r in results} == {cache_root(settings) / SHA}
    assert (cache_root(settings) / SHA).read_bytes() == DATA
    assert cache_files(settings) == [SHA]


def test_errors_are_preserve_errors(dcache: DcacheServer, settings: Settings) -> None:
    with pytest.raises(DataError) as missing:
        stage("frames", dcache.url("/missing.h5"), settings)
    assert "HTTP 404" in missing.value.message
    dcache.put("/p01/raw/f.h5", DATA)
    with pytest.raises(DataError, match="is a folder"):
        stage("raw", dcache.url("/p01/raw/", scheme="dav"), settings)
    with pytest.raises(DataError, match="not a SHA-256"):
        stage("frames", dcache.url("/p01/raw/f.h5"), settings, expected_sha256="abc")
    with pytest.raises(PreserveError, match="available schemes: dav, davs, file, http, https"):
        stage("frames", "ftp://example.org/f.h5", settings)


def test_not_enough_disk_space(dcache: DcacheServer, settings: Settings) -> None:
    dcache.put("/frames.h5", DATA)
    greedy = settings.model_copy(update={"min_free_gib": 1e9})
    with pytest.raises(DataError) as err:
        stage("frames", dcache.url("/frames.h5"), greedy)
    assert "not enough disk space" in err.value.message
    assert dcache.requests(method="GET") == []


def test_cached_entry_of_the_wrong_size_is_replaced(
    dcache: DcacheServer, settings: Settings
) -> None:
    dcache.put("/frames.h5", DATA)
    root = cache_root(settings)
    root.mkdir(parents=True)
    (root / SHA).write_bytes(b"truncated")
    staged = stage(
        "frames", dcache.url("/frames.h5"), settings, expected_sha256=SHA, expected_size=len(DATA)
    )
    assert staged.downloaded and Path(staged.path).read_bytes() == DATA
