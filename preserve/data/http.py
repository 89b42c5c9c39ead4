"""``http://`` and ``https://`` inputs: HEAD to describe, streamed GET to fetch.

Built for dCache-style servers: doors answer HEAD themselves and redirect GETs
to pools with 307 (followed; ``requests`` drops the ``Authorization`` header
when the redirect leaves the host, and dCache authorises the pool URL itself).
Every request asks for checksums (RFC 3230 ``Want-Digest`` and RFC 9530
``Want-Repr-Digest``) so the stager can verify what arrives. Sessions, timeouts
and retries (connection errors, 429, 5xx, ``Retry-After``) are
:mod:`preserve.net`'s; a download that breaks off is resumed with a ``Range``
request guarded by ``If-Range``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import ClassVar
from urllib.parse import urlsplit

import requests

from preserve import net
from preserve.data.base import RemoteInfo, Sink, redact
from preserve.data.digests import WANT_DIGEST, WANT_REPR_DIGEST, checksums_from_headers
from preserve.errors import DataError
from preserve.plugins import NoOptions
from preserve.progress import Progress, Task
from preserve.settings import NetworkSettings, Settings

CHUNK = 1 << 20
WANT = {"Want-Digest": WANT_DIGEST, "Want-Repr-Digest": WANT_REPR_DIGEST}
IDENTITY = {"Accept-Encoding": "identity"}  # no compression: bytes on the wire = the file
_TOKEN_HELP = (
    "set PRESERVE_DATA_TOKEN to a bearer token or macaroon that may read it, "
    "and list the host in PRESERVE_DATA_TOKEN_HOSTS"
)


class HttpStatusError(DataError):
    """The server answered with an HTTP error status (kept in ``status``)."""

    def __init__(self, message: str, *, hint: str | None = None, status: int) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class _Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


class HttpResolver:
    """Plain HTTP(S) downloads with digests, redirects, retries and resume."""

    schemes: ClassVar[frozenset[str]] = frozenset({"http", "https"})
    options = NoOptions
    # Defaults: 5 tries over ~7 s (waits of 0.5, 1, 2, 4 s), unless Retry-After says more.
    RETRIES: ClassVar[int] = 4
    BACKOFF: ClassVar[float] = 0.5

    def __init__(
        self,
        *,
        token: str | None = None,
        token_hosts: Iterable[str] = (),
        retries: int | None = None,
        backoff: float | None = None,
        network: NetworkSettings | None = None,
    ) -> None:
        # The token goes only to hosts the user named: a crate from someone
        # else's DOI must not be able to collect it with a URI of its choosing.
        self._token = token
        self._token_hosts = {h.strip().lower() for h in token_hosts if h.strip()}
        self.retries = self.RETRIES if retries is None else retries
        self.http = net.Http(
            network,
            error=DataError,
            attempts=self.retries + 1,
            backoff=self.BACKOFF if backoff is None else backoff,
        )

    @classmethod
    def from_settings(cls, options: NoOptions, settings: Settings) -> HttpResolver:
        token = settings.data_token.get_secret_value() if settings.data_token else None
        return cls(token=token, token_hosts=settings.data_token_hosts, network=settings.network)

    # -- the resolver interface ------------------------------------------------

    def stat(self, uri: str) -> RemoteInfo:
        try:
            with self.request("HEAD", uri, headers=WANT) as resp:
                return self.describe(uri, resp)
        except HttpStatusError as exc:
            if exc.status not in (405, 501):
                raise
        # Some servers refuse HEAD: read a GET's headers only, closing before the body.
        with self.request("GET", uri, headers={**WANT, **IDENTITY}, stream=True) as resp:
            return self.describe(uri, resp)

    def fetch(self, uri: str, sink: Sink, *, progress: Progress) -> RemoteInfo:
        return self.download(uri, uri, sink, progress)

    # -- shared with the WebDAV resolver --------------------------------------

    def download(self, uri: str, url: str, sink: Sink, progress: Progress) -> RemoteInfo:
        """Stream ``url`` into ``sink``; messages and the result name ``uri``."""
        headers = {**WANT, **IDENTITY}
        resp = self.request("GET", uri, url=url, headers=headers, stream=True)
        info = self.describe(uri, resp)
        name = urlsplit(uri).path.rsplit("/", 1)[-1] or uri
        with progress.task(f"downloading {name}", info.size) as task:
            written = self._download(uri, url, resp, info, headers, sink, task)
        if info.size is not None and written != info.size:
            raise DataError(
                f"download of {redact(uri)} ended after {written} of {info.size} bytes",
                hint="the server closed the transfer early; try again later",
            )
        return info

    def request(
        self,
        method: str,
        uri: str,
        *,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        data: bytes | None = None,
    ) -> requests.Response:
        """Send ``method`` to ``url`` (default ``uri``); errors name ``uri``."""
        target = url or uri
        try:
            resp = self.http.request(
                method,
                target,
                label=redact(uri),
                idempotent=True,  # reads only: PROPFIND carries a query, not data
                headers=dict(headers or {}),
                data=data,
                stream=stream,
                allow_redirects=True,
                auth=self._auth(target),
            )
        except requests.TooManyRedirects as exc:
            raise DataError(
                f"{method} {redact(uri)} was redirected too often",
                hint="the server's redirects loop; report it to the data provider",
            ) from exc
        except requests.RequestException as exc:  # not transient: a bad URL, TLS set-up, ...
            raise DataError(
                f"cannot reach {redact(uri)}: {net.reason(exc)}",
                hint="check the URI, the host name and the [network] settings",
            ) from exc
        if resp.status_code >= 400:
            resp.close()
            raise self.status_error(method, uri, resp)
        return resp

    def status_error(self, method: str, uri: str, resp: requests.Response) -> HttpStatusError:
        status = resp.status_code
        message = f"{method} {redact(uri)} failed: HTTP {status} {resp.reason or ''}".rstrip()
        host = urlsplit(resp.url or uri).hostname or ""
        if status in (404, 410):
            hint = "the data moved or was deleted; check the URI or ask its provider where it went"
        elif status == 401:
            sent = self._auth(uri) is not None
            hint = ("the token was not accepted; it may have expired. " if sent else "") + (
                f"the server wants credentials: {_TOKEN_HELP}"
            )
        elif status == 403:
            hint = f"access to {host} was refused: {_TOKEN_HELP}, or ask for read access"
        elif status in (405, 501) and method == "PROPFIND":
            hint = "the server does not speak WebDAV; use an http(s):// URI instead"
        elif status in net.RETRY_STATUS:
            tries = self.retries + 1
            hint = f"the server is unavailable or overloaded (tried {tries} times); try again later"
        else:
            hint = "check the URI; the server refused the request"
        return HttpStatusError(message, hint=hint, status=status)

    def describe(self, uri: str, resp: requests.Response) -> RemoteInfo:
        """A :class:`RemoteInfo` from response headers; refuses directory listings."""
        h = resp.headers
        media_type = (h.get("Content-Type") or "").split(";")[0].strip() or None
        link = h.get("Link", "")
        metalink = "describedby" in link and "metalink" in link  # how dCache marks folders
        listing = media_type == "text/html" and urlsplit(resp.url or uri).path.endswith("/")
        if metalink or listing:
            resp.close()
            raise folder_error(uri)
        return RemoteInfo(
            uri=uri,
            size=_size(h),
            encoding_format=media_type,
            last_modified=http_date_to_iso(h.get("Last-Modified")),
            etag=h.get("ETag"),
            checksums=checksums_from_headers(h),
        )

    # -- internals -------------------------------------------------------------

    def _auth(self, url: str) -> _Bearer | None:
        if not self._token:
            return None
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host in self._token_hosts or parts.netloc.lower() in self._token_hosts:
            return _Bearer(self._token)
        return None

    def _download(
        self,
        uri: str,
        url: str,
        resp: requests.Response,
        info: RemoteInfo,
        headers: Mapping[str, str],
        sink: Sink,
        task: Task,
    ) -> int:
        """Copy the body into ``sink``, resuming with Range after a broken transfer."""
        resumable = resp.headers.get("Accept-Ranges", "").lower() == "bytes"
        validator = _validator(resp.headers)
        written, failures = 0, 0
        while True:
            try:
                with resp:
                    for chunk in resp.iter_content(CHUNK):
                        sink.write(chunk)
                        written += len(chunk)
                        task.advance(len(chunk))
                return written
            except requests.RequestException as exc:  # not OSError: a full disk is no network fault
                if written == info.size:
                    return written
                failures += 1
                if not resumable or failures > self.retries:
                    raise DataError(
                        f"download of {redact(uri)} broke off after {written} bytes "
                        f"({type(exc).__name__})",
                        hint="the connection failed repeatedly; try again later",
                    ) from exc
            self.http.pause(failures)
            resp = self._resume(uri, url, headers, written, validator)

    def _resume(
        self, uri: str, url: str, headers: Mapping[str, str], offset: int, validator: str | None
    ) -> requests.Response:
        ranged = {**headers, "Range": f"bytes={offset}-"}
        if validator:
            ranged["If-Range"] = validator  # a changed file is sent whole (200), not mixed
        resp = self.request("GET", uri, url=url, headers=ranged, stream=True)
        if resp.status_code != 206 or not resp.headers.get("Content-Range", "").startswith(
            f"bytes {offset}-"
        ):
            resp.close()
            raise DataError(
                f"download of {redact(uri)} broke off and could not be resumed: "
                "the file changed on the server, or it does not support ranges",
                hint="try again; nothing of the partial download is kept",
            )
        return resp


def folder_error(uri: str) -> DataError:
    return DataError(
        f"{redact(uri)} is a folder; only single files can be inputs for now",
        hint="list each file of the folder as an input of its own",
    )


def _size(headers: Mapping[str, str]) -> int | None:
    content_range = headers.get("Content-Range", "")
    if "/" in content_range and not content_range.endswith("/*"):
        return int(content_range.rsplit("/", 1)[1])
    length = headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def _validator(headers: Mapping[str, str]) -> str | None:
    """A strong validator for If-Range: a strong ETag, else Last-Modified."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified")


def http_date_to_iso(value: str | None) -> str | None:
    """RFC 1123 (``Mon, 23 Sep 2019 04:05:24 GMT``) to ISO 8601 UTC, None if unparsable."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
