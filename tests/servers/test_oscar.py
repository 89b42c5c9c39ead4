"""The OSCAR test server: FDL validation, tokens and OIDC ownership, POST /job with its
empty 201 running a real container with $EVENT, job status and logs."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from tests.servers.conftest import serving, session_as
from tests.servers.oscar import OscarServer

SCRIPT = """\
echo "job $JOB_UUID of $OSCAR_SERVICE_NAME mode=$MODE"
echo "input: $(cat "$INPUT_FILE_PATH")"
cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/event.json"
"""


@pytest.fixture
def oscar() -> Iterator[OscarServer]:
    with serving(OscarServer()) as server:
        yield server


@pytest.fixture
def admin(oscar: OscarServer) -> Iterator[requests.Session]:
    with session_as(oscar.user, oscar.password) as session:
        yield session


def service(name: str, image: str, script: str = SCRIPT) -> dict[str, object]:
    return {
        "name": name,
        "image": image,
        "script": script,
        "environment": {"variables": {"MODE": "batch"}},
    }


def test_service_definitions_are_validated(oscar: OscarServer, admin: requests.Session) -> None:
    url = f"{oscar.url}/system/services"
    assert requests.post(url, json=service("a", "img"), timeout=5).status_code == 401
    too_long = admin.post(url, json=service("a" * 40, "img"), timeout=5)
    assert too_long.status_code == 400
    assert "Field validation for 'Name' failed on the 'max' tag" in too_long.text
    no_script = admin.post(url, json={"name": "a", "image": "img"}, timeout=5)
    assert (
        no_script.status_code == 400 and "'Script' failed on the 'required' tag" in no_script.text
    )
    assert admin.post(url, json=service("Azint", "img"), timeout=5).status_code == 500
    created = admin.post(url, json=service("azint", "img"), timeout=5)
    assert created.status_code == 201 and created.content == b""
    assert admin.post(url, json=service("azint", "img"), timeout=5).status_code == 400
    stored = admin.get(f"{url}/azint", timeout=5).json()
    assert len(stored["token"]) == 64 and int(stored["token"], 16) >= 0
    assert (stored["cpu"], stored["memory"], stored["owner"]) == ("0.2", "256Mi", "cluster_admin")
    update = {**service("azint", "img2")}
    assert admin.put(url, json=update, timeout=5).status_code == 204
    assert admin.get(f"{url}/azint", timeout=5).json()["token"] == stored["token"]
    assert admin.put(url, json=service("other", "img"), timeout=5).status_code == 404
    assert admin.delete(f"{url}/azint", timeout=5).status_code == 204
    assert admin.get(f"{url}/azint", timeout=5).status_code == 404


def test_oidc_users_see_only_their_services(oscar: OscarServer, admin: requests.Session) -> None:
    url = f"{oscar.url}/system/services"
    admin.post(url, json=service("admins", "img"), timeout=5)
    token = oscar.add_user("ada@egi.eu")
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.post(url, json=service("mine", "img"), headers=bearer).status_code == 201
    assert requests.get(f"{url}/admins", headers=bearer, timeout=5).status_code == 403
    assert [s["name"] for s in requests.get(url, headers=bearer, timeout=5).json()] == ["mine"]


@pytest.mark.docker
def test_a_job_runs_the_script_with_the_event(
    oscar: OscarServer, admin: requests.Session, base_image: str
) -> None:
    admin.post(f"{oscar.url}/system/services", json=service("azint", base_image), timeout=5)
    token = admin.get(f"{oscar.url}/system/services/azint", timeout=5).json()["token"]
    job_url = f"{oscar.url}/job/azint"
    assert requests.post(f"{oscar.url}/job/nope", timeout=5).status_code == 404
    assert requests.post(job_url, json={}, timeout=5).status_code == 401
    wrong = {"Authorization": "Bearer " + "0" * 64}
    assert requests.post(job_url, json={}, headers=wrong, timeout=5).status_code == 401
    event = {"inputs": {"frames": "davs://door/beamtime/scan1.h5"}, "output_to": "file:///o"}
    resp = requests.post(
        job_url, data=json.dumps(event), headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    assert resp.status_code == 201 and resp.content == b""  # no job name in the answer
    oscar.wait()
    [(name, job)] = oscar.jobs["azint"].items()
    assert name.startswith("azint-") and job.status == "Succeeded"
    assert f"job {name} of azint mode=batch" in job.logs
    assert json.loads(job.outputs["event.json"]) == event
    infos = admin.get(f"{oscar.url}/system/logs/azint", timeout=5).json()["jobs"]
    assert infos[name]["status"] == "Succeeded" and infos[name]["finish_time"]
    logs = admin.get(f"{oscar.url}/system/logs/azint/{name}", timeout=5)
    assert logs.status_code == 200 and "input: " in logs.text
    assert admin.delete(f"{oscar.url}/system/logs/azint/{name}", timeout=5).status_code == 204
    assert admin.get(f"{oscar.url}/system/logs/azint", timeout=5).json() == {"jobs": {}}


@pytest.mark.docker
def test_echo_event_is_unquoted_and_failures_do_not_fail_the_job(
    oscar: OscarServer, admin: requests.Session, base_image: str
) -> None:
    script = 'cat "$INPUT_FILE_PATH"; exit 3\n'
    admin.post(f"{oscar.url}/system/services", json=service("s", base_image, script), timeout=5)
    token = oscar.services["s"]["token"]
    headers = {"Authorization": f"Bearer {token}", "X-Delegated-Job-ID": "s-delegated-1"}
    requests.post(f"{oscar.url}/job/s", data='{"a":   "b  c"}', headers=headers, timeout=5)
    oscar.wait()
    job = oscar.jobs["s"]["s-delegated-1"]
    assert '{"a": "b c"}' in job.logs  # `echo $EVENT` splits the words, as in OSCAR
    assert job.status == "Succeeded"  # faas-supervisor ignores the script's exit status
    oscar.script_failure_fails_job = True
    requests.post(f"{oscar.url}/job/s", data="{}", headers={"Authorization": f"Bearer {token}"})
    oscar.wait()
    statuses = sorted(j.status for j in oscar.jobs["s"].values())
    assert statuses == ["Failed", "Succeeded"]
