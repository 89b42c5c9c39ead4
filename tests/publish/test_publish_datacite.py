"""`preserve publish --provider datacite` end to end: a real registry, the DataCite-compatible
test server (tests/doi/datacite_server.py), then resolve and rerun from the DOI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import Registry, run_preserve
from tests.doi.conftest import LANDING, PASSWORD, PREFIX, REPO
from tests.doi.datacite_server import DataCiteServer
from tests.rerun.analyses import EQUIVALENT, make

pytestmark = [pytest.mark.docker, pytest.mark.registry]


def _env(server: DataCiteServer, registry: Registry) -> dict[str, str]:
    return {
        "PRESERVE_REGISTRY": f"{registry.host}/pub",
        "PRESERVE_DOI_PROVIDER": "datacite",
        "PRESERVE_DATACITE_ENDPOINT": server.url,
        "PRESERVE_DATACITE_REPOSITORY_ID": REPO,
        "PRESERVE_DATACITE_PASSWORD": PASSWORD,
        "PRESERVE_DATACITE_PREFIX": PREFIX,
        "PRESERVE_LANDING_URL": LANDING,
        "PRESERVE_DOI_RESOLVER": server.url,
        "PRESERVE_PUBLISHER": "Deutsches Elektronen-Synchrotron DESY",
        "PRESERVE_PUBLISHER_ROR": "https://ror.org/01js2sh04",
    }


def test_publish_to_datacite_then_resolve_and_rerun(
    tmp_path: Path,
    base_image: str,
    registry: Registry,
    datacite: DataCiteServer,
    isolated_dirs: Path,
) -> None:
    analysis = make(tmp_path, "stamped", EQUIVALENT, ["result.h5", "summary.txt"])
    env = _env(datacite, registry)
    proc = run_preserve("capture", str(analysis), "-o", str(tmp_path / "crate"), env=env)
    assert proc.returncode == 0, proc.stderr

    proc = run_preserve(
        "publish",
        str(tmp_path / "crate"),
        "--json",
        "--supplement-to",
        "10.5555/example-article",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    doi = out["doi"]
    assert doi.startswith(f"{PREFIX}/preserve.") and out["state"] == "findable"
    assert out["url"] == LANDING.replace("{doi}", doi)
    assert out["crate_ref"].startswith(f"{registry.host}/pub/stamped@sha256:")

    stored = datacite.dois[doi.lower()]
    assert stored.state == "findable"
    related = {
        (r["relationType"], r["relatedIdentifier"]) for r in stored.attributes["relatedIdentifiers"]
    }
    # The crate's metadata and the image's configuration, as blobs any plain GET fetches.
    blobs = f"http://{registry.host}/v2/pub/stamped/blobs/"
    assert {rel for rel, url in related if url.startswith(blobs)} == {"HasMetadata", "Requires"}
    assert {"crate_ref": out["crate_ref"]} == {
        "crate_ref": stored.attributes["alternateIdentifiers"][0]["alternateIdentifier"]
    }
    assert ("IsSupplementTo", "10.5555/example-article") in related
    posts = len(datacite.api_requests("POST"))
    assert posts == 1

    again = run_preserve("publish", str(tmp_path / "crate"), "--json", env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["doi"] == doi
    assert len(datacite.api_requests("POST")) == posts  # never a second DOI

    resolved = json.loads(run_preserve("resolve", doi, "--json", env=env).stdout)
    assert resolved["crate_ref"] == out["crate_ref"] and resolved["image_ref"] == out["image_ref"]
    assert resolved["source"] == "datacite"

    shutil.rmtree(isolated_dirs / "cache")
    shutil.rmtree(tmp_path / "crate")
    proc = run_preserve("rerun", doi, "-o", str(tmp_path / "rerun"), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["reproduced"] is True


def test_datacite_refuses_a_crate_only_in_the_local_store(
    tmp_path: Path,
    base_image: str,
    registry: Registry,
    datacite: DataCiteServer,
) -> None:
    analysis = make(tmp_path, "stamped", EQUIVALENT, ["result.h5", "summary.txt"])
    env = {k: v for k, v in _env(datacite, registry).items() if k != "PRESERVE_REGISTRY"}
    assert (
        run_preserve("capture", str(analysis), "-o", str(tmp_path / "c"), env=env).returncode == 0
    )
    proc = run_preserve("publish", str(tmp_path / "c"), env=env)
    assert proc.returncode == 1
    assert "needs the crate in a registry" in proc.stderr and "--to" in proc.stderr
    assert datacite.api_requests() == []
