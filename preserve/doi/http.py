"""HTTP for DOI services, over :mod:`preserve.net`: retries on 429 and 5xx honour ``Retry-After``.

DataCite rate-limits per IP address and asks clients to back off incrementally
(https://support.datacite.org/docs/rate-limit). Waiting goes through an
injectable ``sleep`` so tests need not wait for real.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from preserve import net
from preserve.errors import DoiError
from preserve.settings import NetworkSettings


@dataclass(frozen=True)
class Retry:
    attempts: int = 5  # requests in total, the first included
    base: float = 1.0  # first backoff without Retry-After, doubled each time


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
        network: NetworkSettings | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.service = service
        retry = retry or Retry()
        self.http = net.Http(
            network, error=DoiError, attempts=retry.attempts, backoff=retry.base, sleep=sleep
        )
        self.http.session.auth = auth

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
    ) -> requests.Response:
        """The final response; 429 and 5xx are retried, other statuses are the caller's."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        resp = self.http.request(
            method,
            url,
            label=f"{self.service} at {self.base_url}",
            json=json,
            params=params,
            headers=dict(headers or {}),
            allow_redirects=allow_redirects,
        )
        if resp.status_code not in net.RETRY_STATUS:
            return resp
        raise DoiError(
            f"{self.service} at {self.base_url} answered {method} {path} with HTTP "
            f"{resp.status_code} {resp.reason or ''}".rstrip()
            + f" {self.http.attempts} times; gave up",
            hint=(
                "DataCite limits requests per IP address (https://support.datacite.org/docs/"
                "rate-limit): wait a few minutes and run the command again"
                if resp.status_code == 429
                else "the service has a problem (see https://status.datacite.org for DataCite); "
                "try again later"
            ),
        )


def json_body(resp: requests.Response) -> dict[str, Any]:
    """The response's JSON object, or {} when it has none."""
    try:
        body = resp.json()  # bounded: the session read at most net.BODY_MAX bytes
    except (ValueError, RecursionError):
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
