"""A crate whose run failed gets no DOI, unless the publisher says so; then the
DOI's metadata states the failure."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import run_preserve
from tests.helpers import git_commit_all
from tests.rerun.analyses import CONTROLLED, make

pytestmark = [pytest.mark.docker]


def _dois(data_dir: Path) -> dict[str, dict[str, object]]:
    db = data_dir / "sandbox-dois.sqlite"
    if not db.exists():
        return {}
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT doi, attributes FROM dois").fetchall()
    return {doi: json.loads(attributes) for doi, attributes in rows}


def test_failed_run_is_not_published_without_the_flag(
    tmp_path: Path, base_image: str, isolated_dirs: Path
) -> None:
    (isolated_dirs / "config.toml").write_text('[publisher]\nname = "Test Lab"\n')
    analysis = make(
        tmp_path,
        "crashing",
        CONTROLLED,
        ["done.txt"],
        inputs="inputs:\n  mode: {path: mode.txt}\n",
        args='"{inputs.mode}", "{outdir}"',
    )
    (analysis / "mode.txt").write_text("crash")
    git_commit_all(analysis, "mode")
    crate = tmp_path / "crate"
    proc = run_preserve("capture", str(analysis), "-o", str(crate))
    assert proc.returncode == 1 and (crate / "ro-crate-metadata.json").is_file()

    proc = run_preserve("publish", str(crate))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "records a failed run (it exited with code 7" in proc.stderr
    assert "--allow-failed-run" in proc.stderr
    assert _dois(isolated_dirs / "data") == {}

    proc = run_preserve("publish", str(crate), "--allow-failed-run", "--json")
    assert proc.returncode == 0, proc.stderr
    doi = json.loads(proc.stdout)["doi"]
    descriptions = _dois(isolated_dirs / "data")[doi.lower()]["descriptions"]
    assert isinstance(descriptions, list)
    abstract = next(d for d in descriptions if d["descriptionType"] == "Abstract")
    assert abstract["description"].startswith("The recorded run failed: it exited with code 7")
