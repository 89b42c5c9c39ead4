"""How a target's endpoint failures are said (``preserve/targets/http.py``): against a
loopback server that answers as platforms do when they refuse credentials, are busy
(429/503 with ``Retry-After``), reject a definition, fail, or do not answer."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import requests

from preserve.errors import TargetError
from preserve.targets import http
from tests.servers.base import Handler, LoopbackServer, handler_for
from tests.servers.conftest import serving

ENDPOINT = http.Endpoint("openfaas+http://127.0.0.1", "10.5072/preserve.x")


class Scripted:
    """Answers each request with the next (status, headers, body) of its script."""

    def __init__(self, script: list[tuple[int, dict[str, str], bytes]]) -> None:
        self.script = script
        self.seen = 0
        self.errors: list[str] = []
        self.server = LoopbackServer(handler_for(_Answer, self), self.errors)

    @property
    def url(self) -> str:
        return self.server.url

    def close(self) -> None:
        self.server.close()


class _Answer(Handler):
    owner: Scripted

    def do_POST(self) -> None:
        self.body()
        status, headers, body = self.owner.script[min(self.owner.seen, len(self.owner.script) - 1)]
        self.owner.seen += 1
        if status == 0:
            time.sleep(3)  # silence
            status = 200
        self.reply(status, body, headers)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def _call(script: list[tuple[int, dict[str, str], bytes]], session: requests.Session, **kw):  # type: ignore[no-untyped-def]
    waits: list[float] = []
    with serving(Scripted(script)) as server:
        try:
            return (
                http.call(
                    session,
                    ENDPOINT,
                    "POST",
                    f"{server.url}/function/x",
                    body={},
                    sleep=waits.append,
                    **kw,
                ),
                waits,
                server.seen,
            )
        except TargetError as exc:
            return exc, waits, server.seen


def test_credentials_refused(session: requests.Session) -> None:
    for status in (401, 403):
        exc, _, _ = _call(
            [(status, {}, b'{"error": "The supplied authentication is invalid"}')], session
        )
        assert isinstance(exc, TargetError)
        assert exc.message.startswith("openfaas+http://127.0.0.1: function 10.5072/preserve.x:")
        assert f"HTTP {status}" in exc.message and "authentication is invalid" in exc.message
        assert "credentials" in exc.message and "never printed" in str(exc.hint)


def test_busy_is_retried_after_what_the_platform_asks(session: requests.Session) -> None:
    answer, waits, seen = _call(
        [
            (429, {"Retry-After": "2"}, b"Too many requests"),
            (503, {}, b""),
            (200, {}, b'{"ok": 1}'),
        ],
        session,
    )
    assert isinstance(answer, http.Answer) and answer.document == {"ok": 1}
    assert seen == 3 and waits[0] == 2.0


def test_busy_for_too_long_says_when_to_come_back(session: requests.Session) -> None:
    exc, waits, seen = _call(
        [(429, {"Retry-After": "7"}, b'{"error": "Too many"}')], session, retries=2
    )
    assert isinstance(exc, TargetError) and exc.retry_after == 7.0
    assert "busy (HTTP 429): Too many" in exc.message and seen == 3 and waits == [7.0, 7.0]
    deadline = time.monotonic() + 1
    exc, waits, seen = _call([(503, {"Retry-After": "30"}, b"")], session, deadline=deadline)
    assert isinstance(exc, TargetError) and seen == 1 and waits == []  # past the deadline


def test_a_rejected_definition_and_a_platform_failure(session: requests.Session) -> None:
    body = json.dumps({"message": "image: invalid reference format"}).encode()
    exc, _, _ = _call([(400, {}, body)], session)
    assert isinstance(exc, TargetError)
    assert "rejected the request" in exc.message and "invalid reference format" in exc.message
    exc, _, _ = _call([(500, {}, b"boom")], session)
    assert isinstance(exc, TargetError) and "the platform failed" in exc.message


def test_unreachable_and_silent_endpoints(session: requests.Session) -> None:
    from tests.conftest import free_port

    with pytest.raises(TargetError, match="is unreachable") as err:
        http.call(session, ENDPOINT, "POST", f"http://127.0.0.1:{free_port()}/x", body={})
    assert "10.5072/preserve.x" in err.value.message
    exc, _, _ = _call([(0, {}, b"{}")], session, timeout=0.5)
    assert isinstance(exc, TargetError) and "did not answer within 0.5 s" in exc.message


def test_retry_after_as_a_date() -> None:
    from email.utils import formatdate

    from preserve.shim.http import retry_after_seconds

    later = retry_after_seconds(formatdate(time.time() + 60, usegmt=True))
    assert later is not None and 55 < later <= 60
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
