"""Disk space and writes: free-space checks before writing what a server claims to send,
and a full disk or an unwritable folder as a clear error."""

from __future__ import annotations

import errno
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from preserve.errors import PreserveError, StorageError

GiB = 1 << 30
_FULL = {errno.ENOSPC, errno.EDQUOT}
_DENIED = {errno.EACCES, errno.EPERM, errno.EROFS}


def check_free_space(
    folder: Path,
    size: int | None,
    what: str,
    *,
    error: type[PreserveError],
    keep_free: int = 0,
    hint: str,
) -> None:
    """Refuse to write ``size`` bytes of ``what`` into ``folder`` unless they fit.

    ``keep_free`` bytes must stay free afterwards. A size that cannot be true
    (negative) is refused too: it comes from someone else's metadata.
    """
    if size is not None and size < 0:
        raise error(f"{what} claims a negative size ({size} bytes)", hint="do not trust it")
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    needed = (size or 0) + keep_free
    if free < needed:
        amount = f"{size} bytes" if size is not None else "an unknown number of bytes"
        margin = f", and {keep_free / GiB:.1f} GiB must stay free" if keep_free else ""
        raise error(
            f"not enough disk space in {folder} for {what}: it claims {amount}, "
            f"{free / GiB:.1f} GiB are free{margin}",
            hint=hint,
        )


@contextmanager
def writing(target: Path, what: str) -> Iterator[None]:
    """Turn a full disk or a refused write while writing ``what`` at ``target`` into an error."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _FULL:
            raise StorageError(
                f"no space left on the disk of {target.parent} while writing {what}"
                + (f" ({exc.filename})" if exc.filename else ""),
                hint="free space there, or choose another -o directory; "
                "nothing partial was left behind",
            ) from exc
        if exc.errno in _DENIED:
            raise StorageError(
                f"cannot write {what} in {target.parent}: {exc.strerror}",
                hint="choose a writable -o directory",
            ) from exc
        raise
