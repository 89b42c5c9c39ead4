"""A small HTTP client on urllib for the shim: timeouts, retries, redirects, tokens.

The host side uses ``preserve.net``; the shim, stdlib only, has this. Every
request has a socket timeout and the whole call a deadline. Transient answers
(429, 503, 502, 504, connection resets) are retried with back-off, honouring
``Retry-After`` while the deadline allows. A bearer token (a macaroon, an OIDC
token) is sent only to the hosts named with it, and never across a redirect to
another host (a dCache door redirects downloads to a pool). ``dav://`` and
``davs://`` are WebDAV over ``http://`` and ``https://``.
"""

from __future__ import annotations

import email.utils
import os
import socket
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from typing import IO, Iterable, Mapping
from urllib.parse import urlsplit

from preserve.shim.documents import ShimError
from preserve.shim.redact import redact_uri

TRANSIENT = frozenset((429, 502, 503, 504))
SCHEMES = {"http": "http", "https": "https", "dav": "http", "davs": "https"}


def http_url(uri: str) -> str:
    """The http(s) URL of an http(s)/dav(s) URI."""
    scheme, sep, rest = uri.partition("://")
    mapped = SCHEMES.get(scheme.lower())
    if not sep or mapped is None:
        raise ShimError(f"{redact_uri(uri)} is not an http(s):// or dav(s):// URI", status=400)
    return f"{mapped}://{rest}"


class _NoCrossHostAuth(urllib.request.HTTPRedirectHandler):
    """Follow redirects (307 too, for GET and HEAD) without carrying credentials elsewhere."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urlsplit(newurl).netloc != urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


class Response:
    """An answer: status, headers (case-insensitive), and the open body."""

    def __init__(self, status: int, headers: Mapping[str, str], body: IO[bytes] | None) -> None:
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def read(self, limit: int) -> bytes:
        """At most ``limit`` bytes of the body (an answer that is larger is refused)."""
        if self.body is None:
            return b""
        data = self.body.read(limit + 1)
        if len(data) > limit:
            raise ShimError(f"an answer of more than {limit} bytes was refused", status=502)
        return data

    def close(self) -> None:
        if self.body is not None:
            self.body.close()


class Client:
    def __init__(
        self,
        *,
        token: str | None = None,
        token_hosts: Iterable[str] = (),
        timeout: float = 60.0,
        retries: int = 4,
        file_roots: Iterable[str] | None = None,
    ) -> None:
        self._token = token
        # Folders file:// URIs may name (None: any, on the host); the shim is given them.
        self.file_roots = None if file_roots is None else tuple(r for r in file_roots if r)
        self._token_hosts = {h.strip().lower() for h in token_hosts if h.strip()}
        self.timeout = timeout
        self.retries = retries
        self._opener = urllib.request.build_opener(_NoCrossHostAuth())

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Client:
        """A client with the storage token the platform gave the function, if any:
        ``PRESERVE_DATA_TOKEN``, sent only to ``PRESERVE_DATA_TOKEN_HOSTS`` (comma-separated);
        ``file://`` URIs only under ``PRESERVE_SHIM_FILES`` (folders, ``:``-separated)."""
        hosts = environ.get("PRESERVE_DATA_TOKEN_HOSTS", "").split(",")
        roots = environ.get("PRESERVE_SHIM_FILES", "").split(os.pathsep)
        token = environ.get("PRESERVE_DATA_TOKEN") or None
        return cls(token=token, token_hosts=hosts, file_roots=roots)

    def _authorised(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        return bool(self._token) and (
            host in self._token_hosts or parts.netloc in self._token_hosts
        )

    def request(
        self,
        method: str,
        uri: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: bytes | IO[bytes] | None = None,
        length: int | None = None,
        deadline: float | None = None,
        ok: Iterable[int] = (200,),
    ) -> Response:
        """Send one request (retried when transient); a ShimError for other statuses."""
        url = http_url(uri)
        expected = set(ok)
        attempt = 0
        while True:
            attempt += 1
            if hasattr(data, "seek"):
                data.seek(0)  # type: ignore[union-attr]
            try:
                response = self._send(method, url, headers or {}, data, length)
            except (urllib.error.URLError, OSError, socket.timeout) as exc:
                reason = getattr(exc, "reason", exc)
                if attempt > self.retries or _late(deadline, 1.0):
                    raise ShimError(
                        f"{method} {redact_uri(uri)} failed: {reason}",
                        hint="the storage is unreachable from the function",
                        status=502,
                    ) from exc
                time.sleep(min(2.0 ** (attempt - 1), 8.0))
                continue
            if response.status in expected:
                return response
            wait = _retry_after(response.header("retry-after"), attempt)
            if (
                response.status in TRANSIENT
                and attempt <= self.retries
                and not _late(deadline, wait)
            ):
                response.close()
                time.sleep(wait)
                continue
            body = response.read(4096).decode("utf-8", "replace").strip()
            response.close()
            raise status_error(method, uri, response.status, body)

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | IO[bytes] | None,
        length: int | None,
    ) -> Response:
        request = urllib.request.Request(url, data=data, method=method)
        for key, value in headers.items():
            request.add_header(key, value)
        if length is not None:
            request.add_header("Content-Length", str(length))
        if self._authorised(url):
            request.add_header("Authorization", f"Bearer {self._token}")
        try:
            answer = self._opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            return Response(exc.code, dict(exc.headers or {}), exc)
        return Response(answer.status, dict(answer.headers), answer)


def status_error(method: str, uri: str, status: int, body: str) -> ShimError:
    where = f"{method} {redact_uri(uri)} answered HTTP {status}"
    detail = f": {body[:200]}" if body else ""
    if status in (401, 403):
        return ShimError(
            where + detail,
            hint="give the function a token for this storage (PRESERVE_DATA_TOKEN, "
            "with the host in PRESERVE_DATA_TOKEN_HOSTS)",
            status=502,
        )
    if status == 404:
        return ShimError(where, hint="check the URI", status=404 if method != "PUT" else 502)
    return ShimError(where + detail, status=502)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None if absent or bad.
    The host's network stack uses this one too (``preserve.net.retry_after``)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def _retry_after(value: str | None, attempt: int) -> float:
    """Seconds to wait: ``Retry-After``, else exponential."""
    seconds = retry_after_seconds(value)
    return seconds if seconds is not None else min(0.5 * 2.0 ** (attempt - 1), 8.0)


def _late(deadline: float | None, wait: float) -> bool:
    return deadline is not None and time.monotonic() + wait > deadline
