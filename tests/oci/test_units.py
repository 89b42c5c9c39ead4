"""Pieces of the OCI stores that need no service: types, tars, titles, credentials, caches."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import tarfile
from pathlib import Path

import pytest

from preserve.errors import ConfigError, CrateError
from preserve.oci.artifact import crate_entries, media_type_for, write_tar
from preserve.oci.auth import Challenge, find_credentials, searched_places
from preserve.oci.caches import BlobLocations, DigestCache
from preserve.oci.digests import sha256_file
from preserve.oci.referrers import add_referrer, empty_index, fallback_tag, select_crate
from preserve.oci.stores import MANIFEST_MEDIA_TYPE, Descriptor
from preserve.oci.unpack import safe_title
from preserve.settings import Settings
from tests.oci.conftest import make_crate


@pytest.mark.parametrize(
    ("title", "media_type"),
    [
        ("ro-crate-metadata.json", "application/ld+json"),
        ("results/x.h5", "application/x-hdf5"),
        ("raw/scan.NXS", "application/x-hdf5"),
        ("notes.txt", "text/plain"),
        ("data.json", "application/json"),
        ("blob.unknownext", "application/octet-stream"),
    ],
)
def test_media_types(title: str, media_type: str) -> None:
    assert media_type_for(title) == media_type


def test_big_folders_become_one_deterministic_tar(tmp_path: Path) -> None:
    crate = make_crate(tmp_path / "a")
    entries = crate_entries(crate)
    assert [e.title for e in entries if e.is_dir] == ["frames"]
    folder = next(e for e in entries if e.is_dir)
    path, tar_digest = write_tar(folder, tmp_path / "1.tar.gz")
    first = sha256_file(path)
    os.utime(crate / "frames" / "f00001.txt", (1, 1))  # mtimes are not recorded
    again, tar_again = write_tar(folder, tmp_path / "2.tar.gz")
    assert (first, tar_digest) == (sha256_file(again), tar_again)
    with gzip.open(path) as fh:  # the annotation's digest is the uncompressed tar's
        assert tar_digest == "sha256:" + hashlib.sha256(fh.read()).hexdigest()
    with tarfile.open(path) as tar:  # members under the folder's name (ORAS convention)
        assert {m.name.split("/")[0] for m in tar.getmembers()} == {"frames"}


def test_a_folder_of_999_files_stays_files(tmp_path: Path) -> None:
    crate = make_crate(tmp_path / "a", big_folder_files=998)  # + sub/deep.bin = 999
    titles = [e.title for e in crate_entries(crate)]
    assert "frames/f00997.txt" in titles and "frames/sub/deep.bin" in titles


def test_only_top_level_folders_become_layers(tmp_path: Path) -> None:
    crate = make_crate(tmp_path / "a", big_folder_files=0)
    (crate / "analysis" / "data" / "scan").mkdir(parents=True)
    for i in range(1000):
        (crate / "analysis" / "data" / "scan" / f"{i}.tif").write_text(str(i))
    assert [e.title for e in crate_entries(crate) if e.is_dir] == ["analysis"]


def test_a_crate_needs_its_metadata_file(tmp_path: Path) -> None:
    with pytest.raises(CrateError, match=r"ro-crate-metadata\.json"):
        crate_entries(tmp_path)


@pytest.mark.parametrize("title", ["a.txt", "dir/sub/b.h5", "with space/ü.txt"])
def test_safe_titles(title: str) -> None:
    assert str(safe_title(title, "x")) == title


@pytest.mark.parametrize("title", ["", "../a", "/a", "a/../b", "a/./b", "a\\b", "a//b", "."])
def test_unsafe_titles(title: str) -> None:
    with pytest.raises(CrateError):
        safe_title(title, "x")


def test_challenge_parsing() -> None:
    bearer = Challenge.parse(
        'Bearer realm="https://auth.example.org/token",service="reg",scope="repository:a/b:pull"'
    )
    assert (bearer.scheme, bearer.realm, bearer.service, bearer.scope) == (
        "bearer", "https://auth.example.org/token", "reg", "repository:a/b:pull",
    )  # fmt: skip
    assert Challenge.parse('Basic realm="Registry Realm"').scheme == "basic"


def test_credentials_precedence_and_docker_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    auth = base64.b64encode(b"bob:from-docker").decode()
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {"https://reg.example.org/v1/": {"auth": auth}}})
    )
    found = find_credentials(Settings.load(), "reg.example.org")
    assert found is not None and (found.username, found.password) == ("bob", "from-docker")
    assert "from-docker" not in repr(found)
    settings = Settings.load(
        overrides={"registries": {"reg.example.org": {"username": "ada", "password": "cfg"}}}
    )
    found = find_credentials(settings, "reg.example.org")
    assert found is not None and found.username == "ada"
    assert find_credentials(Settings.load(), "other.example.org") is None
    assert "config.json" in searched_places(Settings.load(), "reg.example.org")


def test_a_missing_credential_helper_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"credsStore": "no-such-helper-here"}))
    with pytest.raises(ConfigError, match="docker-credential-no-such-helper-here"):
        find_credentials(Settings.load(), "reg.example.org")


def test_referrers_fallback_index() -> None:
    digest = "sha256:" + "ab" * 32
    assert fallback_tag(digest) == "sha256-" + "ab" * 32
    index = empty_index()
    desc = Descriptor("application/vnd.oci.image.manifest.v1+json", digest, 10, {"k": "v"}, "t/x")
    assert add_referrer(index, desc, "here") is True
    assert add_referrer(index, desc, "here") is False
    assert index["manifests"] == [desc.to_json()]


def test_caches_survive_a_reload(tmp_path: Path) -> None:
    locations = BlobLocations(tmp_path / "c" / "blobs.json")
    locations.add("sha256:1", "ocitest/a")
    locations.save()
    again = BlobLocations(tmp_path / "c" / "blobs.json")
    assert again.other_repo("sha256:1", "ocitest/b") == "ocitest/a"
    assert again.other_repo("sha256:1", "ocitest/a") is None
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 10)
    digests = DigestCache(tmp_path / "c" / "digests.json")
    digests.put(big, "sha256:2")
    digests.save()
    assert DigestCache(tmp_path / "c" / "digests.json").get(big) == "sha256:2"
    big.write_bytes(b"y" * 10)  # same size, new content: the ctime moves, the entry misses
    assert DigestCache(tmp_path / "c" / "digests.json").get(big) is None


def test_the_published_crate_wins_then_the_newest_then_the_last_listed() -> None:
    def crate(digest: str, created: str, doi: str | None = None) -> Descriptor:
        notes = {"org.opencontainers.image.created": created}
        if doi:
            notes["org.preserve.doi"] = doi
        return Descriptor(MANIFEST_MEDIA_TYPE, f"sha256:{digest * 64}", 10, notes)

    before = crate("a", "2026-03-14T10:00:00Z")
    published = crate("b", "2026-03-14T10:00:00Z", "10.5072/preserve.x")  # same created
    assert select_crate([before, published]) == published
    assert select_crate([published, before]) == published
    newer = crate("c", "2026-03-15T10:00:00Z")
    assert select_crate([newer, before]) == newer
    twin = crate("d", "2026-03-14T10:00:00Z")
    assert select_crate([before, twin]) == twin
