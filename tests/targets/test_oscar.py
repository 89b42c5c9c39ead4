"""The oscar target against the OSCAR test server (``tests/servers/oscar.py``), whose jobs
run the pushed function image in Docker: the service pinned by digest with a script
that runs the shim in OSCAR mode, the job's empty 201, one job per call (never retried
into a second run), the result read from the job's log, failures named."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from preserve.engine import docker_client
from preserve.functions.deploy import deploy, find, undeploy
from preserve.settings import Settings
from tests.servers.conftest import serving
from tests.servers.dcache import DcacheServer
from tests.servers.oscar import OscarServer
from tests.targets.conftest import call, cli_args, crate_action, home_settings, pushed_images

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.slow]


@pytest.fixture
def oscar() -> Iterator[OscarServer]:
    with serving(OscarServer(network="host")) as server:
        yield server


@pytest.fixture
def on_oscar(
    upper_doi: str, remote: str, oscar: OscarServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("PRESERVE_TARGETS_OSCAR_USER", oscar.user)
    monkeypatch.setenv("PRESERVE_TARGETS_OSCAR_PASSWORD", oscar.password)
    monkeypatch.setenv("PRESERVE_TARGETS_OSCAR_POLL_INTERVAL", "0.2")
    settings = Settings.load()
    d = deploy(upper_doi, to=f"oscar+{oscar.url}", name="upper-oscar", settings=settings)
    yield d.deployment.name
    undeploy(d.deployment.name, settings=settings)


def test_the_service_pins_the_image_and_runs_the_shim_in_oscar_mode(
    on_oscar: str, oscar: OscarServer, remote: str, isolated_dirs: Path
) -> None:
    service = oscar.services[on_oscar]
    d = find(home_settings(isolated_dirs), on_oscar)
    assert (
        service["image"]
        == d.image_ref
        == f"{remote}/preserve-functions/{on_oscar}@{d.image_digest}"
    )
    assert service["script"].startswith("#!/bin/sh\nexec ")
    assert service["script"].rstrip().endswith("/opt/preserve-shim/shim.pyz oscar")
    assert service["annotations"]["org.preserve.image.digest"] == d.image_digest
    assert d.sent["environment"]["variables"]["PRESERVE_TARGET"] == f"oscar+{oscar.url}"
    assert oscar.password not in json.dumps(d.sent)
    creates = [r for r in oscar.log if r.method == "POST" and r.path == "/system/services"]
    assert len(creates) == 1 and creates[0].json()["name"] == on_oscar
    # Deploying again updates the service (PUT), it does not fail on the taken name.
    again = deploy(d.function, to=d.target, name=on_oscar, settings=Settings.load())
    assert again.deployment.image_ref == d.image_ref
    assert [r.method for r in oscar.log if r.path == "/system/services"][-1] == "PUT"


def test_a_call_is_one_job_whose_log_gives_the_result(
    on_oscar: str, oscar: OscarServer, storage: DcacheServer, folder: str, run_cli: Any
) -> None:
    document = call(storage, folder, b"beamtime 7")
    done = run_cli("invoke", on_oscar, *cli_args(document), "--json")
    assert done.exit_code == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "completed" and result["target"] == f"oscar+{oscar.url}"
    assert storage.files[f"{folder}/out/outputs/upper.txt"].data == b"BEAMTIME 7" * 2
    assert crate_action(storage, f"{folder}/out/")["identifier"] == result["key"]
    jobs = [r for r in oscar.log if r.method == "POST" and r.path == f"/job/{on_oscar}"]
    assert len(jobs) == 1 and jobs[0].headers["X-Delegated-Job-ID"] == result["invocation_id"]
    assert jobs[0].json() == document  # the parameters document is the job's $EVENT
    assert jobs[0].headers["Authorization"] == f"Bearer {oscar.services[on_oscar]['token']}"
    job = oscar.jobs[on_oscar][result["invocation_id"]]
    assert job.status == "Succeeded"
    logs = run_cli("logs", on_oscar, result["invocation_id"])
    assert logs.exit_code == 0 and "running python3 /app/run.py" in logs.stdout


def test_a_failed_script_in_a_succeeded_job_is_a_failed_call(
    on_oscar: str, oscar: OscarServer, storage: DcacheServer, folder: str, run_cli: Any
) -> None:
    """OSCAR's supervisor does not fail the job when the script fails: the log says."""
    failed = run_cli("invoke", on_oscar, *cli_args(call(storage, folder, b"crash")), "--json")
    assert failed.exit_code == 1
    result = json.loads(failed.stdout)
    assert result["status"] == "failed" and "exited with code 7" in result["error"]
    assert f"oscar+{oscar.url}: function " in failed.stderr
    assert oscar.jobs[on_oscar][result["invocation_id"]].status == "Succeeded"
    assert crate_action(storage, f"{folder}/out/")["actionStatus"].endswith("FailedActionStatus")


def test_refusals_are_named(
    on_oscar: str,
    oscar: OscarServer,
    storage: DcacheServer,
    folder: str,
    run_cli: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    document = call(storage, folder, b"data")
    nowhere = run_cli("invoke", on_oscar, "--input", f"text={document['inputs']['text']}")
    assert nowhere.exit_code == 1 and "no output folder" in nowhere.stderr
    monkeypatch.setenv("PRESERVE_TARGETS_OSCAR_PASSWORD", "wrong")
    refused = run_cli("invoke", on_oscar, *cli_args(document))
    assert refused.exit_code == 1
    assert f"oscar+{oscar.url}: function" in refused.stderr
    assert "refused the credentials" in refused.stderr and "HTTP 401" in refused.stderr
    assert "wrong" not in refused.stderr
    assert not [r for r in oscar.log if r.path.startswith("/job/")]


@pytest.mark.parametrize("created", [False, True])
def test_a_busy_answer_never_runs_a_call_twice(
    created: bool,
    on_oscar: str,
    oscar: OscarServer,
    storage: DcacheServer,
    folder: str,
    run_cli: Any,
) -> None:
    """503 with Retry-After: sent again only when the job list shows no job was made;
    when the job was made after all (a gateway failing after it), it is waited for."""
    oscar.job_answers = [(503, created)]
    done = run_cli("invoke", on_oscar, *cli_args(call(storage, folder, b"once")), "--json")
    assert done.exit_code == 0, done.stderr
    result = json.loads(done.stdout)
    posts = [r for r in oscar.log if r.method == "POST" and r.path == f"/job/{on_oscar}"]
    assert len(posts) == (1 if created else 2)
    assert list(oscar.jobs[on_oscar]) == [result["invocation_id"]]  # one job, one run
    assert storage.files[f"{folder}/out/outputs/upper.txt"].data == b"ONCE" * 2


def test_undeploy_leaves_no_copy_of_the_pushed_image_here(
    upper_doi: str, remote: str, oscar: OscarServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The platform pulls the function image from the registry: once undeployed, the
    host's build and its pushed tags are gone too."""
    monkeypatch.setenv("PRESERVE_TARGETS_OSCAR_USER", oscar.user)
    monkeypatch.setenv("PRESERVE_TARGETS_OSCAR_PASSWORD", oscar.password)
    settings = Settings.load()
    d = deploy(upper_doi, to=f"oscar+{oscar.url}", name="upper-gone-here", settings=settings)
    assert [p for p in pushed_images(remote) if p[1] == "upper-gone-here"]
    undeploy("upper-gone-here", settings=settings)
    assert not [p for p in pushed_images(remote) if p[1] == "upper-gone-here"]
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client().images.get(str(d.deployment.function_image_id))
