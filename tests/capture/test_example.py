"""Capture of the example analysis in crates/: a valid, complete Process Run Crate."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from preserve.capture import capture
from preserve.settings import Settings
from tests.helpers import (
    EXAMPLE,
    FACILITY_DATA,
    copy_analysis,
    git_head,
    load_graph,
    offline_unverifiable,
    validate_crate,
)

pytestmark = [pytest.mark.docker]


@pytest.fixture(scope="module")
def example_crate(
    tmp_path_factory: pytest.TempPathFactory, base_image: str, demo_data_server: str
) -> tuple[Path, str, object]:
    work = tmp_path_factory.mktemp("example")
    analysis = copy_analysis(EXAMPLE, work / "azimuthal-integration")
    commit = git_head(analysis)
    settings = Settings.load()
    result = capture(
        analysis, settings=settings, output=work / "crate", environ={"OMP_NUM_THREADS": "2"}
    )
    return work / "crate", commit, result


def test_example_crate_validates(example_crate, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    crate, _, _ = example_crate
    _, issues = validate_crate(crate, tmp_path)
    required = [i for i in issues if i.get("severity") == "REQUIRED"]
    assert required == []
    # Every RECOMMENDED issue left is the availability of the http input, which the
    # offline validator cannot check (see offline_unverifiable); nothing else.
    others = [i for i in issues if not offline_unverifiable(i)]
    assert others == [], json.dumps(others, indent=1)
    code_required, _ = validate_crate(crate, tmp_path, level="required")
    assert code_required == 0


def test_example_crate_records_everything(example_crate) -> None:  # type: ignore[no-untyped-def]
    crate, commit, result = example_crate
    g = load_graph(crate)
    root = g["./"]
    action = g[root["mentions"]["@id"]]
    assert action["actionStatus"] == "http://schema.org/CompletedActionStatus"
    assert action["description"].startswith("Command: python3 /opt/azint/integrate.py")
    # the code: git commit recorded, instrument with version and repository
    instrument = g[action["instrument"]["@id"]]
    assert instrument["version"] == "1.0.0"
    assert g["#git-commit"]["value"] == commit
    assert g["#git-dirty"]["value"] == "false"
    # the image: ID recorded, DockerImage as an IRI, repo2docker named
    image = g[action["containerImage"]["@id"]]
    assert image["additionalType"] == {"@id": "https://w3id.org/ro/terms/workflow-run#DockerImage"}
    assert image["identifier"] == result.image.image_id
    assert "repo2docker" in image["description"] and "DockerBuildPack" in image["description"]
    # the remote input: referenced by URI, not copied, with the server's bytes' checksum
    frames_uri = "http://127.0.0.1:8765/scan42/frames.h5"
    frames = g[frames_uri]
    served = (FACILITY_DATA / "scan42" / "frames.h5").read_bytes()
    assert frames["sha256"] == hashlib.sha256(served).hexdigest()
    assert frames["contentSize"] == str(len(served))
    assert frames["encodingFormat"] == "application/x-hdf5"
    assert "sdDatePublished" in frames
    assert not any(p.name == "frames.h5" for p in crate.rglob("*"))
    # the local input and the config are included, and are action objects
    objects = {o["@id"] for o in action["object"]}
    assert {"analysis/data/mask.h5", "analysis/config.json", frames_uri} <= objects
    assert (crate / "analysis" / "data" / "mask.h5").is_file()
    # outputs: hashed, present, results of the action
    for out in ("profile.csv", "profile.h5"):
        entity = g[f"outputs/{out}"]
        data = (crate / "outputs" / out).read_bytes()
        assert entity["sha256"] == hashlib.sha256(data).hexdigest()
    assert (crate / "outputs" / "profile.csv").read_text().startswith("q_per_angstrom,intensity")
    # the declared environment variable is recorded with its value
    assert g["#env-OMP_NUM_THREADS"]["value"] == "2"
    # resource usage, logs, inventory, preview
    usage = {g[u["@id"]]["name"]: g[u["@id"]] for u in action["resourceUsage"]}
    assert int(usage["peak memory"]["value"]) > 1_000_000
    assert float(usage["wall-clock time"]["value"]) > 0
    assert "integrated 10 frames" in (crate / "logs" / "stdout.txt").read_text()
    inventory = json.loads((crate / "environment" / "software.json").read_text())
    names = {p["name"] for p in inventory["dpkg"]}
    assert {"python3", "python3-numpy", "python3-h5py"} <= names
    assert inventory["os"]["ID"] == "debian"
    preview = (crate / "ro-crate-preview.html").read_text()
    assert "Azimuthal integration" in preview and "profile.csv" in preview
    spec = json.loads((crate / "preserve-run.json").read_text())
    assert spec["inputs"]["frames"]["mount"] == "/preserve/inputs/frames/frames.h5"
    assert result.to_json()["outputs"][0]["path"] == "profile.csv"
