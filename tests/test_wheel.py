"""The wheel works without the repository around it; schemas come from the wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_wheel_runs_outside_checkout(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        check=True,
    )
    (wheel,) = dist.glob("preserve-*.whl")
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    assert (target / "preserve" / "_schemas" / "manifest.schema.json").is_file()
    # Only the installed wheel and the dependencies: not the checkout.
    deps = sysconfig.get_paths()["purelib"]
    env = {**os.environ, "PYTHONPATH": f"{target}{os.pathsep}{deps}"}
    code = (
        "import preserve, preserve.schemas as s, sys;"
        "assert 'site' in preserve.__file__, preserve.__file__;"
        "assert s._schema_text('manifest').startswith('{');"
        "from preserve.cli import main; sys.argv=['preserve','--version']; main()"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path[:0]={[str(target), deps]!r}; {code}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert "preserve, version" in out.stdout
    helped = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path[:0]={[str(target), deps]!r};"
            "from preserve.cli import main; sys.argv=['preserve','--help']; main()",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert helped.returncode == 0 and "doctor" in helped.stdout
