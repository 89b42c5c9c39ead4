"""A plug-in distribution outside this repository, installed the ordinary way, shows up in
``--help`` and works end to end without a change to the core: a DOI provider keeping DOIs
in JSON files (``jsonfile``) and a runner that pulls images by reference itself and drives
the ``docker`` command line (``dockercli``)."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from preserve.fsmodes import dir_mode
from tests.conftest import Registry, run_preserve
from tests.rerun.analyses import make

pytestmark = [pytest.mark.docker, pytest.mark.registry]

SCRIPT = """
import os, sys
out = sys.argv[1]
open(os.path.join(out, "result.txt"), "w").write("sum 4950\\n" if sum(range(100)) == 4950 else "?")
"""


def assert_each_step_once(stderr: str, target: str) -> None:
    """push says once that it pushes the image and once that it pushes the crate."""
    steps = [line for line in stderr.splitlines() if line.startswith("• ")]
    assert len(steps) == len(set(steps)), stderr
    image = [s for s in steps if " image " in s and target in s]
    crate = [s for s in steps if " crate " in s and target in s]
    assert len(image) == 1 and len(crate) == 1, stderr


def test_plugins_are_listed_and_offered_in_help(fake_plugins: str) -> None:
    listed = json.loads(run_preserve("plugins", "--json").stdout)
    ours = {(p["section"], p["distribution"]) for p in listed if fake_plugins in p["distribution"]}
    assert ours == {
        ("doi.jsonfile", f"{fake_plugins} 0.1.0"),
        ("runners.dockercli", f"{fake_plugins} 0.1.0"),
    }
    assert "dockercli" in run_preserve("rerun", "--help").stdout
    assert "dockercli" in run_preserve("capture", "--help").stdout
    assert "jsonfile" in run_preserve("publish", "--help").stdout


def test_publish_and_rerun_through_third_party_plugins(
    fake_plugins: str, tmp_path: Path, base_image: str, registry: Registry, isolated_dirs: Path
) -> None:
    analysis = make(tmp_path, "plugin-demo", SCRIPT, ["result.txt"])
    crate = tmp_path / "crate"
    proc = run_preserve("capture", str(analysis), "-o", str(crate), "--json")
    assert proc.returncode == 0, proc.stderr
    image_id = json.loads(proc.stdout)["image"]["id"]

    target = f"{registry.host}/plugins/demo:1"
    proc = run_preserve("push", str(crate), "--to", target)
    assert proc.returncode == 0, proc.stderr
    assert_each_step_once(proc.stderr, f"{registry.host}/plugins/demo")
    publisher = {"PRESERVE_PUBLISHER": "Example Light Source"}
    proc = run_preserve(
        "publish", str(crate), "--provider", "jsonfile", "--to", target, "--json", env=publisher
    )
    assert proc.returncode == 0, proc.stderr
    published = json.loads(proc.stdout)
    doi = published["doi"]
    assert doi.startswith("10.80001/") and published["provider"] == "jsonfile"
    assert published["state"] == "findable" and published["globally_resolvable"] is False
    stored = json.loads(next((isolated_dirs / "data" / "jsonfile-dois").glob("*.json")).read_text())
    assert stored["doi"] == doi and stored["state"] == "findable"

    resolved = json.loads(run_preserve("resolve", doi, "--json").stdout)
    assert resolved["source"] == "jsonfile"  # found by the core through the plug-in's get()
    assert resolved["crate_ref"] == published["crate_ref"]

    # The runner must pull the image itself, by the reference the registry store offers.
    subprocess.run(["docker", "image", "rm", "-f", image_id], check=True, capture_output=True)
    proc = run_preserve("rerun", doi, "--runner", "dockercli", "-o", str(tmp_path / "rerun"))
    assert proc.returncode == 0, proc.stderr
    assert "reproduced" in proc.stdout
    inspect = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", published["image_ref"]],
        capture_output=True,
        text=True,
    )
    assert inspect.stdout.strip() == image_id, "the image came back by its pinned reference"
    assert f"• dockercli: pulling {published['image_ref']}" in proc.stderr
    [pulled] = (isolated_dirs / "cache" / "crates").iterdir()
    assert stat.S_IMODE(pulled.stat().st_mode) == dir_mode()  # not mkdtemp's 0700


def test_reference_runner_cannot_run_an_image_only_in_the_local_store(
    fake_plugins: str, tmp_path: Path, base_image: str
) -> None:
    analysis = make(tmp_path, "plugin-local", SCRIPT, ["result.txt"])
    crate = tmp_path / "crate"
    assert run_preserve("capture", str(analysis), "-o", str(crate)).returncode == 0
    proc = run_preserve("push", str(crate))  # to the local OCI layout store
    assert proc.returncode == 0, proc.stderr
    assert_each_step_once(proc.stderr, "local:plugin-local")
    proc = run_preserve("rerun", str(crate), "--runner", "dockercli", "--json")
    assert proc.returncode == 1
    error = json.loads(proc.stdout)
    assert "the dockercli runner pulls images from a registry" in error["error"]
    assert "push the crate to a registry" in error["hint"]
    assert error["exit_code"] == 1


def test_plugin_settings_are_validated_by_the_plugin(fake_plugins: str, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('runner = "dockercli"\n[runners.dockercli]\nexecutable = 5\n')
    proc = run_preserve("rerun", str(tmp_path), "--json", env={"PRESERVE_CONFIG": str(config)})
    error = json.loads(proc.stdout)
    assert proc.returncode == 1 and error["exit_code"] == 1
    assert error["error"].startswith("invalid configuration in [runners.dockercli]: executable:")
    assert "PRESERVE_RUNNERS_DOCKERCLI_<KEY>" in error["hint"]
