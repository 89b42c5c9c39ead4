"""The run's outputs folder: writable by the container's user during the run, ours after.

Images often run as a user of their own (repo2docker's is uid 1000), who cannot
write to a folder of the invoking user with normal modes. So the folder is
world-writable during the run, but it sits in a private (0700) folder that no
other user of the host can enter. After the run, what the container wrote is
made the invoking user's, with the modes their umask gives: taken over
(``lchown``) when preserve runs as root, otherwise each file is replaced by a
copy of the invoking user's own (a folder the container created and that only
it may write stays as it is: without privileges nobody else can change it).
Symbolic links are never followed.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from preserve.fsmodes import normalize


@contextmanager
def run_outdir(final: Path) -> Iterator[Path]:
    """An outputs folder for the run, moved to ``final`` (ours) when the block ends."""
    private = Path(tempfile.mkdtemp(prefix=".run-", dir=final.parent))  # 0700
    outdir = private / final.name
    try:
        outdir.mkdir()
        outdir.chmod(0o777)  # the image may run as another user; see the module docstring
        yield outdir
        reclaim(outdir)
        outdir.rename(final)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def reclaim(root: Path) -> None:
    """Make what is under ``root`` the invoking user's, with normal modes."""
    as_root = os.geteuid() == 0
    for dirpath, dirnames, filenames in os.walk(root):  # never follows symlinks
        here = Path(dirpath)
        if not _take(here, as_root):
            dirnames.clear()  # a folder we cannot take: leave its content as well
            continue
        for name in filenames:
            _take(here / name, as_root)


def _take(path: Path, as_root: bool) -> bool:
    """Own ``path`` and give it a normal mode; False when that is impossible here."""
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        return False
    if st.st_uid != os.geteuid():
        if as_root:
            os.lchown(path, os.geteuid(), os.getegid())
        elif stat.S_ISREG(st.st_mode):
            return _replace_by_copy(path, st)
        else:
            return False
    normalize(path)
    return True


def _replace_by_copy(path: Path, st: os.stat_result) -> bool:
    tmp = path.with_name(f".{path.name}.reclaim")
    try:
        shutil.copyfile(path, tmp, follow_symlinks=False)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        return False
    if st.st_mode & stat.S_IXUSR:
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    normalize(path)
    return True
