"""Deploy and invoke on the local target: the function container driven through /init
and /run as OpenWhisk would, its data on the dCache test server; the key answers a call
made again; each failure ends with exit 1 naming target, function and cause, and a crate
marked failed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from preserve.functions import records
from preserve.functions.deploy import find
from preserve.runners.base import PIDS_LIMIT
from preserve.targets.local import LocalOptions, LocalTarget
from tests.conftest import CliResult
from tests.functions.conftest import home_settings
from tests.servers.dcache import DcacheServer

pytestmark = [pytest.mark.docker, pytest.mark.slow]
FAILED = "http://schema.org/FailedActionStatus"


def invoke(
    run_cli: Any, name: str, storage: DcacheServer, folder: str, text: bytes, *extra: str
) -> CliResult:
    storage.put(f"{folder}/in.txt", text)
    result: CliResult = run_cli(
        "invoke",
        name,
        "--input",
        f"text={storage.url(f'{folder}/in.txt')}",
        "--output-to",
        storage.url(f"{folder}/out/", "dav"),
        "--json",
        *extra,
    )
    return result


def crate_action(storage: DcacheServer, folder: str) -> dict[str, Any]:
    doc = json.loads(storage.files[f"{folder}/out/ro-crate-metadata.json"].data)
    return next(e for e in doc["@graph"] if e["@type"] == "CreateAction")


def test_deploy_records_the_digests_and_the_container_answers(
    upper: str, upper_doi: str, isolated_dirs: Path
) -> None:
    settings = home_settings(isolated_dirs)
    d = find(settings, upper)
    assert d.function == upper_doi and d.target == "local"
    assert d.image_digest and d.image_digest.startswith("sha256:")
    assert d.base_image_digest and d.base_image_digest.startswith("sha256:")
    assert d.sent["network"] == "host" and "PRESERVE_DATA_TOKEN" not in json.dumps(d.sent)
    from preserve.engine import docker_client

    labels = docker_client().api.inspect_image(d.function_image_id)["Config"]["Labels"]
    assert labels["org.preserve.function"] == upper_doi
    assert labels["org.opencontainers.image.base.digest"] == d.base_image_digest
    assert LocalTarget(LocalOptions(), settings, {}).status(d) == "ready"
    # The runners' hardening, and a shim that listens on loopback only.
    attrs = docker_client().api.inspect_container(d.endpoint_id)
    host = attrs["HostConfig"]
    assert host["SecurityOpt"] == ["no-new-privileges"] and host["CapDrop"] == ["ALL"]
    assert host["PidsLimit"] == PIDS_LIMIT and attrs["Config"]["User"] == "0"
    assert "PRESERVE_SHIM_HOST=127.0.0.1" in attrs["Config"]["Env"]
    assert not [e for e in attrs["Config"]["Env"] if e.startswith("PRESERVE_DATA_TOKEN")]


def test_invoke_runs_once_and_the_same_call_is_answered_by_its_key(
    upper: str, storage: DcacheServer, folder: str, run_cli: Any, isolated_dirs: Path
) -> None:
    first = invoke(run_cli, upper, storage, folder, b"new data")
    assert first.exit_code == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["status"] == "completed" and result["target"] == "local"
    assert set(result) >= {
        "status",
        "key",
        "function",
        "outputs",
        "crate",
        "target",
        "invocation_id",
    }
    assert storage.files[f"{folder}/out/outputs/upper.txt"].data == b"NEW DATANEW DATA"
    again = invoke(run_cli, upper, storage, folder, b"new data")
    assert again.exit_code == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["cached"] is True and second["key"] == result["key"]
    assert second["outputs"] == result["outputs"]
    logs = run_cli("logs", upper)
    assert logs.stdout.count("running python3 /app/run.py") >= 1
    section = run_cli("logs", upper, result["invocation_id"])
    assert section.exit_code == 0 and "running python3 /app/run.py" in section.stdout
    assert "already" not in section.stdout
    ran = [
        i
        for i in records.invocations(home_settings(isolated_dirs), upper)
        if i["key"] == result["key"]
    ]
    assert len(ran) == 1  # the second call did not reach the target


def _failure(
    run_cli: Any, upper: str, storage: DcacheServer, folder: str, text: bytes, *extra: str
) -> str:
    failed = invoke(run_cli, upper, storage, folder, text, *extra)
    assert failed.exit_code == 1
    result = json.loads(failed.stdout)
    assert result["status"] == "failed" and result["outputs"] == {}
    assert f"local: function {result['function']}:" in failed.stderr
    action = crate_action(storage, folder)
    assert action["actionStatus"] == FAILED
    assert not [p for p in storage.files if p.startswith(f"{folder}/out/outputs/")]
    return failed.stderr


def test_a_crash(upper: str, storage: DcacheServer, folder: str, run_cli: Any) -> None:
    stderr = _failure(run_cli, upper, storage, folder, b"crash")
    assert "exited with code 7" in stderr and "bad calibration" in stderr


def test_a_timeout(upper: str, storage: DcacheServer, folder: str, run_cli: Any) -> None:
    assert "time limit of" in _failure(
        run_cli, upper, storage, folder, b"sleep 60", "--timeout", "3"
    )


def test_no_output(upper: str, storage: DcacheServer, folder: str, run_cli: Any) -> None:
    assert "wrote no upper.txt, count.json" in _failure(run_cli, upper, storage, folder, b"nothing")


def test_an_input_checksum_mismatch(
    upper: str, storage: DcacheServer, folder: str, run_cli: Any
) -> None:
    storage.corrupt = True
    try:
        stderr = _failure(run_cli, upper, storage, folder, b"hello")
    finally:
        storage.corrupt = False
    assert "does not match" in stderr and "adler32" in stderr


def test_an_unreachable_endpoint_leaves_a_crate_here(
    upper: str, storage: DcacheServer, folder: str, run_cli: Any, isolated_dirs: Path
) -> None:
    """The container dies mid-call: the call fails naming it; the next call starts it again."""
    import threading
    import time

    from preserve.engine import docker_client

    settings = home_settings(isolated_dirs)
    container = docker_client().containers.get(find(settings, upper).endpoint_id)
    killer = threading.Timer(4.0, container.kill)
    killer.start()
    try:
        failed = invoke(run_cli, upper, storage, folder, b"sleep 30")
    finally:
        killer.join()
    assert failed.exit_code == 1
    assert "local: function" in failed.stderr, failed.stderr
    assert "the function container stopped (exit code 137)" in failed.stderr
    crate = Path(failed.stderr.split("(crate: ")[1].split(")")[0])
    graph = json.loads((crate / "ro-crate-metadata.json").read_text())["@graph"]
    assert next(e for e in graph if e["@type"] == "CreateAction")["actionStatus"] == FAILED
    time.sleep(0.5)
    fine = invoke(run_cli, upper, storage, f"{folder}-2", b"after the crash")
    assert fine.exit_code == 0, fine.stderr


def test_unknown_names_and_inputs_are_refused(upper: str, run_cli: Any) -> None:
    nothing = run_cli("invoke", "no-such-function", "--input", "text=http://x/y")
    assert nothing.exit_code == 1 and "no function named 'no-such-function'" in nothing.stderr
    wrong = run_cli("invoke", upper, "--input", "frames=http://x/y")
    assert wrong.exit_code == 1 and "has no input named frames" in wrong.stderr


def test_functions_lists_the_deployment(upper: str, upper_doi: str, run_cli: Any) -> None:
    listed = json.loads(run_cli("functions", "--json").stdout)
    mine = next(f for f in listed if f["name"] == upper)
    assert mine["doi"] == upper_doi and mine["target"] == "local" and mine["state"] == "ready"


def test_invoke_by_doi_finds_the_local_deployment(
    upper: str, upper_doi: str, storage: DcacheServer, folder: str, run_cli: Any
) -> None:
    result = invoke(run_cli, upper_doi, storage, folder, b"by doi")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["function"] == upper_doi
    assert storage.files[f"{folder}/out/outputs/upper.txt"].data == b"BY DOIBY DOI"
