"""Publishing a crate that is already in a registry, by reference, on a machine that
does not have its image: nothing is pushed again, the DOI pins what is there."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Registry, run_preserve
from tests.rerun.analyses import EQUIVALENT, make

pytestmark = [pytest.mark.docker, pytest.mark.registry]


def test_publish_by_reference_without_the_local_image(
    tmp_path: Path, base_image: str, registry: Registry
) -> None:
    analysis = make(tmp_path, "byref", EQUIVALENT, ["result.h5", "summary.txt"])
    proc = run_preserve("capture", str(analysis), "-o", str(tmp_path / "crate"), "--json")
    assert proc.returncode == 0, proc.stderr
    image_id = json.loads(proc.stdout)["image"]["id"]
    target = f"{registry.host}/lab/byref:2.0"
    proc = run_preserve("push", str(tmp_path / "crate"), "--to", target, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr  # a failure is JSON on stdout too
    pushed = json.loads(proc.stdout)
    subprocess.run(["docker", "image", "rm", "-f", image_id], check=True, capture_output=True)

    proc = run_preserve("publish", f"{target}-crate", "--json")
    assert proc.returncode == 1  # the test analysis names no affiliation, and no publisher is set
    assert "set [publisher] name (and ror) in the config" in proc.stderr
    env = {"PRESERVE_PUBLISHER": "Test Lab"}
    proc = run_preserve("publish", f"{target}-crate", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["image_ref"] == pushed["image_ref"]
    assert out["crate_ref"].startswith(f"{registry.host}/lab/byref@sha256:")
    assert out["crate_ref"] != pushed["crate_ref"]  # the crate now carries its DOI
    pulled = tmp_path / "pulled"
    assert run_preserve("pull", out["crate_ref"], "-o", str(pulled), env=env).returncode == 0
    graph = {
        e["@id"]: e for e in json.loads((pulled / "ro-crate-metadata.json").read_text())["@graph"]
    }
    assert graph["./"]["identifier"] == f"https://doi.org/{out['doi']}"
    again = json.loads(run_preserve("publish", out["crate_ref"], "--json", env=env).stdout)
    assert again["doi"] == out["doi"]
