"""``file://`` inputs: facility file systems mounted on this machine (GPFS, NFS, ...).

``file:///asap3/petra3/gpfs/p01/2024/data/123/raw/frames.h5`` names a file on
a mount such as DESY's ``/asap3``. Nothing is copied: the stager hashes the
file in place and bind-mounts the original read-only.
"""

from __future__ import annotations

import mimetypes
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

from preserve.data.base import RemoteInfo, Sink
from preserve.data.http import folder_error
from preserve.errors import DataError
from preserve.plugins import NoOptions
from preserve.progress import Progress
from preserve.settings import Settings

_CHUNK = 1 << 20


def local_path(uri: str) -> Path:
    """The absolute path a ``file://`` URI names (only this machine's, no remote hosts)."""
    parts = urlsplit(uri)
    if parts.scheme.lower() != "file":
        raise DataError(f"{uri} is not a file:// URI")
    if parts.netloc not in ("", "localhost"):
        raise DataError(
            f"{uri} names a file on host {parts.netloc!r}",
            hint="file:// URIs name files on this machine: file:///abs/path (three slashes)",
        )
    path = unquote(parts.path)
    if not path.startswith("/"):
        raise DataError(f"{uri} does not name an absolute path", hint="write file:///abs/path")
    return Path(path)


class FileResolver:
    """Files on a mounted file system: ``os.stat`` to describe, a plain read to fetch."""

    schemes: ClassVar[frozenset[str]] = frozenset({"file"})
    options = NoOptions

    @classmethod
    def from_settings(cls, options: NoOptions, settings: Settings) -> FileResolver:
        return cls()

    def stat(self, uri: str) -> RemoteInfo:
        path = local_path(uri)
        try:
            st = path.stat()
        except FileNotFoundError as exc:
            raise DataError(
                f"{path} (from {uri}) does not exist",
                hint="the data moved or was deleted, or its file system is not mounted here",
            ) from exc
        except OSError as exc:
            raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
        if stat.S_ISDIR(st.st_mode):
            raise folder_error(uri)
        if not stat.S_ISREG(st.st_mode):
            raise DataError(f"{path} is not a regular file")
        modified = datetime.fromtimestamp(st.st_mtime, UTC).replace(tzinfo=None)
        return RemoteInfo(
            uri=uri,
            size=st.st_size,
            encoding_format=mimetypes.guess_type(path.name)[0],
            last_modified=modified.isoformat(timespec="seconds") + "Z",
            etag=None,
            checksums={},
        )

    def fetch(self, uri: str, sink: Sink, *, progress: Progress) -> RemoteInfo:
        info = self.stat(uri)
        path = local_path(uri)
        with progress.task(f"reading {path.name}", info.size) as task:
            for chunk in _chunks(path):
                sink.write(chunk)
                task.advance(len(chunk))
        return info


def _chunks(path: Path) -> Iterator[bytes]:
    """The file's content in chunks; read errors become DataError (write errors do not)."""
    try:
        with open(path, "rb") as fh:
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
            while chunk := fh.read(_CHUNK):
                yield chunk
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
