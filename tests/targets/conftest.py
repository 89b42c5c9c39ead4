"""Remote targets for real: the published 'upper' analysis of ``tests/functions`` (the
same fixtures: one data directory, the dCache test server), its function image pushed
to a real registry on loopback, deployed on a SLURM cluster started here or on the
faithful OSCAR, OpenWhisk and OpenFaaS test servers, whose jobs and actions run the
image in Docker on the host network (so that they reach the loopback storage)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from preserve.engine import docker_client
from preserve.functions.image import forget_pushed
from tests.conftest import Registry
from tests.functions.conftest import (  # noqa: F401  (shared with tests/functions)
    folder,
    functions_home,
    home_settings,
    isolated_dirs,
    storage,
    upper_doi,
)
from tests.servers.dcache import DcacheServer


@pytest.fixture
def remote(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Function images go to the loopback registry (remote platforms pull them). The
    host's copies a failed test did not undeploy go after it: this session's registry
    names them (the Docker Engine is shared)."""
    monkeypatch.setenv("PRESERVE_REGISTRY", registry.host)
    yield registry.host
    for image, name, repository in pushed_images(registry.host):
        forget_pushed(image, name, repository)


def pushed_images(host: str) -> list[tuple[str, str, str]]:
    """(image id, function, repository) of each function image pushed to ``host``."""
    prefix = f"{host}/preserve-functions/"
    found = []
    for image in docker_client().images.list():
        for ref in [*image.tags, *(image.attrs.get("RepoDigests") or [])]:
            if ref.startswith(prefix):
                repository = ref.split("@", 1)[0].rsplit(":", 1)[0]
                found.append((str(image.id), repository[len(prefix) :], repository))
    return found


def call(server: DcacheServer, where: str, text: bytes, tag: str = "") -> dict[str, Any]:
    """A parameters document: new data on the storage, outputs back to it."""
    server.put(f"{where}/in{tag}.txt", text)
    return {
        "inputs": {"text": server.url(f"{where}/in{tag}.txt")},
        "output_to": server.url(f"{where}/out{tag}/", "dav"),
    }


def crate_action(server: DcacheServer, prefix: str) -> dict[str, Any]:
    doc = json.loads(server.files[f"{prefix}ro-crate-metadata.json"].data)
    return next(e for e in doc["@graph"] if e["@type"] == "CreateAction")


def everything_written(home: Path, *more: str) -> str:
    """Every file of the data directory (the SQLite record included) and ``more``."""
    texts = [p.read_bytes().decode("utf-8", "replace") for p in home.rglob("*") if p.is_file()]
    return "\n".join([*texts, *more])


@pytest.fixture
def batch_file(tmp_path: Path) -> Iterator[Any]:
    def write(documents: list[dict[str, Any]]) -> Path:
        path = tmp_path / "calls.jsonl"
        path.write_text("".join(json.dumps(d) + "\n" for d in documents))
        return path

    yield write


def cli_args(document: dict[str, Any]) -> list[str]:
    """``invoke`` options for a parameters document."""
    inputs = [f"--input={k}={v}" for k, v in document["inputs"].items()]
    return [*inputs, "--output-to", document["output_to"]]
