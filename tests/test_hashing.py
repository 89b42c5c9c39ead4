"""preserve.hashing: correct against hashlib and coreutils sha256sum (no timing here)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

from preserve.errors import DataError
from preserve.hashing import (
    BUFFER_SIZE,
    FileDigest,
    TreeEntry,
    checksum_manifest,
    copy_tree_with_hash,
    copy_with_hash,
    hash_files,
    sha256_file,
)
from preserve.shim.digests import new_hasher

# Sizes around the buffer boundary, and empty.
SIZES = [0, 1, BUFFER_SIZE - 1, BUFFER_SIZE, BUFFER_SIZE + 1, 3 * BUFFER_SIZE + 12345]


@pytest.mark.parametrize("size", SIZES)
def test_sha256_file_matches_hashlib(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert sha256_file(path) == FileDigest(size, hashlib.sha256(data).hexdigest())


def test_sha256_file_matches_sha256sum(tmp_path: Path) -> None:
    sha256sum = shutil.which("sha256sum")
    assert sha256sum, "coreutils sha256sum is part of every Debian machine"
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(5 * BUFFER_SIZE + 7))
    out = subprocess.run([sha256sum, str(path)], capture_output=True, text=True, check=True)
    assert sha256_file(path).sha256 == out.stdout.split()[0]


def test_copy_with_hash(tmp_path: Path) -> None:
    data = os.urandom(2 * BUFFER_SIZE + 3)
    (tmp_path / "src").write_bytes(data)
    (tmp_path / "dst").write_bytes(b"old content, longer than nothing" * 100_000)
    digest = copy_with_hash(tmp_path / "src", tmp_path / "dst")
    assert digest == FileDigest(len(data), hashlib.sha256(data).hexdigest())
    assert (tmp_path / "dst").read_bytes() == data  # truncated and rewritten


def test_hash_files_in_parallel(tmp_path: Path) -> None:
    contents = {tmp_path / f"f{i}.bin": os.urandom(i * 1000) for i in range(50)}
    for path, data in contents.items():
        path.write_bytes(data)
    result = hash_files([*contents, next(iter(contents))], workers=4)  # a duplicate
    assert result == {
        p: FileDigest(len(d), hashlib.sha256(d).hexdigest()) for p, d in contents.items()
    }


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"cannot read .*nope"):
        hash_files([tmp_path / "nope"])


def test_copy_tree_keeps_layout_and_sorts(tmp_path: Path) -> None:
    src = tmp_path / "analysis"
    files = {"b.txt": b"b", "a/z.bin": os.urandom(3000), "a/b/c.h5": os.urandom(BUFFER_SIZE + 1)}
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    (src / "empty").mkdir()
    (src / "link-to-b.txt").symlink_to("b.txt")  # inside: copied as a file
    (src / "a" / "up").symlink_to("..", target_is_directory=True)  # a loop
    with pytest.raises(DataError, match="symbolic link loop"):
        copy_tree_with_hash(src, tmp_path / "out0")
    (src / "a" / "up").unlink()

    entries = copy_tree_with_hash(src, tmp_path / "out", workers=3)
    files["link-to-b.txt"] = b"b"
    assert entries == [
        TreeEntry(rel, len(files[rel]), hashlib.sha256(files[rel]).hexdigest())
        for rel in sorted(files)
    ]
    for rel, data in files.items():
        copied = tmp_path / "out" / rel
        assert copied.read_bytes() == data and not copied.is_symlink()
    assert (tmp_path / "out" / "empty").is_dir()


def test_copy_tree_refuses_escaping_links(tmp_path: Path) -> None:
    src = tmp_path / "analysis"
    src.mkdir()
    (tmp_path / "secret.txt").write_text("outside")
    (src / "leak").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(DataError) as err:
        copy_tree_with_hash(src, tmp_path / "out")
    assert "outside" in err.value.message and "leak" in err.value.message


def test_copy_tree_refuses_destination_inside_source(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(DataError, match="inside the source"):
        copy_tree_with_hash(tmp_path, tmp_path / "out")


def test_copy_tree_refuses_fifos(tmp_path: Path) -> None:
    src = tmp_path / "analysis"
    src.mkdir()
    os.mkfifo(src / "pipe")
    with pytest.raises(DataError, match="not a regular file"):
        copy_tree_with_hash(src, tmp_path / "out")


def test_other_algorithms() -> None:
    data = os.urandom(100_000)
    for name in ("md5", "sha1", "sha512"):
        hasher = new_hasher(name)
        hasher.update(data[:10])
        hasher.update(memoryview(data)[10:])
        assert hasher.hexdigest() == hashlib.new(name, data).hexdigest()
    adler = new_hasher("adler32")
    adler.update(data[:5])
    adler.update(data[5:])
    assert adler.hexdigest() == f"{zlib.adler32(data):08x}"
    with pytest.raises(ValueError):
        new_hasher("crc32")


def test_checksum_manifest_verifies_with_sha256sum(tmp_path: Path) -> None:
    """Names that sha256sum escapes (backslash, newline, CR) and names that are not UTF-8."""
    src = tmp_path / "scan"
    names = [b"plain.raw", b"new\nline.raw", b"back\\slash.raw", b"cr\rx.raw", b"latin-\xe9.raw"]
    (src / "sub dir").mkdir(parents=True)
    for i, name in enumerate(names):
        with open(os.path.join(os.fsencode(src / "sub dir"), name), "wb") as fh:
            fh.write(os.urandom(100 + i))
    entries = copy_tree_with_hash(src, tmp_path / "copy")
    manifest = tmp_path / "scan.sha256"
    manifest.write_bytes(checksum_manifest(entries))
    lines = manifest.read_bytes().splitlines()
    assert len(lines) == len(names)
    assert lines[0].startswith(b"\\") and b"back\\\\slash.raw" in lines[0]
    proc = subprocess.run(
        ["sha256sum", "-c", "--strict", str(manifest)],
        cwd=tmp_path / "copy",
        capture_output=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(b": OK") == len(names)
    (tmp_path / "copy" / "sub dir" / "plain.raw").write_bytes(b"changed")
    tampered = subprocess.run(
        ["sha256sum", "-c", "--quiet", str(manifest)], cwd=tmp_path / "copy", capture_output=True
    )
    assert tampered.returncode == 1
    assert b"plain.raw: FAILED" in tampered.stdout


def test_copy_tree_of_many_files_in_batches(tmp_path: Path) -> None:
    src = tmp_path / "frames"
    expected = {}
    for i in range(1500):  # several batches per worker
        rel = f"f{i // 100:02d}/frame-{i:05d}.raw"
        data = os.urandom(i % 300)
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
        expected[rel] = TreeEntry(rel, len(data), hashlib.sha256(data).hexdigest())
    entries = copy_tree_with_hash(src, tmp_path / "copy", workers=3)
    assert entries == [expected[rel] for rel in sorted(expected)]
    assert all(
        (tmp_path / "copy" / e.relpath).read_bytes() == (src / e.relpath).read_bytes()
        for e in entries
    )
