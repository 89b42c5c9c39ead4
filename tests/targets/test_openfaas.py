"""The openfaas target against the OpenFaaS test server (``tests/servers/openfaas.py``),
whose functions are the pushed function image in Docker: pinned by digest, storage
credentials as OpenFaaS secrets read by the shim from their files, synchronous calls
and asynchronous ones answered through X-Callback-Url, the gateway's call id kept by
the shim, logs from /system/logs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from preserve.functions.deploy import deploy, find, undeploy
from preserve.settings import Settings
from tests.servers.conftest import serving
from tests.servers.dcache import DcacheServer
from tests.servers.openfaas import OpenFaasServer
from tests.targets.conftest import call, cli_args, crate_action, home_settings

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.slow]


@pytest.fixture
def faas() -> Iterator[OpenFaasServer]:
    with serving(OpenFaasServer(network="host")) as server:
        yield server


@pytest.fixture
def on_faas(
    upper_doi: str, remote: str, faas: OpenFaasServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("PRESERVE_TARGETS_OPENFAAS_PASSWORD", faas.password)
    settings = Settings.load()
    d = deploy(upper_doi, to=f"openfaas+{faas.url}", name="upper-faas", settings=settings)
    yield d.deployment.name
    undeploy(d.deployment.name, settings=settings)


def test_the_function_pins_the_image(
    on_faas: str, faas: OpenFaasServer, remote: str, isolated_dirs: Path
) -> None:
    d = find(home_settings(isolated_dirs), on_faas)
    spec = faas.functions[on_faas].spec
    assert spec["image"] == d.image_ref == f"{remote}/preserve-functions/{on_faas}@{d.image_digest}"
    assert spec["annotations"]["org.preserve.image.digest"] == d.image_digest
    assert spec["readOnlyRootFilesystem"] is False
    assert faas.password not in json.dumps(d.sent)


def test_sync_and_async_calls_give_the_result(
    on_faas: str,
    faas: OpenFaasServer,
    storage: DcacheServer,
    folder: str,
    run_cli: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    done = run_cli("invoke", on_faas, *cli_args(call(storage, folder, b"sync")), "--json")
    assert done.exit_code == 0, done.stderr
    result = json.loads(done.stdout)
    assert storage.files[f"{folder}/out/outputs/upper.txt"].data == b"SYNC" * 2
    assert crate_action(storage, f"{folder}/out/")["identifier"] == result["key"]
    sync = [r for r in faas.log if r.path == f"/function/{on_faas}"]
    assert len(sync) == 1 and sync[0].headers["X-Call-Id"] == result["invocation_id"]
    assert "Authorization" not in sync[0].headers  # /function/ is open: nothing to leak
    logs = run_cli("logs", on_faas, result["invocation_id"])
    assert logs.exit_code == 0 and f"invocation {result['invocation_id']} started" in logs.stdout
    assert "running python3 /app/run.py" in logs.stdout
    monkeypatch.setenv("PRESERVE_TARGETS_OPENFAAS_MODE", "async")
    later = run_cli("invoke", on_faas, *cli_args(call(storage, folder, b"async", "2")), "--json")
    assert later.exit_code == 0, later.stderr
    assert storage.files[f"{folder}/out2/outputs/upper.txt"].data == b"ASYNC" * 2
    (callback,) = faas.callbacks
    assert callback["X-Call-Id"] == json.loads(later.stdout)["invocation_id"]
    assert callback["status"] == 202


def test_a_failing_call_and_refusals_are_named(
    on_faas: str,
    faas: OpenFaasServer,
    storage: DcacheServer,
    folder: str,
    run_cli: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failed = run_cli("invoke", on_faas, *cli_args(call(storage, folder, b"crash")), "--json")
    assert failed.exit_code == 1
    assert f"openfaas+{faas.url}: function " in failed.stderr
    assert "exited with code 7" in json.loads(failed.stdout)["error"]
    wrong = run_cli("invoke", on_faas, "--input", "frames=http://x/y")
    assert wrong.exit_code == 1 and "has no input named frames" in wrong.stderr
    monkeypatch.setenv("PRESERVE_TARGETS_OPENFAAS_PASSWORD", "not-the-password")
    listed = json.loads(run_cli("functions", "--json").stdout)
    state = next(f["state"] for f in listed if f["name"] == on_faas)
    assert "refused the credentials" in state and "not-the-password" not in state
