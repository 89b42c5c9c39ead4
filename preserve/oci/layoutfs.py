"""Files of an OCI image layout: content-addressed blobs written atomically, a locked index."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from preserve.errors import RegistryError
from preserve.oci.digests import hex_of

TMP = ".tmp"  # partial blobs, renamed into blobs/sha256/ when complete


def blob_path(root: Path, digest: str) -> Path:
    return root / "blobs" / "sha256" / hex_of(digest)


class BlobWriter:
    """Write one blob to a temporary file, hashing; ``commit`` renames it into place."""

    def __init__(self, root: Path) -> None:
        self.root = root
        tmpdir = root / TMP
        tmpdir.mkdir(exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmpdir, prefix="blob-")
        self._tmp = Path(name)
        self._fh = os.fdopen(fd, "wb")
        self._h = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._h.update(chunk)
        self._fh.write(chunk)
        self.size += len(chunk)

    def commit(self) -> tuple[str, int]:
        digest = "sha256:" + self._h.hexdigest()
        self._fh.close()
        target = blob_path(self.root, digest)
        if target.exists():
            self._tmp.unlink()
        else:
            os.replace(self._tmp, target)
        return digest, self.size

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._fh.closed:
            self._fh.close()
        self._tmp.unlink(missing_ok=True)


def write_bytes_blob(root: Path, data: bytes) -> str:
    with BlobWriter(root) as writer:
        writer.write(data)
        digest, _ = writer.commit()
    return digest


@contextmanager
def locked_index(root: Path) -> Iterator[tuple[dict[str, Any], Callable[[], None]]]:
    """index.json under an exclusive lock, with a function that saves it atomically."""
    lock = (root / "index.json.lock").open("a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        index = read_index(root)

        def save() -> None:
            fd, tmp = tempfile.mkstemp(dir=root / TMP, prefix="index-")
            with os.fdopen(fd, "w") as fh:
                json.dump(index, fh, indent=2, sort_keys=True)
            os.replace(tmp, root / "index.json")

        yield index, save
    finally:
        lock.close()


def read_index(root: Path) -> dict[str, Any]:
    path = root / "index.json"
    try:
        index = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RegistryError(
            f"cannot read {path}: {exc}",
            hint="the local OCI store is damaged; move it away to start a new one",
        ) from exc
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise RegistryError(f"{path} is not an OCI image index")
    return index
