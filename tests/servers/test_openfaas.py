"""The OpenFaaS test server: deploy/update/delete with Basic auth on /system, sync calls
proxied to a real container, async calls with their callback, and the refusals."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tests.servers.base import Handler, LoopbackServer, handler_for
from tests.servers.conftest import serving, session_as
from tests.servers.openfaas import OpenFaasServer

pytestmark = pytest.mark.docker


@pytest.fixture
def faas() -> Iterator[OpenFaasServer]:
    with serving(OpenFaasServer()) as server:
        yield server


@pytest.fixture
def admin(faas: OpenFaasServer) -> Iterator[requests.Session]:
    with session_as(faas.user, faas.password) as session:
        yield session


class _Receiver(Handler):
    def do_POST(self) -> None:
        self.owner.put((dict(self.headers), self.body()))
        self.reply(200)


def deploy(
    admin: requests.Session, faas: OpenFaasServer, name: str, image: str, **extra: object
) -> int:
    spec = {"service": name, "image": image, "envVars": {"MODE": "test"}, **extra}
    return admin.post(f"{faas.url}/system/functions", json=spec, timeout=60).status_code


def test_system_endpoints_want_basic_auth_and_valid_specs(
    faas: OpenFaasServer, admin: requests.Session, echo_image: str
) -> None:
    assert requests.get(f"{faas.url}/system/functions", timeout=5).status_code == 401
    wrong = requests.get(f"{faas.url}/system/functions", auth=("admin", "x"), timeout=5)
    assert wrong.status_code == 401
    assert deploy(admin, faas, "Bad_Name", echo_image) == 400
    no_image = admin.post(f"{faas.url}/system/functions", json={"service": "x"}, timeout=5)
    assert no_image.status_code == 400
    assert deploy(admin, faas, "echo", echo_image) == 202
    assert deploy(admin, faas, "echo", echo_image) == 400  # exists: update with PUT
    listed = admin.get(f"{faas.url}/system/functions", timeout=5).json()
    assert [(f["name"], f["image"], f["envVars"]) for f in listed] == [
        ("echo", echo_image, {"MODE": "test"})
    ]
    update = {"service": "echo", "image": echo_image, "envVars": {"MODE": "two"}}
    assert admin.put(f"{faas.url}/system/functions", json=update, timeout=60).status_code == 200
    missing = {"service": "nope", "image": echo_image}
    assert admin.put(f"{faas.url}/system/functions", json=missing, timeout=5).status_code == 404
    gone = admin.delete(f"{faas.url}/system/functions", json={"functionName": "echo"}, timeout=30)
    assert gone.status_code == 200
    again = admin.delete(f"{faas.url}/system/functions", json={"functionName": "echo"}, timeout=5)
    assert again.status_code == 404
    assert not faas.functions


def test_sync_calls_reach_the_function_as_sent(
    faas: OpenFaasServer, admin: requests.Session, echo_image: str
) -> None:
    deploy(admin, faas, "echo", echo_image)
    resp = requests.post(
        f"{faas.url}/function/echo/sub/path?x=1",
        data=b'{"inputs": {}}',
        headers={"Content-Type": "application/cloudevents+json"},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    seen = resp.json()
    assert (seen["method"], seen["path"], seen["query"]) == ("POST", "/sub/path", "x=1")
    assert seen["body"] == '{"inputs": {}}'
    assert seen["headers"]["Content-Type"] == "application/cloudevents+json"
    assert seen["headers"]["X-Call-Id"] == resp.headers["X-Call-Id"]
    assert float(resp.headers["X-Duration-Seconds"]) >= 0
    teapot = requests.post(f"{faas.url}/function/echo", json={"status": 418}, timeout=30)
    assert teapot.status_code == 418
    assert requests.post(f"{faas.url}/function/nope", timeout=5).status_code == 404
    status = admin.get(f"{faas.url}/system/function/echo", timeout=5).json()
    assert status["invocationCount"] == 2


def test_async_calls_answer_202_and_post_the_result_back(
    faas: OpenFaasServer, admin: requests.Session, echo_image: str
) -> None:
    deploy(admin, faas, "echo", echo_image)
    received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
    errors: list[str] = []
    receiver = LoopbackServer(handler_for(_Receiver, received), errors)
    try:
        resp = requests.post(
            f"{faas.url}/async-function/echo",
            json={"inputs": {"frames": "file:///x"}},
            headers={"X-Callback-Url": f"{receiver.url}/done"},
            timeout=10,
        )
        assert resp.status_code == 202 and resp.content == b""
        headers, body = received.get(timeout=60)
        assert headers["X-Call-Id"] == resp.headers["X-Call-Id"]
        assert (headers["X-Function-Name"], headers["X-Function-Status"]) == ("echo", "200")
        assert json.loads(json.loads(body)["body"]) == {"inputs": {"frames": "file:///x"}}
        unknown = requests.post(
            f"{faas.url}/async-function/nope",
            headers={"X-Callback-Url": f"{receiver.url}/done"},
            timeout=10,
        )
        assert unknown.status_code == 202  # queued blindly; the callback tells
        headers, _ = received.get(timeout=30)
        assert headers["X-Function-Status"] == "404"
        bad = requests.post(
            f"{faas.url}/async-function/echo", headers={"X-Callback-Url": "::nope"}, timeout=5
        )
        assert bad.status_code == 400
    finally:
        receiver.close()
    assert not errors


def test_max_inflight_answers_429(
    faas: OpenFaasServer, admin: requests.Session, echo_image: str
) -> None:
    deploy(admin, faas, "echo", echo_image, envVars={"max_inflight": "1"})
    slow = threading.Thread(
        target=lambda: requests.post(f"{faas.url}/function/echo", json={"sleep": 2}, timeout=60)
    )
    requests.post(f"{faas.url}/function/echo", json={}, timeout=60)  # warm
    slow.start()
    time.sleep(0.5)
    busy = requests.post(f"{faas.url}/function/echo", json={}, timeout=30)
    slow.join()
    assert busy.status_code == 429
