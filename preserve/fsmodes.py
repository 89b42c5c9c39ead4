"""The modes the user's umask gives new files and folders, for files made another way.

``tempfile.mkstemp`` creates 0600 files and ``mkdtemp`` 0700 folders, whatever
the umask; a crate written through them would be private to its writer. What
the toolkit hands over (crates, pulled crates, outputs) gets the modes a plain
``open``/``mkdir`` would have given it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def umask() -> int:
    """The process's umask, read without changing it where the kernel reports it."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)  # elsewhere: read by setting, and put back at once
    os.umask(current)
    return current


def file_mode(*, executable: bool = False) -> int:
    return (0o777 if executable else 0o666) & ~umask()


def dir_mode() -> int:
    return 0o777 & ~umask()


def normalize(path: Path) -> None:
    """Give ``path`` (not a symlink) the mode a new file or folder would get here."""
    st = path.lstat()
    if stat.S_ISDIR(st.st_mode):
        path.chmod(dir_mode())
    elif stat.S_ISREG(st.st_mode):
        path.chmod(file_mode(executable=bool(st.st_mode & stat.S_IXUSR)))
