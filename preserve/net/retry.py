"""Requests with retries: one policy for registries, DataCite and data servers.

Retried: connection failures (refused, reset, timed out) and HTTP 429, 500, 502,
503 and 504, with exponential backoff or as ``Retry-After`` asks (delta-seconds
or an HTTP date), never waiting longer than ``network.max_retry_wait`` at a time
nor past an active deadline. A request whose body may have reached the server
(POST, PATCH) is not sent again after a connection failure unless the caller
says it is safe; a read timeout is retried once. What is left after the last
attempt is the caller's to map: a failing status comes back as the response, a
connection failure as ``error``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from preserve.errors import PreserveError, ServiceUnavailable
from preserve.net.deadline import active
from preserve.net.hosts import server_of
from preserve.net.limits import BODY_MAX
from preserve.net.session import session
from preserve.settings import NetworkSettings
from preserve.shim.http import retry_after_seconds as retry_after  # one parser, stdlib

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
TRANSIENT: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PROPFIND"})
# A server silent for a whole read timeout twice in a row is not going to answer:
# give up then, rather than after every attempt (5 x 60 s would look like a hang).
SILENCES = 2


def reason(exc: BaseException) -> str:
    """``ConnectionError: [Errno 111] Connection refused``: short, and never the URL.

    urllib3 wraps the cause in a text that repeats the URL, query included (which
    may carry a token); only the cause's last clause is kept.
    """
    inner = exc.args[0] if exc.args else None
    cause = getattr(inner, "reason", None)
    if isinstance(cause, BaseException):  # urllib3's MaxRetryError: "... with url: ..."
        inner = cause
    text = str(inner).rsplit(": ", 1)[-1] if isinstance(inner, BaseException) else str(inner or "")
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


class Http:
    """A session from :func:`preserve.net.session` plus the retry policy."""

    def __init__(
        self,
        network: NetworkSettings | None = None,
        *,
        error: type[PreserveError] = ServiceUnavailable,
        attempts: int = 5,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        max_body: int = BODY_MAX,
        body_error: type[PreserveError] | None = None,
    ) -> None:
        """``error`` ends a request that could not reach the server; ``body_error``
        (default ``error``) refuses an answer over ``max_body`` bytes."""
        self.network = network or NetworkSettings()
        self.error = error
        self.attempts = attempts  # requests in total, the first included
        self.backoff = backoff  # the first wait without Retry-After, doubled each time
        self.sleep = sleep
        self.session = session(self.network, error=body_error or error, max_body=max_body)

    def request(
        self,
        method: str,
        url: str,
        *,
        label: str | None = None,
        attempts: int | None = None,
        idempotent: bool | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send with retries; ``label`` names the request in messages (default: the server)."""
        return self.retrying(
            lambda: self.session.request(method, url, **kwargs),
            label=label or f"{method} {server_of(url)}",
            attempts=attempts,
            idempotent=method.upper() in IDEMPOTENT if idempotent is None else idempotent,
        )

    def retrying(
        self,
        send: Callable[[], requests.Response],
        *,
        label: str,
        attempts: int | None = None,
        idempotent: bool = True,
    ) -> requests.Response:
        """Call ``send`` until it answers with a status that is not worth retrying."""
        tries = attempts or self.attempts
        started = time.monotonic()
        silences = 0
        for attempt in range(1, tries + 1):
            try:
                resp = send()
            except TRANSIENT as exc:
                silences += isinstance(exc, requests.ReadTimeout)
                if attempt == tries or not idempotent or silences == SILENCES:
                    raise self.unreachable(label, exc, attempt, started) from exc
                self.pause(attempt)
                continue
            if resp.status_code not in RETRY_STATUS or attempt == tries:
                return resp
            asked = retry_after(resp.headers.get("Retry-After"))
            resp.close()
            self.pause(attempt, asked)
        raise AssertionError("unreachable")

    def unreachable(
        self, label: str, exc: BaseException, attempts: int, started: float
    ) -> PreserveError:
        took = time.monotonic() - started
        return self.error(
            f"cannot reach {label}: {reason(exc)} (tried {attempts} "
            f"{'time' if attempts == 1 else 'times'} over {took:.0f} s)",
            hint="check that the server is up, the host name, the network and any proxy "
            "settings ([network] in the config file, HTTPS_PROXY)",
        )

    def wait_for(self, attempt: int, asked: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: as asked, else backoff; capped."""
        wait = asked if asked is not None else self.backoff * 2 ** (attempt - 1)
        return min(max(wait, 0.0), self.network.max_retry_wait)

    def pause(self, attempt: int, asked: float | None = None) -> None:
        """Back off before attempt ``attempt + 1``; never past an active deadline."""
        wait = self.wait_for(attempt, asked)
        limit = active()
        if limit is not None and wait >= limit.remaining():
            raise limit.exceeded()
        if wait > 0:
            self.sleep(wait)
