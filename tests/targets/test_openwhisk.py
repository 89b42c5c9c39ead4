"""The openwhisk target against the OpenWhisk test server (``tests/servers/openwhisk.py``),
whose invoker runs the pushed function image in Docker through /init and /run: the
action names the per-digest tag (OpenWhisk drops digests) with the digest annotated,
credentials as the wsk CLI finds them, init parameters, blocking activations, logs,
throttling with Retry-After, and a definition the platform rejects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from preserve.errors import TargetError
from preserve.functions.deploy import deploy, find, undeploy
from preserve.settings import Settings
from preserve.targets.openwhisk import DIGEST_ANNOTATION, wsk_auth
from tests.servers.conftest import serving
from tests.servers.dcache import DcacheServer
from tests.servers.openwhisk import OpenWhiskServer
from tests.targets.conftest import call, cli_args, crate_action, home_settings

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.slow]


@pytest.fixture
def whisk() -> Iterator[OpenWhiskServer]:
    with serving(OpenWhiskServer(network="host")) as server:
        yield server


@pytest.fixture
def wskprops(whisk: OpenWhiskServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Credentials where the wsk CLI keeps them (WSK_CONFIG_FILE)."""
    props = tmp_path / "wskprops"
    props.write_text(f"APIHOST={whisk.url}\nAUTH={whisk.auth}\nNAMESPACE=guest\n")
    monkeypatch.setenv("WSK_CONFIG_FILE", str(props))
    return props


@pytest.fixture
def on_whisk(upper_doi: str, remote: str, whisk: OpenWhiskServer, wskprops: Path) -> Iterator[str]:
    settings = Settings.load()
    d = deploy(upper_doi, to=f"openwhisk+{whisk.url}/guest", name="upper-ow", settings=settings)
    yield d.deployment.name
    undeploy(d.deployment.name, settings=settings)


def test_the_action_runs_the_per_digest_tag_and_records_the_digest(
    on_whisk: str, whisk: OpenWhiskServer, remote: str, isolated_dirs: Path
) -> None:
    d = find(home_settings(isolated_dirs), on_whisk)
    action = whisk.actions[("guest", on_whisk)]
    tag = f"{remote}/preserve-functions/{on_whisk}:{d.image_digest.replace(':', '-')}"
    assert action.image == d.image_ref == tag  # what OpenWhisk keeps: no digest dropped
    assert action.annotation(DIGEST_ANNOTATION) == d.image_digest
    assert action.annotation("provide-api-key") is False
    init = {p["key"] for p in action.parameters if p.get("init") is True}
    assert {"PRESERVE_TARGET", "PRESERVE_FUNCTION_IMAGE"} <= init
    assert whisk.auth.split(":")[1] not in json.dumps(d.sent)


def test_a_blocking_activation_gives_the_result_and_its_logs(
    on_whisk: str, whisk: OpenWhiskServer, storage: DcacheServer, folder: str, run_cli: Any
) -> None:
    done = run_cli("invoke", on_whisk, *cli_args(call(storage, folder, b"frames")), "--json")
    assert done.exit_code == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "completed"
    assert storage.files[f"{folder}/out/outputs/upper.txt"].data == b"FRAMES" * 2
    action = crate_action(storage, f"{folder}/out/")
    (activation,) = whisk.activations.values()
    assert action["identifier"] == result["key"]
    # The shim knows the call by its activation id; the logs are the activation's.
    assert activation["response"]["result"]["invocation_id"] == activation["activationId"]
    logs = run_cli("logs", on_whisk, result["invocation_id"])
    assert logs.exit_code == 0 and "running python3 /app/run.py" in logs.stdout


def test_throttling_is_waited_out_as_retry_after_asks(
    on_whisk: str, whisk: OpenWhiskServer, storage: DcacheServer, folder: str, run_cli: Any
) -> None:
    whisk.minute_rate, whisk.retry_after = 0, 1
    busy = run_cli("invoke", on_whisk, *cli_args(call(storage, folder, b"late")))
    assert busy.exit_code == 1
    assert f"openwhisk+{whisk.url}/guest: function " in busy.stderr
    assert "busy (HTTP 429)" in busy.stderr and "Too many requests" in busy.stderr
    posts = [r for r in whisk.log if r.method == "POST" and "/actions/" in r.path]
    assert len(posts) == 4  # the first and three more, each after the second asked for
    assert not whisk.activations


def test_credentials_and_definitions_refused_are_named(
    upper_doi: str,
    remote: str,
    whisk: OpenWhiskServer,
    wskprops: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    to = f"openwhisk+{whisk.url}/guest"
    monkeypatch.setenv("PRESERVE_TARGETS_OPENWHISK_MEMORY", "2048")
    with pytest.raises(TargetError, match=r"(?s)rejected the request.*exceeds allowed threshold"):
        deploy(upper_doi, to=to, name="upper-big", settings=Settings.load())
    monkeypatch.delenv("PRESERVE_TARGETS_OPENWHISK_MEMORY")
    wskprops.write_text("AUTH=23bc46b1-71f6-4ed5-8c54-816aa4f8c502:not-the-key\n")
    with pytest.raises(TargetError, match="refused the credentials") as refused:
        deploy(upper_doi, to=to, name="upper-401", settings=Settings.load())
    assert refused.value.message.startswith(f"{to}: function {upper_doi}: ")
    assert "not-the-key" not in refused.value.message
    with pytest.raises(TargetError, match="unreachable"):
        deploy(
            upper_doi, to="openwhisk+http://127.0.0.1:9/guest", name="x", settings=Settings.load()
        )


def test_credentials_as_the_wsk_cli_finds_them(tmp_path: Path) -> None:
    (tmp_path / ".wskprops").write_text("APIHOST=https://wsk\nAUTH=u:k\n")
    assert wsk_auth({"HOME": str(tmp_path)}) == "u:k"
    (tmp_path / "other").write_text("AUTH = v:w\n")
    assert wsk_auth({"HOME": str(tmp_path), "WSK_CONFIG_FILE": str(tmp_path / "other")}) == "v:w"
    assert wsk_auth({"HOME": str(tmp_path / "nowhere")}) is None


def test_an_activation_that_outlives_the_blocking_wait_is_fetched(
    on_whisk: str, whisk: OpenWhiskServer, storage: DcacheServer, folder: str, run_cli: Any
) -> None:
    """On OpenWhisk the action's limit bounds a run; ``--timeout 1`` only shortens the
    blocking wait (to 6 s). The call sleeps 8 s: ``202``, then the activation record,
    polled until it is there."""
    document = call(storage, folder, b"sleep 8")
    done = run_cli("invoke", on_whisk, *cli_args(document), "--timeout", "1", "--json")
    posts = [r for r in whisk.log if r.method == "POST" and "/actions/" in r.path]
    polls = [r for r in whisk.log if r.method == "GET" and "/activations/" in r.path]
    assert len(posts) == 1 and "timeout=6000" in posts[0].path and polls
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "completed"
