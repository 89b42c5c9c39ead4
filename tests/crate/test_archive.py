"""Zipped crates: unpacked inside the destination only, links and escapes refused."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from preserve.crate.archive import crate_folder, is_zip, unzip_crate
from preserve.errors import CrateError

METADATA = b'{"@context": "https://w3id.org/ro/crate/1.1/context", "@graph": []}'


def make_zip(path: Path, members: dict[str, bytes], link: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if link:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path


def test_a_zip_with_the_crate_at_its_top_or_in_one_folder(tmp_path: Path) -> None:
    flat = make_zip(tmp_path / "a.zip", {"ro-crate-metadata.json": METADATA, "d/x.txt": b"x"})
    assert is_zip(flat) and not is_zip(tmp_path)
    root = unzip_crate(flat, tmp_path / "a")
    assert root == tmp_path / "a" and (root / "d" / "x.txt").read_bytes() == b"x"
    wrapped = make_zip(tmp_path / "b.zip", {"crate/ro-crate-metadata.json": METADATA})
    assert unzip_crate(wrapped, tmp_path / "b") == tmp_path / "b" / "crate"
    with crate_folder(flat, tmp_path / "scratch") as unpacked:
        assert (unpacked / "ro-crate-metadata.json").is_file()
    assert list((tmp_path / "scratch").iterdir()) == []  # the copy is removed afterwards


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/evil", "a/../../evil", "C:/evil"])
def test_members_leaving_the_crate_are_refused(tmp_path: Path, name: str) -> None:
    bad = make_zip(tmp_path / "bad.zip", {"ro-crate-metadata.json": METADATA, name: b"x"})
    with pytest.raises(CrateError, match="leaves the crate"):
        unzip_crate(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.txt").exists()


def test_links_are_refused_and_a_zip_without_metadata_is_not_a_crate(tmp_path: Path) -> None:
    linked = make_zip(tmp_path / "l.zip", {"ro-crate-metadata.json": METADATA}, link="passwd")
    with pytest.raises(CrateError, match="is a link"):
        unzip_crate(linked, tmp_path / "l")
    other = make_zip(tmp_path / "o.zip", {"x.txt": b"x"})
    with pytest.raises(CrateError, match="not a zipped RO-Crate"):
        unzip_crate(other, tmp_path / "o")
