"""The knative target writes a Knative Service and Trigger that parse as Kubernetes
objects (a YAML load and a JSON Schema of the fields that matter), the image pinned by
digest and no credential in them; the Service's container contract holds: started as
Knative would (its env, a PORT), the function answers calls sent to its URL."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from preserve.functions.deploy import deploy, find, undeploy
from preserve.settings import Settings
from tests.servers.dcache import DcacheServer
from tests.targets.conftest import call, cli_args, crate_action, home_settings

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.slow]

DNS_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
ENV = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name", "value"],
        "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
        "additionalProperties": False,
    },
}
SERVICE = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "serving.knative.dev/v1"},
        "kind": {"const": "Service"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63}},
        },
        "spec": {
            "type": "object",
            "required": ["template"],
            "properties": {
                "template": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["containers"],
                            "properties": {
                                "containers": {
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": 1,
                                    "items": {
                                        "type": "object",
                                        "required": ["image", "ports", "env"],
                                        "properties": {
                                            "image": {
                                                "type": "string",
                                                "pattern": "@sha256:[0-9a-f]{64}$",
                                            },
                                            "ports": {
                                                "type": "array",
                                                "items": {
                                                    "type": "object",
                                                    "properties": {
                                                        "containerPort": {"type": "integer"}
                                                    },
                                                },
                                            },
                                            "env": ENV,
                                        },
                                    },
                                },
                                "timeoutSeconds": {"type": "integer", "minimum": 1},
                                "containerConcurrency": {"type": "integer", "minimum": 0},
                            },
                        }
                    },
                }
            },
        },
    },
}
TRIGGER = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "eventing.knative.dev/v1"},
        "kind": {"const": "Trigger"},
        "spec": {
            "type": "object",
            "required": ["broker", "subscriber"],
            "properties": {
                "broker": {"type": "string"},
                "filter": {
                    "type": "object",
                    "properties": {
                        "attributes": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        }
                    },
                },
                "subscriber": {
                    "type": "object",
                    "required": ["ref"],
                    "properties": {
                        "ref": {
                            "type": "object",
                            "required": ["apiVersion", "kind", "name"],
                        }
                    },
                },
                "delivery": {
                    "type": "object",
                    "properties": {"retry": {"type": "integer", "minimum": 0}},
                },
            },
        },
    },
}


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    return tmp_path / "manifests"


@pytest.fixture
def on_knative(
    upper_doi: str, remote: str, manifests: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("PRESERVE_TARGETS_KNATIVE_DATA_TOKEN_SECRET", "dcache-token")
    monkeypatch.setenv("PRESERVE_DATA_TOKEN", "do-not-write-me-anywhere")
    settings = Settings.load()
    d = deploy(upper_doi, to=f"knative:{manifests}", name="upper-kn", settings=settings)
    yield d.deployment.name
    undeploy(d.deployment.name, settings=settings)
    assert not (manifests / "upper-kn.yaml").exists()


def test_the_manifests_are_a_knative_service_and_trigger_pinned_by_digest(
    on_knative: str, manifests: Path, remote: str, isolated_dirs: Path
) -> None:
    text = (manifests / f"{on_knative}.yaml").read_text()
    service, trigger = yaml.safe_load_all(text)
    jsonschema.validate(service, SERVICE)
    jsonschema.validate(trigger, TRIGGER)
    d = find(home_settings(isolated_dirs), on_knative)
    (container,) = service["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{remote}/preserve-functions/{on_knative}@{d.image_digest}"
    assert service["metadata"]["annotations"]["org.preserve.image.digest"] == d.image_digest
    assert trigger["spec"]["subscriber"]["ref"]["name"] == service["metadata"]["name"]
    assert trigger["spec"]["filter"]["attributes"]["type"] == "org.dcache.storage.closewrite"
    secret = service["spec"]["template"]["spec"]["volumes"][0]["secret"]
    assert secret == {"secretName": "dcache-token"}
    assert "do-not-write-me-anywhere" not in text
    assert "do-not-write-me-anywhere" not in json.dumps(d.sent)


def test_the_service_answers_calls_as_knative_would_run_it(
    on_knative: str,
    manifests: Path,
    storage: DcacheServer,
    folder: str,
    run_cli: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service, _ = yaml.safe_load_all((manifests / f"{on_knative}.yaml").read_text())
    nothing = run_cli("invoke", on_knative, *cli_args(call(storage, folder, b"x", "0")))
    assert nothing.exit_code == 1 and f"knative:{manifests}: function " in nothing.stderr
    assert "kubectl apply -f" in nothing.stderr
    with KnativeLike(service) as url:
        monkeypatch.setenv("PRESERVE_TARGETS_KNATIVE_URL", url)
        monkeypatch.delenv("PRESERVE_DATA_TOKEN")
        done = run_cli("invoke", on_knative, *cli_args(call(storage, folder, b"kn")), "--json")
    assert done.exit_code == 0, done.stderr
    result = json.loads(done.stdout)
    assert storage.files[f"{folder}/out/outputs/upper.txt"].data == b"KN" * 2
    assert crate_action(storage, f"{folder}/out/")["identifier"] == result["key"]


class KnativeLike:
    """The Service's one container, started as Knative would: its env, a PORT, its image
    pulled by digest (host network here, to reach the loopback storage)."""

    def __init__(self, service: dict[str, Any]) -> None:
        (self.spec,) = service["spec"]["template"]["spec"]["containers"]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]

    def __enter__(self) -> str:
        from preserve.engine import docker_client

        env = {e["name"]: e["value"] for e in self.spec["env"]}
        env |= {"PORT": str(self.port), "PRESERVE_SHIM_HOST": "127.0.0.1"}
        client = docker_client()
        client.images.pull(self.spec["image"])
        self.container = client.containers.run(
            self.spec["image"], detach=True, network_mode="host", environment=env
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        return f"http://127.0.0.1:{self.port}/"

    def __exit__(self, *exc: object) -> None:
        self.container.remove(force=True)
