"""Cache locks exclude other processes and die with their holder."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from preserve.locks import exclusive, lock_path

HOLD = """
import sys, time
from pathlib import Path
from preserve.locks import exclusive
with exclusive(Path(sys.argv[1])):
    Path(sys.argv[2]).write_text("in")
    time.sleep(float(sys.argv[3]))
    Path(sys.argv[2]).write_text("out")
"""


def _holder(lock: Path, mark: Path, seconds: float) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(lock), str(mark), str(seconds)])
    while not mark.exists():
        time.sleep(0.01)
    return proc


def test_a_second_process_waits_for_the_holder(tmp_path: Path) -> None:
    lock = lock_path(tmp_path, "crate", "sha256:" + "a" * 64)
    assert lock.parent == tmp_path / "locks" and ":" not in lock.name
    mark = tmp_path / "mark"
    holder = _holder(lock, mark, 0.5)
    with exclusive(lock):
        assert mark.read_text() == "out"  # the holder finished before we got in
    assert holder.wait() == 0


def test_a_killed_holder_releases_the_lock(tmp_path: Path) -> None:
    lock, mark = tmp_path / "x.lock", tmp_path / "mark"
    holder = _holder(lock, mark, 60)
    holder.kill()
    holder.wait()
    with exclusive(lock):
        assert mark.read_text() == "in"  # it died inside, and the lock is free
