"""HTTP for DOI services: bounded retries on 429 and 5xx, honouring ``Retry-After``.

DataCite rate-limits per IP address and asks clients to back off incrementally
(https://support.datacite.org/docs/rate-limit). Waiting goes through an
injectable ``sleep`` so tests need not wait for real.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from preserve import __version__
from preserve.errors import DoiError

USER_AGENT = f"preserve/{__version__} (reproducibility toolkit; python-requests)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True)
class Retry:
    attempts: int = 5  # requests in total, the first included
    base: float = 1.0  # first backoff without Retry-After, doubled each time
    max_wait: float = 60.0  # no single wait is longer


class ApiClient:
    """One service's base URL, optional Basic auth, and the retry policy."""

    def __init__(
        self,
        base_url: str,
        *,
        service: str,
        auth: tuple[str, str] | None = None,
        retry: Retry | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.service = service
        self.retry = retry or Retry()
        self.sleep = sleep
        self.timeout = timeout
        self.session = requests.Session()
        self.session.auth = auth
        self.session.headers["User-Agent"] = USER_AGENT

    def __repr__(self) -> str:  # never the credentials
        return f"ApiClient({self.base_url!r}, service={self.service!r})"

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        allow_redirects: bool = True,
    ) -> tuple[requests.Response, int]:
        """The final response and how many attempts it took.

        429 and 5xx are retried; other statuses are returned for the caller to map.
        """
        url = f"{self.base_url}/{path.lstrip('/')}"
        waited = 0.0
        for attempt in range(1, self.retry.attempts + 1):
            resp = self._send(method, url, json, params, headers, allow_redirects)
            if resp.status_code not in RETRY_STATUSES:
                return resp, attempt
            if attempt == self.retry.attempts:
                break
            wait = retry_after_seconds(resp.headers.get("Retry-After"))
            if wait is None:
                wait = self.retry.base * 2 ** (attempt - 1)
            wait = min(wait, self.retry.max_wait)
            waited += wait
            self.sleep(wait)
        raise DoiError(
            f"{self.service} at {self.base_url} answered {method} {path} with HTTP "
            f"{resp.status_code} {resp.reason or ''}".rstrip()
            + f" {self.retry.attempts} times; gave up after waiting {waited:.0f} s",
            hint=(
                "DataCite limits requests per IP address (https://support.datacite.org/docs/"
                "rate-limit): wait a few minutes and run the command again"
                if resp.status_code == 429
                else "the service has a problem (see https://status.datacite.org for DataCite); "
                "try again later"
            ),
        )

    def _send(
        self,
        method: str,
        url: str,
        json: Mapping[str, Any] | None,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        allow_redirects: bool,
    ) -> requests.Response:
        try:
            return self.session.request(
                method,
                url,
                json=json,
                params=params,
                headers=dict(headers or {}),
                timeout=self.timeout,
                allow_redirects=allow_redirects,
            )
        except requests.RequestException as exc:
            raise DoiError(
                f"cannot reach {self.service} at {self.base_url}: {type(exc).__name__}",
                hint="check the network connection and the endpoint in the configuration",
            ) from exc


def json_body(resp: requests.Response) -> dict[str, Any]:
    """The response's JSON object, or {} when it has none."""
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def error_items(body: Mapping[str, Any], status: int) -> list[tuple[str | None, str]]:
    """``(source, title)`` of each JSON:API error; ``source`` is a string or a pointer."""
    out: list[tuple[str | None, str]] = []
    for err in body.get("errors") or []:
        if not isinstance(err, Mapping):
            continue
        source = err.get("source")
        if isinstance(source, Mapping):  # JSON:API {"pointer": "/data/attributes/url"}
            source = str(source.get("pointer") or source.get("parameter") or "")
            source = source.removeprefix("/data/attributes/").replace("/", ".") or None
        title = str(err.get("title") or err.get("detail") or "").strip()
        out.append((str(source) if source else None, title or f"HTTP {status}"))
    return out
