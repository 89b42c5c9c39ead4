"""Capture as a new user meets it, on an analysis the project has never seen:
a Dockerfile-based repository with an HDF5 input served over HTTP, a JSON config
and two outputs. Also the failure modes: bad manifest, missing output, crash,
dirty tree, timeout; and seeded secrets that must never reach the crate."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.conftest import run_preserve
from tests.helpers import crate_files, git_commit_all, load_graph, serve_directory

pytestmark = [pytest.mark.docker]

ENV_SECRET = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
CONFIG_SECRET = "s3cr3t-config-value-4711"

PROCESS = """
import csv, json, os, sys
import h5py, numpy as np
config_path, data_path, outdir = sys.argv[1:4]
config = json.load(open(config_path))
print("token from env:", os.environ.get("SECRET_TOKEN"))          # a careless analysis
print("token from config:", config.get("api_token"), file=sys.stderr)
with h5py.File(data_path, "r") as fh:
    signal = fh["/entry/signal"][()]
peaks = np.flatnonzero(signal > config["threshold"])
with open(os.path.join(outdir, "peaks.csv"), "w", newline="") as fh:
    w = csv.writer(fh); w.writerow(["index", "value"])
    for i in peaks: w.writerow([int(i), f"{signal[i]:.6f}"])
if config.get("write_summary", True):
    json.dump({"n_peaks": int(peaks.size), "max": float(signal.max())},
              open(os.path.join(outdir, "summary.json"), "w"))
sys.exit(config.get("exit_code", 0))
"""


@pytest.fixture
def http_data(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "server"
    (root / "run7").mkdir(parents=True)
    with h5py.File(root / "run7" / "signal.h5", "w") as fh:
        fh.create_dataset("/entry/signal", data=np.sin(np.linspace(0, 20, 500)))
    with serve_directory(root) as url:
        yield f"{url}/run7/signal.h5"


def make_analysis(tmp_path: Path, uri: str, **config_extra: object) -> Path:
    analysis = tmp_path / "peakfind"
    analysis.mkdir()
    (analysis / "process.py").write_text(PROCESS)
    (analysis / "Dockerfile").write_text(
        "FROM preserve-base:bookworm\nCOPY process.py /app/process.py\n"
    )
    config = {"threshold": 0.9, "api_token": CONFIG_SECRET, **config_extra}
    (analysis / "config.json").write_text(json.dumps(config))
    (analysis / "preserve.yaml").write_text(
        textwrap.dedent(f"""\
        name: peak-finder
        title: Peak finding in a 1D signal
        license: BSD-3-Clause
        authors: [{{name: Grace Example}}]
        command: [python3, /app/process.py, "{{config}}", "{{inputs.signal}}", "{{outdir}}"]
        config: config.json
        inputs:
          signal: {{uri: "{uri}"}}
        outputs: [peaks.csv, summary.json]
        env: [SECRET_TOKEN, MODE=fast]
        """)
    )
    git_commit_all(analysis)
    return analysis


def capture_cli(analysis: Path, out: Path, *extra: str):  # type: ignore[no-untyped-def]
    return run_preserve(
        "capture", str(analysis), "-o", str(out), "--json", *extra, env={"SECRET_TOKEN": ENV_SECRET}
    )


URI_SECRET = "MDAxY2xvY2F0aW9uIE9wdGlvbmFsLmVtcHR5CjAwMThpZGVudGlmaWVyIHNlY3JldAo"


def test_unseen_analysis_captured(tmp_path: Path, base_image: str, http_data: str) -> None:
    analysis = make_analysis(tmp_path, f"{http_data}?authz={URI_SECRET}")
    proc = capture_cli(analysis, tmp_path / "crate")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == "completed"
    assert {o["path"] for o in report["outputs"]} == {"peaks.csv", "summary.json"}
    assert report["image"]["id"].startswith("sha256:")
    crate = Path(report["crate"])
    g = load_graph(crate)
    action = g[g["./"]["mentions"]["@id"]]
    assert f"{http_data}?authz=***" in {o["@id"] for o in action["object"]}
    assert json.loads((crate / "outputs" / "summary.json").read_text())["n_peaks"] > 0
    assert g["#env-MODE"]["value"] == "fast"
    # seeded secrets never appear in any file of the crate
    for path in crate_files(crate):
        data = path.read_bytes()
        assert ENV_SECRET.encode() not in data, path
        assert CONFIG_SECRET.encode() not in data, path
        assert URI_SECRET.encode() not in data, path
    assert g["#env-SECRET_TOKEN"]["value"] == "<withheld by preserve>"
    config = json.loads((crate / "analysis" / "config.json").read_text())
    assert config["api_token"] == "<withheld by preserve>" and config["threshold"] == 0.9
    assert "api_token" in g["analysis/config.json"]["description"]
    # ...though the run itself saw them (the analysis printed them; the logs are scrubbed)
    assert "token from env: <withheld by preserve>" in (crate / "logs" / "stdout.txt").read_text()


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("inputs:\n  frames: {}\n", "at inputs.frames: give exactly one of 'uri' or 'path'"),
        ("name: Bad_Name\n", "at name: 'Bad_Name' is not valid"),
        ("comand: [x]\n", "unknown key"),
        ("outputs: []\n", "at outputs"),
        ("command: [run, '{inputs.nope}']\n", "{inputs.nope} names no declared input"),
    ],
)
def test_bad_manifest_is_one_line_error(tmp_path: Path, yaml_text: str, expected: str) -> None:
    base = {"name": "ok", "title": "t", "command": ["true"], "outputs": ["a"]}
    analysis = tmp_path / "a"
    analysis.mkdir()
    import yaml

    data = {**base, **yaml.safe_load(yaml_text)}
    (analysis / "preserve.yaml").write_text(yaml.safe_dump(data))
    proc = run_preserve("capture", str(analysis), "-o", str(tmp_path / "c"))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first.startswith("error: ") and "preserve.yaml" in first and expected in first, first
    assert not (tmp_path / "c").exists()


def test_missing_output_fails_clearly(tmp_path: Path, base_image: str, http_data: str) -> None:
    analysis = make_analysis(tmp_path, http_data, write_summary=False)
    proc = capture_cli(analysis, tmp_path / "crate")
    assert proc.returncode == 1
    assert "declared outputs missing after the run: summary.json" in proc.stderr
    g = load_graph(tmp_path / "crate")
    action = g[g["./"]["mentions"]["@id"]]
    assert action["actionStatus"] == "http://schema.org/FailedActionStatus"
    assert "summary.json" in action["error"]


def test_crash_leaves_failed_crate_with_stderr_tail(
    tmp_path: Path, base_image: str, http_data: str
) -> None:
    analysis = make_analysis(tmp_path, http_data, exit_code=3)
    proc = capture_cli(analysis, tmp_path / "crate")
    assert proc.returncode == 1
    assert "exited with code 3" in proc.stderr
    assert "token from config: <withheld by preserve>" in proc.stderr  # tail, scrubbed
    assert CONFIG_SECRET not in proc.stderr
    g = load_graph(tmp_path / "crate")
    action = g[g["./"]["mentions"]["@id"]]
    assert action["actionStatus"] == "http://schema.org/FailedActionStatus"


def test_dirty_tree_refused_then_recorded(tmp_path: Path, base_image: str, http_data: str) -> None:
    analysis = make_analysis(tmp_path, http_data)
    (analysis / "process.py").write_text(PROCESS + "\n# tweak\n")
    proc = capture_cli(analysis, tmp_path / "crate")
    assert proc.returncode == 1
    assert "uncommitted changes" in proc.stderr and "--allow-dirty" in proc.stderr
    proc = capture_cli(analysis, tmp_path / "crate", "--allow-dirty")
    assert proc.returncode == 0, proc.stderr
    crate = tmp_path / "crate"
    assert "+# tweak" in (crate / "analysis.diff").read_text()
    assert load_graph(crate)["#git-dirty"]["value"] == "true"


def test_existing_output_is_not_overwritten(tmp_path: Path) -> None:
    analysis = tmp_path / "a"
    analysis.mkdir()
    (analysis / "preserve.yaml").write_text("name: a\ntitle: t\ncommand: [x]\noutputs: [o]\n")
    target = tmp_path / "precious"
    target.mkdir()
    (target / "keep.txt").write_text("data")
    proc = run_preserve("capture", str(analysis), "-o", str(target))
    assert proc.returncode == 1 and "already exists" in proc.stderr
    assert (target / "keep.txt").read_text() == "data"


def test_prebuilt_image_and_timeout(tmp_path: Path, base_image: str) -> None:
    analysis = tmp_path / "sleepy"
    analysis.mkdir()
    (analysis / "preserve.yaml").write_text(
        textwrap.dedent(f"""\
        name: sleepy
        title: An analysis that hangs
        environment: {{builder: image, image: "{base_image}"}}
        command: [python3, -c, "import time,sys; print('starting',file=sys.stderr); time.sleep(60)"]
        outputs: [never.txt]
        resources: {{timeout: 2}}
        """)
    )
    git_commit_all(analysis)
    proc = run_preserve("capture", str(analysis), "-o", str(tmp_path / "crate"))
    assert proc.returncode == 1
    assert "exceeded the time limit of 2 s" in proc.stderr
    assert "starting" in proc.stderr
    g = load_graph(tmp_path / "crate")
    image = g["#container-image"]
    assert image["name"] == "preserve-base" and image["tag"] == "bookworm"


def test_other_repo2docker_conventions_are_honoured(tmp_path: Path, base_image: str) -> None:
    """A requirements.txt analysis goes to repo2docker's Python buildpack. Its buildpacks
    start FROM buildpack-deps on Docker Hub, which this machine cannot reach: the failure
    names the buildpack, the image and what to do, without a traceback."""
    analysis = tmp_path / "reqs"
    analysis.mkdir()
    (analysis / "requirements.txt").write_text("numpy\n")
    (analysis / "preserve.yaml").write_text(
        "name: reqs\ntitle: t\nlicense: MIT\ncommand: [python, x.py]\noutputs: [x]\n"
        "environment: {base_image: '127.0.0.1:9/buildpack-deps:24.04'}\n"
    )
    git_commit_all(analysis)
    proc = run_preserve("capture", str(analysis), "-o", str(tmp_path / "crate"))
    assert proc.returncode == 1
    assert "PythonBuildPack" in proc.stderr
    assert "127.0.0.1:9/buildpack-deps:24.04" in proc.stderr
    assert "environment.base_image" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "crate").exists()
