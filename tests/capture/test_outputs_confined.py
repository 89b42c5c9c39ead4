"""Outputs are regular files inside the output folder: links, FIFOs and escaping
paths are refused at capture, naming the output; a full disk under -o is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_preserve
from tests.helpers import small_filesystem
from tests.rerun.analyses import make

HOST_FILE = "/etc/hostname"

LINKED = f"""
import os, sys
out = sys.argv[1]
open(os.path.join(out, "table.csv"), "w").write("x,y\\n1,2\\n")
os.symlink("{HOST_FILE}", os.path.join(out, "result.txt"))
os.mkfifo(os.path.join(out, "pipe"))
"""

BIG = """
import os, sys
open(os.path.join(sys.argv[1], "big.bin"), "wb").write(os.urandom(2 << 20))
"""


@pytest.mark.docker
def test_symlinked_and_special_outputs_fail_the_capture_and_never_enter_the_crate(
    tmp_path: Path, base_image: str
) -> None:
    analysis = make(tmp_path, "linked-output", LINKED, ["table.csv", "result.txt"])
    crate = tmp_path / "crate"
    proc = run_preserve("capture", str(analysis), "-o", str(crate))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"result.txt (a symbolic link to {HOST_FILE})" in proc.stderr
    assert "pipe (a FIFO)" in proc.stderr
    # the failed run is recorded for debugging, with regular files only
    host = Path(HOST_FILE).read_bytes()
    for path in crate.rglob("*"):
        assert not path.is_symlink() and (path.is_dir() or path.is_file())
        assert not path.is_file() or path.name == "preserve.yaml" or host not in path.read_bytes()
    assert not (crate / "outputs" / "result.txt").exists()
    assert (crate / "outputs" / "table.csv").is_file()


@pytest.mark.parametrize("output", ["../escape.txt", "/etc/hostname", "a/../../b"])
def test_declared_output_outside_the_folder_is_refused_before_the_build(
    output: str, tmp_path: Path
) -> None:
    analysis = make(tmp_path, "escaping", LINKED, [output])
    proc = run_preserve("capture", str(analysis), "-o", str(tmp_path / "crate"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"at outputs.0: {output!r} must be a relative path inside" in proc.stderr
    assert "building" not in proc.stderr and not (tmp_path / "crate").exists()


@pytest.mark.docker
def test_full_disk_under_output_is_a_clear_error(tmp_path: Path, base_image: str) -> None:
    analysis = make(tmp_path, "big-output", BIG, ["big.bin"])
    with small_filesystem(tmp_path / "small") as small:
        proc = run_preserve("capture", str(analysis), "-o", str(small / "crate"))
        leftovers = list(small.iterdir())
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"no space left on the disk of {small} while writing the crate" in proc.stderr
    assert leftovers == []
