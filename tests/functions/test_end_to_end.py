"""The promise of functions, end to end on the embedded defaults: capture the example ->
push -> publish -> ``deploy DOI --to local`` -> ``invoke`` on a *new* input served by the
dCache test server, outputs PUT back to it -> the invocation crate passes the community
validator (recommended, online) and ``preserve rerun`` of it reproduces."""

from __future__ import annotations

import io
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from preserve.progress import QUIET
from preserve.rerun.remote import fetch_crate
from tests.conftest import run_preserve
from tests.functions.conftest import home_settings
from tests.helpers import EXAMPLE, copy_analysis, validate_crate
from tests.servers.dcache import DcacheServer

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def new_frames(seed: int) -> bytes:
    """A new scan: other rings, other noise, the example's layout."""
    rng = np.random.default_rng(seed)
    y, x = np.indices((256, 256))
    r = np.hypot(x + 0.5 - 128, y + 0.5 - 128)
    image = 50 + 2000 / (1 + r) + 700 * np.exp(-0.5 * ((r - 50) / 1.5) ** 2)
    frames = rng.poisson(np.broadcast_to(image, (5, 256, 256))).astype(np.uint16)
    buf = io.BytesIO()
    with h5py.File(buf, "w", track_times=False) as fh:
        fh.create_dataset("entry/data/frames", data=frames, track_times=False)
    return buf.getvalue()


def test_publish_deploy_invoke_validate_rerun(
    tmp_path: Path,
    base_image: str,
    demo_data_server: str,
    storage: DcacheServer,
    folder: str,
    isolated_dirs: Path,
) -> None:
    analysis = copy_analysis(EXAMPLE, tmp_path / "azimuthal-integration")
    crate = tmp_path / "crate"
    for args in (("capture", str(analysis), "-o", str(crate)), ("push", str(crate))):
        proc = run_preserve(*args, "--json")
        assert proc.returncode == 0, proc.stderr
    proc = run_preserve("publish", str(crate), "--json")
    assert proc.returncode == 0, proc.stderr
    doi = json.loads(proc.stdout)["doi"]

    proc = run_preserve("deploy", doi, "--to", "local", "--name", "azint", "--json")
    assert proc.returncode == 0, proc.stderr
    deployed = json.loads(proc.stdout)
    assert deployed["function"] == doi and deployed["target"] == "local"
    assert set(deployed) >= {"image_ref", "image_digest", "base_image_digest", "endpoint_id"}

    try:
        storage.put(f"{folder}/scan43/frames.h5", new_frames(43))
        source = storage.url(f"{folder}/scan43/frames.h5")
        out = storage.url(f"{folder}/results/scan43/", "dav")
        proc = run_preserve(
            "invoke", "azint", "--input", f"frames={source}", "--output-to", out, "--json"
        )
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert result["status"] == "completed" and result["function"] == doi
        assert set(result["outputs"]) == {"profile.csv", "profile.h5"}
        put = storage.files[f"{folder}/results/scan43/outputs/profile.h5"]
        assert result["outputs"]["profile.h5"]["size"] == len(put.data)

        local = fetch_crate(result["crate"], home_settings(isolated_dirs), QUIET)
        code, issues = validate_crate(local, tmp_path, online=True)
        assert issues == [] and code == 0, issues
        graph = {
            e["@id"]: e
            for e in json.loads((local / "ro-crate-metadata.json").read_text())["@graph"]
        }
        assert graph["./"]["isBasedOn"] == {"@id": f"https://doi.org/{doi}"}
        assert len(graph[source]["sha256"]) == 64 and graph[source]["contentSize"]
        assert "#function-image" in graph and graph["#container-image"]["sha256"]

        proc = run_preserve("rerun", result["crate"], "-o", str(tmp_path / "rerun"), "--json")
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        assert report["reproduced"] is True
        assert {o["verdict"] for o in report["outputs"]} <= {"identical", "equivalent"}

    finally:  # the function image must not keep the example's image from being removed
        undeployed = run_preserve("undeploy", "azint")
    assert undeployed.returncode == 0, undeployed.stderr
    listed = json.loads(run_preserve("functions", "--json").stdout)
    assert "azint" not in [f["name"] for f in listed]
    from preserve.engine import docker_client

    names = [t for i in docker_client().images.list() for t in i.tags]
    assert deployed["image_ref"] not in names  # undeploy removed the function image
