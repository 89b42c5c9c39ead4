"""`preserve compare A B` on real crates, and the report in every rerun crate.

Two captures of one analysis (the same code and image) on two inputs, and a
rerun of the first: the rerun crate of A against A reproduces, B (another peak
position) against A does not, and the report shows where (NeXus profile, CSV,
2D map, text). Invocation crates of a deployed function: tests/functions/test_compare.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from preserve.capture import capture
from preserve.schemas import validator
from preserve.settings import Settings
from tests.conftest import run_preserve
from tests.helpers import git_commit_all, offline_unverifiable, validate_crate
from tests.rerun.analyses import make

pytestmark = [pytest.mark.docker]

# A diffraction-like profile: a NeXus NXdata group, a CSV copy, and a 2D map; the
# peak position is the input. Noise at 1e-12 relative makes reruns equivalent, not
# identical.
PROFILE = """
import os, sys, h5py, numpy as np
centre = float(open(sys.argv[1]).read()); out = sys.argv[2]
q = np.linspace(0.5, 5, 2000)
noise = 1 + 1e-12 * np.random.default_rng().standard_normal(q.size)
intensity = (np.exp(-((q - centre) ** 2) / 0.01) + 0.1) * noise
with h5py.File(os.path.join(out, "profile.h5"), "w") as fh:
    g = fh.create_group("entry/profile"); g.attrs["NX_class"] = "NXdata"
    g.attrs["signal"] = "intensity"; g.attrs["axes"] = "q"
    g["q"] = q; g["q"].attrs["units"] = "1/angstrom"; g["intensity"] = intensity
    yy, xx = np.mgrid[0:300, 0:200]
    fh["entry/detector"] = np.exp(-((xx - 40 * centre) ** 2 + (yy - 150) ** 2) / 400.0)
with open(os.path.join(out, "profile.csv"), "w") as fh:
    fh.write("q,intensity\\n" + "".join(f"{a:.17g},{b:.17g}\\n" for a, b in zip(q, intensity)))
open(os.path.join(out, "notes.txt"), "w").write(f"peak near {centre:.2f}\\n")
"""
OUTPUTS = ["profile.h5", "profile.csv", "notes.txt"]


def _crate(tmp_path: Path, name: str, centre: str) -> Path:
    analysis = make(
        tmp_path,
        name,
        PROFILE,
        OUTPUTS,
        inputs="inputs:\n  centre: {path: centre.txt}\n",
        extra="tolerance: {rtol: 1.0e-9}\n",
        args='"{inputs.centre}", "{outdir}"',
        commit=False,
    )
    (analysis / "centre.txt").write_text(centre)
    git_commit_all(analysis)
    capture(analysis, settings=Settings.load(), output=tmp_path / f"{name}-crate")
    return tmp_path / f"{name}-crate"


def test_rerun_crate_carries_the_report_and_compare_tells_runs_apart(
    tmp_path: Path, base_image: str
) -> None:
    a = _crate(tmp_path, "beamtime-a", "2.0")
    rerun = tmp_path / "rerun"
    copy = tmp_path / "rerun-report.html"
    proc = run_preserve("rerun", str(a), "-o", str(rerun), "--report", str(copy))
    assert proc.returncode == 0, proc.stderr
    assert "reproduced" in proc.stdout and "|relative residual|" in proc.stdout
    assert "report: " in proc.stdout and copy.is_file()
    # the report is in the crate, linked from the preview, its plots about the outputs
    page = (rerun / "report.html").read_text()
    assert "reproduced" in page and 'src="report/' in page
    assert 'href="report.html"' in (rerun / "ro-crate-preview.html").read_text()
    assert "data:image/png;base64," in copy.read_text()
    graph = {
        e["@id"]: e for e in json.loads((rerun / "ro-crate-metadata.json").read_text())["@graph"]
    }
    plots = [e for i, e in graph.items() if i.startswith("report/")]
    assert {p["about"]["@id"] for p in plots} == {"outputs/profile.h5", "outputs/profile.csv"}
    assert all((rerun / p["@id"]).is_file() and p["encodingFormat"] == "image/png" for p in plots)
    assert {"@id": "report.html"} in graph["./"]["hasPart"]
    # the report adds no issue at the recommended level: the rerun crate has only those
    # of the test analysis's own crate (no code URL, no affiliation: a bare test author)
    assert _issues(rerun, tmp_path) == _issues(a, tmp_path)

    # the rerun against its original: reproduced, the same JSON shape as rerun's outputs
    proc = run_preserve("compare", str(a), str(rerun), "--json")
    assert proc.returncode == 0, proc.stderr
    same = json.loads(proc.stdout)
    assert same["reproduced"] is True
    assert same["tolerance"]["source"] == {"rtol": "the author's manifest", "atol": "default"}
    output_schema = validator("rerun-report").schema["properties"]["outputs"]
    assert (
        list(validator("rerun-report").evolve(schema=output_schema).iter_errors(same["outputs"]))
        == []
    )

    # another input: different, and the report shows where
    b = _crate(tmp_path, "beamtime-b", "2.5")
    report = tmp_path / "a-vs-b.html"
    proc = run_preserve("compare", str(a), str(b), "--report", str(report), "--rtol", "1e-6")
    assert proc.returncode == 3, proc.stderr
    assert "not reproduced" in proc.stderr and "profile.h5" in proc.stderr
    html = report.read_text()
    assert "NOT reproduced" in html and "rtol 1e-06 (command line)" in html
    assert "/entry/profile/intensity" in html and "/entry/detector" in html
    assert "q (1/angstrom)" in html  # the NeXus axis
    assert '<span class="del">-peak near 2.00</span>' in html


def _issues(crate: Path, tmp: Path) -> set[tuple[str, str]]:
    _, issues = validate_crate(crate, tmp)
    return {
        (i["message"], i.get("violatingEntity") or "")
        for i in issues
        if not offline_unverifiable(i)
    }


def test_compare_refuses_a_report_path_it_cannot_write(tmp_path: Path) -> None:
    proc = run_preserve(
        "compare", str(tmp_path), str(tmp_path), "--report", str(tmp_path / "no" / "r.html")
    )
    assert proc.returncode == 1
    assert "its directory does not exist" in proc.stderr and "Traceback" not in proc.stderr
