"""Reruns that reproduce in data but not in bytes, and reruns whose numbers change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from preserve.capture import capture
from preserve.schemas import validator
from preserve.settings import Settings
from tests.conftest import run_preserve
from tests.rerun.analyses import CONTROLLED, DIFFERENT, EQUIVALENT, make

pytestmark = [pytest.mark.docker]


def test_hdf5_bytes_differ_data_equal_is_equivalent(tmp_path: Path, base_image: str) -> None:
    analysis = make(tmp_path, "stamped", EQUIVALENT, ["result.h5", "summary.txt"])
    capture(analysis, settings=Settings.load(), output=tmp_path / "crate")
    proc = run_preserve("rerun", str(tmp_path / "crate"), "-o", str(tmp_path / "rerun"), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert list(validator("rerun-report").iter_errors(report)) == []
    assert report["reproduced"] is True
    verdicts = {o["path"]: o for o in report["outputs"]}
    assert verdicts["summary.txt"]["verdict"] == "identical"
    h5 = verdicts["result.h5"]
    assert h5["verdict"] == "equivalent"
    assert h5["max_abs"] == 0.0
    assert "run_id" in json.dumps(h5["attribute_differences"])
    # the table on a terminal-less run says the same
    proc = run_preserve("rerun", str(tmp_path / "crate"), "-o", str(tmp_path / "rerun2"))
    assert proc.returncode == 0
    assert "equivalent" in proc.stdout and "reproduced" in proc.stdout


def test_numbers_beyond_tolerance_are_different_with_location(
    tmp_path: Path, base_image: str
) -> None:
    analysis = make(tmp_path, "montecarlo", DIFFERENT, ["result.h5", "result.json"])
    capture(analysis, settings=Settings.load(), output=tmp_path / "crate")
    page = tmp_path / "report.html"
    crate, rerun = str(tmp_path / "crate"), str(tmp_path / "rerun")
    proc = run_preserve("rerun", crate, "-o", rerun, "--json", "--report", str(page))
    assert proc.returncode == 3, proc.stderr
    # the report (written once the rerun crate is complete) shows the JSON diff
    assert '<span class="del">- &quot;pi&quot;: ' in page.read_text()
    assert "not reproduced" in proc.stderr
    report = json.loads(proc.stdout)
    assert list(validator("rerun-report").iter_errors(report)) == []
    assert report["reproduced"] is False
    h5 = next(o for o in report["outputs"] if o["path"] == "result.h5")
    assert h5["verdict"] == "different"
    locations = " ".join(d["location"] for d in h5["differences"])
    assert "/entry/pi_estimate" in locations or "/entry/histogram" in locations
    assert h5["differences"][0]["expected"] and h5["differences"][0]["actual"]
    js = next(o for o in report["outputs"] if o["path"] == "result.json")
    assert js["verdict"] == "different" and "pi" in js["differences"][0]["location"]
    # the rerun crate records the verdicts and links to the original
    doc = json.loads((tmp_path / "rerun" / "ro-crate-metadata.json").read_text())
    graph = {e["@id"]: e for e in doc["@graph"]}
    verdict = graph["#verdict-result-h5"]
    assert verdict["value"] == "different"
    # a loose enough tolerance makes the same outputs equivalent
    proc = run_preserve(
        "rerun",
        str(tmp_path / "crate"),
        "-o",
        str(tmp_path / "loose"),
        "--rtol",
        "1",
        "--atol",
        "1e6",
        "--json",
    )
    report = json.loads(proc.stdout)
    assert {o["verdict"] for o in report["outputs"]} <= {"equivalent", "identical"}
    assert proc.returncode == 0


def _controlled(tmp_path: Path, mode: str) -> Path:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "mode.txt").write_text(mode)
    analysis = make(
        tmp_path,
        "controlled",
        CONTROLLED,
        ["done.txt"],
        inputs="inputs:\n  mode: {path: mode.txt}\n",
        extra="resources: {memory: 256m}\n",
        args='"{inputs.mode}", "{outdir}"',
    )
    (analysis / "mode.txt").write_text(mode)
    from tests.helpers import git_commit_all

    git_commit_all(analysis, "mode")
    capture(analysis, settings=Settings.load(), output=tmp_path / "crate")
    return tmp_path / "crate"


def test_crash_oom_timeout_end_rerun_with_exit_1(tmp_path: Path, base_image: str) -> None:
    crate = _controlled(tmp_path, "sleep 2")
    new = tmp_path / "new"
    new.mkdir()
    proc = run_preserve("rerun", str(crate), "-o", str(tmp_path / "r1"), "--timeout", "0.5")
    assert proc.returncode == 1
    assert "exceeded the time limit of 0.5 s" in proc.stderr
    (new / "crash.txt").write_text("crash")
    proc = run_preserve(
        "rerun", str(crate), "-o", str(tmp_path / "r2"), "--input", f"mode={new / 'crash.txt'}"
    )
    assert proc.returncode == 1
    assert "exited with code 7" in proc.stderr and "bad calibration" in proc.stderr
    (new / "oom.txt").write_text("oom")
    proc = run_preserve(
        "rerun", str(crate), "-o", str(tmp_path / "r3"), "--input", f"mode={new / 'oom.txt'}"
    )
    assert proc.returncode == 1
    assert "ran out of memory (limit 256m)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_new_data_runs_without_comparison(tmp_path: Path, base_image: str) -> None:
    crate = _controlled(tmp_path, "sleep 0")
    new = tmp_path / "next-beamtime.txt"
    new.write_text("sleep 0.1")
    proc = run_preserve(
        "rerun", str(crate), "-o", str(tmp_path / "r"), "--json", "--input", f"mode={new.as_uri()}"
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert list(validator("rerun-report").iter_errors(report)) == []
    assert report["new_data"] is True and report["reproduced"] is None and report["outputs"] == []
    assert (tmp_path / "r" / "outputs" / "done.txt").read_text() == "sleep 0.1\n"
    graph = {
        e["@id"]: e
        for e in json.loads((tmp_path / "r" / "ro-crate-metadata.json").read_text())["@graph"]
    }
    assert new.as_uri() in graph
    proc = run_preserve("rerun", str(crate), "--input", "nope=file:///x")
    assert proc.returncode == 1 and "unknown input" in proc.stderr
