"""Staging inputs for a run: verified, content-addressed, downloaded at most once.

Remote inputs land in ``<cache_dir>/data/sha256/<hex>``, read-only. With the
recorded ``expected_sha256`` already cached, staging touches no network at all,
so a second rerun downloads nothing. Otherwise the bytes are streamed into a
temporary file in the same folder while being hashed (SHA-256, plus every
algorithm the server reported, to tell transfer corruption from a changed
input), verified, and only then renamed into place. A failed verification
deletes the temporary file: nothing unverified is ever cached. Concurrent
stagers write distinct temporary files and rename atomically, so they cannot
corrupt each other, and a lock per expected checksum makes the others wait
for the first download instead of repeating it.

Everything a remote input costs on the network (description, download,
retries, resumption) runs under one deadline, ``network.stage_deadline``: a
server that never answers, or answers one byte at a time, ends the staging
with an error naming it instead of hanging the run.

``file://`` inputs are not copied: the original file is hashed in place.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from preserve import net
from preserve.data.base import DataResolver, RemoteInfo, redact, resolver_for, scheme_of
from preserve.data.file import FileResolver, local_path
from preserve.disk import GiB, check_free_space
from preserve.errors import DataError, IntegrityError
from preserve.hashing import sha256_file
from preserve.locks import exclusive, lock_path
from preserve.progress import QUIET, Progress
from preserve.settings import Settings
from preserve.shim.digests import ALGORITHMS, Hasher, new_hasher

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class StagedData:
    name: str
    uri: str
    path: Path  # a read-only file to bind-mount into the container
    size: int
    sha256: str
    info: RemoteInfo
    downloaded: bool  # False when served from the cache (or a file:// original)


def cache_root(settings: Settings) -> Path:
    return settings.cache_dir / "data" / "sha256"


def stage(
    name: str,
    uri: str,
    settings: Settings,
    *,
    expected_sha256: str | None = None,
    expected_size: int | None = None,
    progress: Progress = QUIET,
) -> StagedData:
    """Make input ``name`` at ``uri`` available as a verified local file."""
    expected = _check_expected(name, expected_sha256)
    if scheme_of(uri) == "file":
        return _stage_local(name, uri, expected, expected_size, progress)
    cache = cache_root(settings)
    if not expected:
        return _download(name, uri, settings, None, expected_size, progress)
    hit = _cached(name, uri, cache, expected, expected_size)
    if hit:
        return hit
    # One download per input among concurrent stagers; the others wait, then find it cached.
    with exclusive(lock_path(settings.cache_dir, "data", expected)):
        hit = _cached(name, uri, cache, expected, expected_size)
        if hit:
            return hit
        return _download(name, uri, settings, expected, expected_size, progress)


def cached_input(
    name: str, uri: str, settings: Settings, sha256: str | None, size: int | None
) -> StagedData | None:
    """The verified copy of an input in the cache, if there is one; nothing is fetched."""
    expected = _check_expected(name, sha256)
    return _cached(name, uri, cache_root(settings), expected, size) if expected else None


def _download(
    name: str,
    uri: str,
    settings: Settings,
    expected: str | None,
    expected_size: int | None,
    progress: Progress,
) -> StagedData:
    resolver = resolver_for(uri, settings)
    limit = settings.network.stage_deadline
    with net.deadline(
        limit,
        f"staging input {name!r} from {net.server_of(uri)}",
        error=DataError,
        hint="the server is too slow or does not answer; try again later, or allow more "
        f"time: stage_deadline in [network] (PRESERVE_NETWORK_STAGE_DEADLINE), now {limit:g} s",
    ):
        return _fetch(name, uri, settings, resolver, expected, expected_size, progress)


def _fetch(
    name: str,
    uri: str,
    settings: Settings,
    resolver: DataResolver,
    expected: str | None,
    expected_size: int | None,
    progress: Progress,
) -> StagedData:
    cache = cache_root(settings)
    progress.step(f"checking input {name!r} at {redact(uri)}")
    info = resolver.stat(uri)
    _check_before_download(name, uri, info, expected, expected_size)
    # A server that knows the SHA-256 saves the download when the content is cached.
    known = info.checksums.get("sha256")
    hit = _cached(name, uri, cache, known, expected_size, info) if known else None
    if hit:
        return hit
    _check_space(cache, info.size, settings.min_free_gib)
    algorithms = {"sha256", *(a for a in info.checksums if a in ALGORITHMS)}
    with _TempFile(cache) as tmp:
        sink = _HashingSink(tmp.fh, algorithms)
        try:
            got = resolver.fetch(uri, sink, progress=progress)
            tmp.finish()
        except OSError as exc:  # the network side raises DataError; this is the disk
            raise DataError(
                f"cannot write input {name!r} to {cache}: {exc.strerror or exc}",
                hint="free space there, or point cache_dir (PRESERVE_CACHE_DIR) elsewhere",
            ) from exc
        got = replace(got, checksums={**info.checksums, **got.checksums})
        actual = sink.hexdigests()
        _check_transfer(name, uri, got, actual, sink.size)
        _check_recorded(name, uri, expected, expected_size, actual["sha256"], sink.size)
        path = tmp.commit(cache / actual["sha256"])
    return StagedData(name, uri, path, sink.size, actual["sha256"], got, downloaded=True)


# -- checks -------------------------------------------------------------------


def _check_expected(name: str, expected_sha256: str | None) -> str | None:
    if expected_sha256 is None:
        return None
    value = expected_sha256.lower().removeprefix("sha256:")
    if not _SHA256.match(value):
        raise DataError(
            f"recorded checksum of input {name!r} is not a SHA-256: {expected_sha256!r}",
            hint="expected 64 hexadecimal digits",
        )
    return value


def _changed(name: str, uri: str, what: str) -> IntegrityError:
    return IntegrityError(
        f"input {name!r} ({redact(uri)}) changed since it was recorded: {what}",
        hint="restore the original data at that URI, or capture the analysis again "
        "to record the new input",
    )


def _check_before_download(
    name: str, uri: str, info: RemoteInfo, expected: str | None, expected_size: int | None
) -> None:
    """Refuse a changed input from its description alone, before moving any bytes."""
    if expected_size is not None and info.size is not None and info.size != expected_size:
        raise _changed(name, uri, f"expected {expected_size} bytes, the server has {info.size}")
    known = info.checksums.get("sha256")
    if expected and known and known != expected:
        raise _changed(name, uri, f"expected sha256 {expected}, the server reports {known}")


def _check_transfer(
    name: str, uri: str, got: RemoteInfo, actual: dict[str, str], size: int
) -> None:
    """The received bytes must match every checksum and the size the server sent."""
    if got.size is not None and size != got.size:
        raise IntegrityError(
            f"input {name!r} ({redact(uri)}) arrived incomplete: {size} of {got.size} bytes",
            hint="nothing was cached; run again to retry the download",
        )
    for algorithm, value in sorted(got.checksums.items()):
        if algorithm in actual and actual[algorithm] != value:
            raise IntegrityError(
                f"input {name!r} ({redact(uri)}) was corrupted in transfer: the server "
                f"reports {algorithm} {value}, the received data has {actual[algorithm]}",
                hint="nothing was cached; run again to retry the download",
            )


def _check_recorded(
    name: str,
    uri: str,
    expected: str | None,
    expected_size: int | None,
    sha256: str,
    size: int,
) -> None:
    if expected and sha256 != expected:
        raise _changed(name, uri, f"expected sha256 {expected}, got {sha256}")
    if expected_size is not None and size != expected_size:
        raise _changed(name, uri, f"expected {expected_size} bytes, got {size}")


def _check_space(cache: Path, size: int | None, min_free_gib: float) -> None:
    check_free_space(
        cache,
        size,
        "the input",
        error=DataError,
        keep_free=int(min_free_gib * GiB),
        hint="free space there, or point cache_dir (PRESERVE_CACHE_DIR) elsewhere",
    )


# -- the cache ----------------------------------------------------------------


def _cached(
    name: str,
    uri: str,
    cache: Path,
    sha256: str | None,
    expected_size: int | None,
    info: RemoteInfo | None = None,
) -> StagedData | None:
    """The cached copy of ``sha256``, if present (its size is checked, not its content)."""
    if not sha256:
        return None
    path = cache / sha256
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if expected_size is not None and size != expected_size:
        return None  # a damaged entry: download again and replace it
    if info is None:
        info = RemoteInfo(uri, size, None, None, None, {"sha256": sha256})
    return StagedData(name, uri, path, size, sha256, info, downloaded=False)


class _HashingSink:
    """Writes to a file while hashing the same bytes with several algorithms."""

    def __init__(self, fh: BinaryIO, algorithms: Iterable[str]) -> None:
        self._fh = fh
        self._hashers: dict[str, Hasher] = {a: new_hasher(a) for a in sorted(algorithms)}
        self.size = 0

    def write(self, data: bytes, /) -> int:
        for hasher in self._hashers.values():
            hasher.update(data)
        self._fh.write(data)
        self.size += len(data)
        return len(data)

    def hexdigests(self) -> dict[str, str]:
        return {a: h.hexdigest() for a, h in self._hashers.items()}


class _TempFile:
    """A temporary file in the cache folder, deleted unless committed."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix=".partial-")
        self.path = Path(name)
        self.fh: BinaryIO = os.fdopen(fd, "wb")
        self._committed = False

    def __enter__(self) -> _TempFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.fh.close()
        if not self._committed:
            self.path.unlink(missing_ok=True)

    def finish(self) -> None:
        """Flush to disk, so that a cached entry survives a crash whole."""
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()

    def commit(self, final: Path) -> Path:
        os.chmod(self.path, 0o444)
        os.replace(self.path, final)  # atomic; a concurrent stager wrote the same bytes
        self._committed = True
        return final


# -- file:// ------------------------------------------------------------------


def _stage_local(
    name: str, uri: str, expected: str | None, expected_size: int | None, progress: Progress
) -> StagedData:
    info = FileResolver().stat(uri)
    path = local_path(uri)
    if expected_size is not None and info.size != expected_size:
        raise _changed(name, uri, f"expected {expected_size} bytes, the file has {info.size}")
    progress.step(f"hashing input {name!r} in place ({path})")
    digest = sha256_file(path)
    _check_recorded(name, uri, expected, expected_size, digest.sha256, digest.size)
    described = RemoteInfo(
        uri=uri,
        size=digest.size,
        encoding_format=info.encoding_format,
        last_modified=info.last_modified,
        etag=None,
        checksums={"sha256": digest.sha256},
    )
    return StagedData(name, uri, path, digest.size, digest.sha256, described, downloaded=False)
