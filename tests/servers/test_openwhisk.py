"""The OpenWhisk test server: action CRUD and its refusals, the dropped image digest,
real activations of a Docker image through /init and /run, logs, errors, throttling."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tests.servers.conftest import serving, session_as
from tests.servers.openwhisk import OpenWhiskServer, resolve_image

DIGEST = "sha256:" + "ab" * 32


def test_image_names_lose_their_digest_like_imagename_fromstring() -> None:
    assert resolve_image(f"127.0.0.1:5000/fn/azint@{DIGEST}") == "127.0.0.1:5000/fn/azint:latest"
    assert resolve_image(f"reg.example.org/fn:v1@{DIGEST}") == "reg.example.org/fn:v1"
    assert resolve_image("fn") == "fn:latest"
    with pytest.raises(ValueError, match="could not parse image name"):
        resolve_image("Upper/Case")


@pytest.fixture
def whisk() -> Iterator[OpenWhiskServer]:
    with serving(OpenWhiskServer()) as server:
        yield server


@pytest.fixture
def wsk(whisk: OpenWhiskServer) -> Iterator[requests.Session]:
    user, key = whisk.auth.split(":")
    with session_as(user, key) as session:
        yield session


def action_url(whisk: OpenWhiskServer, name: str, namespace: str = "_") -> str:
    return f"{whisk.url}/api/v1/namespaces/{namespace}/actions/{name}"


def put(wsk: requests.Session, whisk: OpenWhiskServer, name: str, image: str, **extra: object):  # type: ignore[no-untyped-def]
    body = {"exec": {"kind": "blackbox", "image": image}, **extra}
    return wsk.put(action_url(whisk, name), params={"overwrite": "true"}, json=body, timeout=10)


def test_actions_are_created_updated_and_refused(
    whisk: OpenWhiskServer, wsk: requests.Session
) -> None:
    image = f"127.0.0.1:5000/fn/azint@{DIGEST}"
    created = put(wsk, whisk, "azint", image, annotations=[{"key": "digest", "value": DIGEST}])
    assert created.status_code == 200
    action = created.json()
    assert action["exec"] == {
        "kind": "blackbox",
        "image": "127.0.0.1:5000/fn/azint:latest",
        "binary": False,
    }
    assert action["limits"] == {"timeout": 60000, "memory": 256, "logs": 10, "concurrency": 1}
    assert {"key": "digest", "value": DIGEST} in action["annotations"]
    assert wsk.get(action_url(whisk, "azint"), timeout=5).json()["version"] == "0.0.1"
    conflict = wsk.put(action_url(whisk, "azint"), json={"exec": action["exec"]}, timeout=5)
    assert conflict.status_code == 409 and conflict.json()["error"] == "resource already exists"
    assert put(wsk, whisk, "azint", "fn:v2").json()["version"] == "0.0.2"
    too_long = put(wsk, whisk, "slow", "fn", limits={"timeout": 300001})
    assert too_long.status_code == 400
    assert "exceeds allowed threshold of 300000 milliseconds" in too_long.json()["error"]
    assert put(wsk, whisk, "big", "fn", limits={"memory": 2048}).status_code == 400
    nodejs = wsk.put(action_url(whisk, "js"), json={"exec": {"kind": "nodejs:20"}}, timeout=5)
    assert nodejs.status_code == 400 and "not supported" in nodejs.json()["error"]
    assert put(wsk, whisk, "bad", "Not An Image").status_code == 400
    huge = put(wsk, whisk, "huge", "fn", parameters=[{"key": "k", "value": "x" * 1_100_000}])
    assert huge.status_code == 413
    assert wsk.delete(action_url(whisk, "azint"), timeout=5).status_code == 200
    assert wsk.get(action_url(whisk, "azint"), timeout=5).status_code == 404


def test_authentication_and_namespaces(whisk: OpenWhiskServer) -> None:
    url = action_url(whisk, "a")
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, auth=("x", "y"), timeout=5).status_code == 401
    other = whisk.add_subject("someone-else").split(":")
    denied = requests.get(action_url(whisk, "a", "guest"), auth=(other[0], other[1]), timeout=5)
    assert denied.status_code == 403


@pytest.mark.docker
def test_a_blocking_activation_runs_the_image(
    whisk: OpenWhiskServer, wsk: requests.Session, echo_image: str
) -> None:
    put(wsk, whisk, "echo", echo_image, parameters=[{"key": "greeting", "value": "hi"}])
    resp = wsk.post(
        action_url(whisk, "echo"),
        params={"blocking": "true"},
        json={"inputs": {"frames": "davs://door/f.h5"}},
        timeout=120,
    )
    assert resp.status_code == 200, resp.text
    record = resp.json()
    assert resp.headers["x-openwhisk-activation-id"] == record["activationId"]
    assert record["response"]["status"] == "success" and record["response"]["success"]
    result = record["response"]["result"]
    assert result["echo"] == {"greeting": "hi", "inputs": {"frames": "davs://door/f.h5"}}
    context = result["context"]
    assert context["action_name"] == "/guest/echo" and context["namespace"] == "guest"
    assert context["activation_id"] == record["activationId"]
    assert isinstance(context["deadline"], str) and result["api_key_given"]
    assert result["env"]["__OW_ACTION_NAME"] == "/guest/echo"  # from /init's env
    assert any(
        line.endswith(' stdout: run {"greeting": "hi", "inputs": {"frames": "davs://door/f.h5"}}')
        for line in record["logs"]
    )
    assert any(" stderr: context keys " in line for line in record["logs"])
    assert not any("XXX_THE_END" in line for line in record["logs"])
    fetched = wsk.get(f"{whisk.url}/api/v1/namespaces/_/activations/{record['activationId']}")
    assert fetched.json()["response"] == record["response"]
    again = wsk.post(
        action_url(whisk, "echo"),
        params={"blocking": "true", "result": "true"},
        json={},
        timeout=60,
    )
    assert again.status_code == 200 and again.json()["echo"] == {"greeting": "hi"}
    assert len(whisk.containers()) == 1  # warm: /init happened once


@pytest.mark.docker
def test_failures_are_reported_like_openwhisk(
    whisk: OpenWhiskServer, wsk: requests.Session, echo_image: str
) -> None:
    put(wsk, whisk, "echo", echo_image, limits={"timeout": 2000})
    url = action_url(whisk, "echo")
    blocking = {"blocking": "true"}
    failed = wsk.post(url, params=blocking, json={"fail": "no input"}, timeout=60)
    assert failed.status_code == 502
    assert failed.json()["response"]["status"] == "application error"
    assert failed.json()["response"]["result"] == {"error": "no input"}
    crashed = wsk.post(url, params=blocking, json={"crash": True}, timeout=60)
    assert crashed.status_code == 502
    assert crashed.json()["response"]["status"] == "action developer error"
    slow = wsk.post(url, params=blocking, json={"sleep": 5}, timeout=60)
    assert slow.status_code == 502
    assert "exceeded its time limits of 2000 milliseconds" in str(slow.json()["response"])
    ok = wsk.post(url, params=blocking, json={}, timeout=60)  # in a fresh container
    assert ok.status_code == 200 and ok.json()["response"]["result"]["echo"] == {}


@pytest.mark.docker
def test_long_activations_answer_202_and_can_be_fetched(
    whisk: OpenWhiskServer, wsk: requests.Session, echo_image: str
) -> None:
    put(wsk, whisk, "echo", echo_image)
    resp = wsk.post(
        action_url(whisk, "echo"),
        params={"blocking": "true", "timeout": "300"},
        json={"sleep": 2},
        timeout=60,
    )
    assert resp.status_code == 202
    activation = resp.json()["activationId"]
    url = f"{whisk.url}/api/v1/namespaces/_/activations/{activation}"
    deadline = time.monotonic() + 60
    while (fetched := wsk.get(url, timeout=5)).status_code == 404:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert fetched.json()["response"]["status"] == "success"


@pytest.mark.docker
def test_a_digest_only_image_runs_latest_and_fails_to_pull(
    whisk: OpenWhiskServer, wsk: requests.Session, echo_image: str
) -> None:
    repository = echo_image.split(":")[0]
    put(wsk, whisk, "pinned", f"{repository}@{DIGEST}")
    resp = wsk.post(action_url(whisk, "pinned"), params={"blocking": "true"}, json={}, timeout=60)
    assert resp.status_code == 502
    error = resp.json()["response"]["result"]["error"]
    assert error == f"Failed to pull container image '{repository}:latest'."


@pytest.mark.docker
def test_throttling_answers_429(
    whisk: OpenWhiskServer, wsk: requests.Session, echo_image: str
) -> None:
    put(wsk, whisk, "echo", echo_image)
    whisk.concurrency_limit = 1
    url = action_url(whisk, "echo")
    slow = threading.Thread(
        target=lambda: wsk.post(url, params={"blocking": "true"}, json={"sleep": 2}, timeout=60)
    )
    slow.start()
    time.sleep(0.5)
    busy = requests.post(url, auth=wsk.auth, json={}, timeout=10)
    slow.join()
    assert busy.status_code == 429
    assert busy.json()["error"] == "Too many concurrent requests in flight (count: 1, allowed: 1)."
    whisk.concurrency_limit, whisk.minute_rate = 100, 2
    assert wsk.post(url, json={}, timeout=10).status_code == 202  # the 2nd this minute
    rate = wsk.post(url, json={}, timeout=10)
    assert rate.status_code == 429 and "in the last minute" in rate.json()["error"]


@pytest.mark.docker
def test_api_key_is_withheld_when_annotated(
    whisk: OpenWhiskServer, wsk: requests.Session, echo_image: str
) -> None:
    put(wsk, whisk, "echo", echo_image, annotations=[{"key": "provide-api-key", "value": False}])
    resp = wsk.post(
        action_url(whisk, "echo"),
        params={"blocking": "true", "result": "true"},
        json={},
        timeout=60,
    )
    assert resp.json()["api_key_given"] is False
