"""The one retry policy: statuses, resets, Retry-After in both forms, caps, methods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from preserve import net
from preserve.errors import DataError
from preserve.settings import NetworkSettings
from tests.net.scripted import Scripted


def test_retry_after_forms() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert net.retry_after("7") == 7.0
    assert net.retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert net.retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now) == 0
    assert net.retry_after("-3") is None and net.retry_after("soon") is None
    assert net.retry_after(None) is None and net.retry_after("") is None


def test_statuses_and_retry_after_are_honoured_and_capped(server: Scripted) -> None:
    sleeps: list[float] = []
    http = net.Http(NetworkSettings(max_retry_wait=30), error=DataError, sleep=sleeps.append)
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    server.script.extend([
        (429, {"Retry-After": "3"}, b""),
        (503, {"Retry-After": later}, b""),
        (502, {"Retry-After": "100000"}, b""),
        (504, {}, b""),
    ])  # fmt: skip
    assert http.request("GET", server.url()).text == "ok"
    assert sleeps[0] == 3 and 15 < sleeps[1] <= 20 and sleeps[2] == 30 and sleeps[3] == 4.0
    assert len(server.seen) == 5


def test_a_status_still_failing_after_the_last_attempt_is_returned(server: Scripted) -> None:
    http = net.Http(attempts=3, error=DataError, sleep=lambda s: None)
    server.script.extend([(503, {}, b"")] * 5)
    assert http.request("GET", server.url()).status_code == 503
    assert len(server.seen) == 3


def test_resets_are_retried_for_idempotent_requests_only(server: Scripted) -> None:
    http = net.Http(attempts=3, error=DataError, sleep=lambda s: None)
    server.script.extend(["reset", "reset"])
    assert http.request("PUT", server.url()).text == "ok"
    server.script.append("reset")
    with pytest.raises(DataError) as err:
        http.request("POST", server.url(), data=b"create")
    assert err.value.message.startswith(f"cannot reach POST {server.host}: ConnectionError")
    assert "tried 1 time " in err.value.message
    assert len(server.seen) == 4  # the POST was not sent twice


def test_no_retry_waits_past_a_deadline(server: Scripted) -> None:
    http = net.Http(error=DataError, sleep=lambda s: pytest.fail("waited past the deadline"))
    server.script.append((503, {"Retry-After": "30"}, b""))
    with (
        pytest.raises(DataError, match="did not finish within 5 s"),
        net.deadline(5, "fetching x", error=DataError, hint="h"),
    ):
        http.request("GET", server.url())
    assert net.active() is None


def test_reasons_never_repeat_the_url() -> None:
    from tests.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}/f.bin?authz=MACAROON-SECRET"
    http = net.Http(attempts=1, error=DataError)
    with pytest.raises(DataError) as err:
        http.request("GET", url, label="the input")
    text = err.value.diagnostics()
    assert "MACAROON-SECRET" not in text and "/f.bin" not in text
    assert "ConnectionError: [Errno 111] Connection refused" in text
