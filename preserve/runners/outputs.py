"""Outputs are regular files inside the output folder, and nothing else.

The container writes the output folder, so what it leaves there is untrusted:
a symbolic link would make capture record (and push) a host file, or make a
rerun compare a host file with itself; a FIFO would hang the hashing. Such
entries are removed (removing a link never touches its target) and reported.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath


def path_problem(rel: str) -> str | None:
    """Why a declared output path does not name a place inside the output folder."""
    path = PurePosixPath(rel)
    if not rel or "\x00" in rel or "\\" in rel or path.is_absolute():
        return "is not a relative path"
    if any(part in ("..", ".") for part in rel.split("/")) or rel.endswith("/"):
        return "is not a plain path inside the output folder (no '.', '..' or trailing '/')"
    return None


def remove_unsafe(outdir: Path) -> list[str]:
    """Remove links, FIFOs, sockets and devices under ``outdir``; describe each one."""
    found: list[str] = []
    stack = [outdir]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            found.append(f"{folder.relative_to(outdir).as_posix()}/ (unreadable: {exc.strerror})")
            continue
        for entry in entries:
            rel = Path(entry.path).relative_to(outdir).as_posix()
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                stack.append(Path(entry.path))
            elif not stat.S_ISREG(mode):
                found.append(f"{rel} ({_kind(Path(entry.path), mode)})")
                os.unlink(entry.path)
    return sorted(found)


def _kind(path: Path, mode: int) -> str:
    if stat.S_ISLNK(mode):
        return f"a symbolic link to {os.readlink(path)}"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device file"
