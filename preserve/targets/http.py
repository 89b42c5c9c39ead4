"""Calling a platform's endpoint: one place that turns HTTP answers into target errors.

Every target sends JSON and reads JSON; what goes wrong is the same everywhere
and is said the same way, naming the target, the function and the cause:
unreachable (connection refused, DNS, TLS), credentials refused (401, 403),
busy (429, 503: retried while ``Retry-After`` and the deadline allow, then a
:class:`~preserve.errors.TargetError` carrying ``retry_after``), a definition
or request refused (other 4xx, with the platform's message), a platform
failure (5xx). Answers are read with a size limit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from preserve import net
from preserve.errors import TargetError
from preserve.shim.redact import redact_uri

MAX_ANSWER = 8 << 20
BUSY = frozenset((429, 503))


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    document: Any  # parsed JSON (None for an empty body), or the text when JSON was not asked


@dataclass(frozen=True)
class Endpoint:
    """Who is called, for messages: ``oscar+https://host: function NAME: ...``."""

    target: str
    function: str

    def error(
        self, cause: str, hint: str | None = None, retry_after: float | None = None
    ) -> TargetError:
        return TargetError(
            f"{self.target}: function {self.function}: {cause}", hint=hint, retry_after=retry_after
        )


def call(
    session: requests.Session,
    endpoint: Endpoint,
    method: str,
    url: str,
    *,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    ok: Iterable[int] = (200, 201, 202, 204),
    retries: int = 3,
    deadline: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    expect_json: bool = True,
) -> Answer:
    """Send ``body`` as JSON; the answer for an ``ok`` status, else a TargetError.
    ``expect_json=False``: the answer's text, whatever it is (logs)."""
    expected = set(ok)
    attempt = 0
    while True:
        attempt += 1
        try:
            resp = session.request(
                method,
                url,
                json=body,
                headers=dict(headers or {}),
                timeout=(10.0, timeout),
                stream=True,
            )
        except requests.Timeout as exc:
            raise endpoint.error(
                f"{redact_uri(url)} did not answer within {timeout:g} s",
                hint="the platform may still be running it; see `preserve logs`",
            ) from exc
        except requests.RequestException as exc:
            raise endpoint.error(
                f"{redact_uri(url)} is unreachable ({net.reason(exc)})",
                hint="check the address and that the platform is up",
            ) from exc
        with resp:
            data = _read(resp, endpoint)
        if resp.status_code in expected:
            document = (
                _json(data, endpoint, url) if expect_json else data.decode("utf-8", "replace")
            )
            return Answer(resp.status_code, dict(resp.headers), document)
        wait = net.retry_after(resp.headers.get("Retry-After"))
        if resp.status_code in BUSY:
            late = deadline is not None and time.monotonic() + (wait or 1.0) > deadline
            if attempt <= retries and not late:
                sleep(wait if wait is not None else min(2.0**attempt, 30.0))
                continue
            raise endpoint.error(
                f"the platform is busy (HTTP {resp.status_code}){_message(data)}",
                hint="try again later" + (f" (it asked for {wait:g} s)" if wait else ""),
                retry_after=wait,
            )
        raise _refusal(endpoint, method, url, resp.status_code, data)


def _refusal(endpoint: Endpoint, method: str, url: str, status: int, data: bytes) -> TargetError:
    what = f"{method} {redact_uri(url)} answered HTTP {status}{_message(data)}"
    if status in (401, 403):
        return endpoint.error(
            f"the platform refused the credentials: {what}",
            hint="check the target's credentials in its [targets.NAME] settings "
            "or the environment (they are never printed)",
        )
    if 400 <= status < 500:
        return endpoint.error(f"the platform rejected the request: {what}")
    return endpoint.error(f"the platform failed: {what}")


def _read(resp: requests.Response, endpoint: Endpoint) -> bytes:
    data = resp.raw.read(MAX_ANSWER + 1, decode_content=True)
    if len(data) > MAX_ANSWER:
        raise endpoint.error(f"the answer is larger than {MAX_ANSWER >> 20} MiB; refused")
    return bytes(data)


def _json(data: bytes, endpoint: Endpoint, url: str) -> Any:
    if not data.strip():
        return None
    try:
        return json.loads(data)
    except ValueError as exc:
        raise endpoint.error(f"{redact_uri(url)} answered something that is not JSON") from exc


def _message(data: bytes) -> str:
    """The platform's own message, short: ``{"error": ...}`` or the text."""
    text = data.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
        if isinstance(parsed, dict):
            text = str(parsed.get("error") or parsed.get("message") or text)
    except ValueError:
        pass
    return f": {text[:300]}" if text else ""
