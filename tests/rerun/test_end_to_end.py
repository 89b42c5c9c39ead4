"""The promise, end to end on the embedded defaults (local OCI store, sandbox DOIs):
capture the example -> push -> publish -> remove the local image, caches and crate ->
`preserve rerun DOI` reproduces, and the rerun crate is a valid Process Run Crate."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import remove_function_containers, run_preserve
from tests.helpers import EXAMPLE, copy_analysis, offline_unverifiable, validate_crate

pytestmark = [pytest.mark.docker]


def test_capture_push_publish_forget_rerun(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    base_image: str,
    demo_data_server: str,
    isolated_dirs: Path,
) -> None:
    analysis = copy_analysis(EXAMPLE, tmp_path / "azimuthal-integration")
    crate = tmp_path / "crate"
    proc = run_preserve("capture", str(analysis), "-o", str(crate), "--json")
    assert proc.returncode == 0, proc.stderr
    image_id = json.loads(proc.stdout)["image"]["id"]

    proc = run_preserve("push", str(crate), "--json")
    assert proc.returncode == 0, proc.stderr
    pushed = json.loads(proc.stdout)
    assert pushed["crate_ref"].startswith("local:azimuthal-integration@sha256:")

    proc = run_preserve("publish", str(crate), "--json")
    assert proc.returncode == 0, proc.stderr
    published = json.loads(proc.stdout)
    doi = published["doi"]
    assert doi.startswith("10.5072/") and published["state"] == "findable"
    assert published["globally_resolvable"] is False
    again = json.loads(run_preserve("publish", str(crate), "--json").stdout)
    assert again["doi"] == doi and again["crate_ref"] == published["crate_ref"]

    resolved = json.loads(run_preserve("resolve", doi, "--json").stdout)
    assert resolved["crate_ref"] == published["crate_ref"]
    assert resolved["image_ref"] == published["image_ref"]
    assert resolved["title"] == "Azimuthal integration of powder diffraction frames"

    # Function containers (and images) of this session built on the example's image
    # would keep it: a failed functions test never undeployed them.
    remove_function_containers(tmp_path_factory.getbasetemp(), ancestor=image_id)
    removed = subprocess.run(["docker", "image", "rm", "-f", image_id], capture_output=True)
    assert removed.returncode == 0, removed.stderr.decode()
    shutil.rmtree(isolated_dirs / "cache")
    shutil.rmtree(crate)

    rerun_dir = tmp_path / "rerun"
    proc = run_preserve("rerun", doi, "-o", str(rerun_dir), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["reproduced"] is True and report["doi"] == doi
    assert {o["verdict"] for o in report["outputs"]} <= {"identical", "equivalent"}

    _, issues = validate_crate(rerun_dir, tmp_path)
    assert [i for i in issues if not offline_unverifiable(i)] == []
    graph = {
        e["@id"]: e
        for e in json.loads((rerun_dir / "ro-crate-metadata.json").read_text())["@graph"]
    }
    assert graph["./"]["isBasedOn"] == {"@id": f"https://doi.org/{doi}"}
    assert graph["#container-image"]["sha256"] == published["image_ref"].split("sha256:")[1]
