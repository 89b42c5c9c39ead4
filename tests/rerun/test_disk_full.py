"""A full disk under `rerun -o` is a clear error, and nothing partial stays there."""

from __future__ import annotations

from pathlib import Path

import pytest

from preserve.capture import capture
from preserve.settings import Settings
from tests.capture.test_outputs_confined import BIG
from tests.conftest import run_preserve
from tests.helpers import small_filesystem
from tests.rerun.analyses import make

pytestmark = [pytest.mark.docker]


def test_full_disk_under_output_is_a_clear_error(tmp_path: Path, base_image: str) -> None:
    crate = tmp_path / "crate"
    capture(make(tmp_path, "big-output", BIG, ["big.bin"]), settings=Settings.load(), output=crate)
    with small_filesystem(tmp_path / "small") as small:
        proc = run_preserve("rerun", str(crate), "-o", str(small / "rerun"))
        leftovers = list(small.iterdir())
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"no space left on the disk of {small} while writing the rerun crate" in proc.stderr
    assert leftovers == []
