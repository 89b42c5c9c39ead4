"""Tolerances: flags, else the crate's, else the defaults; and 0 is a tolerance, not "unset"."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from preserve.fsmodes import dir_mode, file_mode
from preserve.rerun import DEFAULT_ATOL, DEFAULT_RTOL, tolerances
from tests.conftest import run_preserve
from tests.rerun.analyses import EQUIVALENT, make


def test_zero_in_the_crate_is_kept() -> None:
    assert tolerances({"rtol": 0, "atol": 0}, None, None) == (0.0, 0.0)
    assert tolerances({"rtol": 0.0, "atol": 1e-3}, None, None) == (0.0, 1e-3)


def test_flags_win_and_defaults_fill_in() -> None:
    assert tolerances({"rtol": 0.5, "atol": 0.5}, 0.0, 0.0) == (0.0, 0.0)
    assert tolerances({"rtol": None, "atol": None}, None, None) == (DEFAULT_RTOL, DEFAULT_ATOL)
    assert tolerances(None, None, 2.0) == (DEFAULT_RTOL, 2.0)


@pytest.mark.docker
def test_rerun_uses_the_manifests_zero_tolerance(tmp_path: Path, base_image: str) -> None:
    analysis = make(
        tmp_path,
        "exact",
        EQUIVALENT,
        ["result.h5", "summary.txt"],
        extra="tolerance: {rtol: 0, atol: 0}\n",
    )
    crate = tmp_path / "crate"
    proc = run_preserve("capture", str(analysis), "-o", str(crate), "--json")
    assert proc.returncode == 0, proc.stderr
    # The crate is written with the modes the umask gives, owned by the one who captured it.
    for path in (crate, *crate.rglob("*")):
        st = path.lstat()
        assert st.st_uid == os.geteuid(), path
        want = dir_mode() if path.is_dir() else file_mode(executable=bool(st.st_mode & 0o100))
        assert stat.S_IMODE(st.st_mode) == want, path

    proc = run_preserve("rerun", str(crate), "-o", str(tmp_path / "rerun"), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    manifest = "the author's manifest"
    assert report["tolerance"] == {
        "rtol": 0.0,
        "atol": 0.0,
        "source": {"rtol": manifest, "atol": manifest},
    }
    assert report["reproduced"] is True  # the same numbers: equal even with no tolerance
