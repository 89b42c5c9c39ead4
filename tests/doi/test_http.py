"""The DOI services' client on the shared network stack: bounded, retried, clear."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from preserve.doi.http import ApiClient, Retry, json_body
from preserve.errors import DoiError
from preserve.settings import NetworkSettings
from tests.conftest import free_port
from tests.net.scripted import Scripted


@pytest.fixture
def server() -> Iterator[Scripted]:
    srv = Scripted()
    yield srv
    srv.close()


def client(base: str) -> ApiClient:
    return ApiClient(base, service="the DataCite REST API", sleep=lambda s: None)


def test_an_oversized_answer_is_refused(server: Scripted) -> None:
    server.script.append((200, {"Content-Type": "application/vnd.api+json"}, b" " * (17 << 20)))
    with pytest.raises(DoiError, match="too large"):
        client(f"http://{server.host}").request("GET", "dois/10.1234/x")


def test_a_recursion_bomb_is_no_record_not_a_crash(server: Scripted) -> None:
    server.script.append((200, {}, b"[" * 100_000 + b"]" * 100_000))
    assert json_body(client(f"http://{server.host}").request("GET", "dois/x")) == {}


def test_a_post_is_not_repeated_after_a_reset_but_a_get_is(server: Scripted) -> None:
    api = ApiClient(
        f"http://{server.host}", service="the DataCite REST API", retry=Retry(attempts=3),
        sleep=lambda s: None, network=NetworkSettings(),
    )  # fmt: skip
    server.script.extend(["reset", "reset"])
    assert api.request("GET", "dois/x").text == "ok"
    server.script.append("reset")
    with pytest.raises(DoiError) as err:
        api.request("POST", "dois", json={"data": {}})
    assert f"cannot reach the DataCite REST API at http://{server.host}" in err.value.message
    assert len([line for line, _ in server.seen if line.startswith("POST")]) == 1


def test_an_unreachable_service_names_itself() -> None:
    base = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(DoiError) as err:
        client(base).request("GET", "dois/x")
    assert err.value.message.startswith(f"cannot reach the DataCite REST API at {base}")
    assert "tried 5 times" in err.value.message and err.value.hint
