"""The dCache frontend REST API as the watcher uses it: channels, inotify subscriptions,
the event stream, and the namespace (dCache User Guide ``frontend.md``; the shapes
are in ``functions-and-events.md`` §1).

* ``GET /events/channels?client-id=X`` finds the channel a watcher made before;
  ``POST /events/channels {"client-id": X}`` makes one (``201`` + ``Location``);
  ``PATCH {"timeout": S}`` keeps it while the watcher is away.
* ``POST .../subscriptions/inotify {"path", "flags": [...]}`` (flags a JSON array)
  -> ``201`` or, for a path already watched on the channel, ``303``; both with
  ``Location``. ``GET .../subscriptions`` lists them, ``GET`` one its selector.
* ``GET /events/channels/ID`` with ``Accept: text/event-stream`` and
  ``Last-Event-ID`` is the stream.
* ``GET /namespace/PATH?checksum=true[&children=true&limit=&offset=]``: size,
  ``fileType``, ``checksums: [{"type": "ADLER32", "value": HEX}]``.

Credentials (a bearer token or macaroon, or Basic) go in the ``Authorization``
header, never in a URL, a message or a log. A vanished channel is
:class:`ChannelGone`; refused credentials a ConfigError; anything else a
SourceError naming the frontend.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from preserve.errors import ConfigError, SourceError
from preserve.secrets import redact_uri

PAGE = 1000
TIMEOUT = (10.0, 60.0)
STREAM_TIMEOUT = (10.0, 300.0)  # a quiet stream is opened again after this
MAX_ANSWER = 16 << 20
# Jackson's names of dCache's ChecksumType -> the names the shim's digests use.
CHECKSUM_TYPES = {
    "ADLER32": "adler32",
    "MD5_TYPE": "md5",
    "MD5": "md5",
    "SHA1": "sha1",
    "SHA256": "sha256",
    "SHA512": "sha512",
}


class ChannelGone(Exception):
    """The channel (or a subscription on it) no longer exists: dCache restarted, or it expired."""


class Frontend:
    """One dCache frontend (``https://HOST:3880/api/v1``)."""

    def __init__(self, api: str, session: requests.Session, authorization: str | None) -> None:
        self.api = api.rstrip("/")
        self.session = session
        self.headers = {"Authorization": authorization} if authorization else {}

    # -- plumbing ---------------------------------------------------------------------

    def _request(
        self, method: str, url: str, *, json: Any = None, ok: tuple[int, ...] = (200,), **kw: Any
    ) -> requests.Response:
        headers = {**self.headers, **kw.pop("headers", {})}
        try:
            resp = self.session.request(
                method,
                url,
                json=json,
                headers=headers,
                timeout=kw.pop("timeout", TIMEOUT),
                allow_redirects=False,
                **kw,
            )
        except requests.RequestException as exc:
            raise SourceError(
                f"dCache {redact_uri(self.api)} is unreachable ({type(exc).__name__})",
                hint="check the rule's on.source and that the frontend is up; "
                "the watcher tries again",
            ) from exc
        if resp.status_code in ok:
            return resp
        if resp.status_code in (401, 403):
            raise ConfigError(
                f"dCache {redact_uri(self.api)} refused the credentials ({resp.status_code}) "
                f"for {method} {redact_uri(url)}",
                hint="set token (a bearer token or macaroon) or username and password in "
                "[sources.dcache]; storage events need an authenticated user",
            )
        if resp.status_code == 404 and "/events/channels/" in url:
            raise ChannelGone(url)
        raise SourceError(
            f"dCache {redact_uri(self.api)} answered {method} {redact_uri(url)} with "
            f"HTTP {resp.status_code}{_message(resp)}"
        )

    def _json(self, resp: requests.Response) -> Any:
        if len(resp.content) > MAX_ANSWER:
            raise SourceError(f"dCache {redact_uri(self.api)} answered more than 16 MiB")
        try:
            return resp.json()
        except ValueError as exc:
            raise SourceError(f"dCache {redact_uri(self.api)} answered something not JSON") from exc

    def _absolute(self, location: str | None) -> str:
        if not location:
            raise SourceError(f"dCache {redact_uri(self.api)} answered without a Location")
        if location.startswith("/"):
            parts = urlsplit(self.api)
            return f"{parts.scheme}://{parts.netloc}{location}"
        return location

    # -- channels and subscriptions ---------------------------------------------------

    def channel(self, client_id: str, remembered: str | None) -> str:
        """The channel this watcher used before (``remembered``, else found by
        ``client-id``), or a new one."""
        if remembered and remembered.startswith(self.api + "/events/channels/"):
            try:
                self._request("GET", remembered, headers={"Accept": "application/json"})
                return remembered
            except ChannelGone:
                pass
        listed = self._json(
            self._request("GET", f"{self.api}/events/channels", params={"client-id": client_id})
        )
        if isinstance(listed, list) and listed and isinstance(listed[0], str):
            return self._absolute(listed[0])
        resp = self._request(
            "POST", f"{self.api}/events/channels", json={"client-id": client_id}, ok=(201,)
        )
        return self._absolute(resp.headers.get("Location"))

    def keep(self, channel: str, seconds: int) -> None:
        """Keep the channel (and its events) this long while the watcher is away."""
        self._request("PATCH", channel, json={"timeout": seconds}, ok=(200, 204))

    def subscribe(self, channel: str, path: str, flags: list[str]) -> str:
        """Watch the directory ``path`` (not recursively); the subscription's URL."""
        resp = self._request(
            "POST",
            f"{channel}/subscriptions/inotify",
            json={"path": path, "flags": flags},
            ok=(201, 303),
        )
        return self._absolute(resp.headers.get("Location"))

    def subscriptions(self, channel: str) -> dict[str, str]:
        """The channel's inotify subscriptions: URL -> watched path."""
        urls = self._json(self._request("GET", f"{channel}/subscriptions"))
        out = {}
        for url in urls if isinstance(urls, list) else []:
            if isinstance(url, str) and "/subscriptions/inotify/" in url:
                selector = self._json(self._request("GET", self._absolute(url)))
                if isinstance(selector, dict) and isinstance(selector.get("path"), str):
                    out[self._absolute(url)] = selector["path"]
        return out

    def stream(self, channel: str, last_event_id: str | None) -> requests.Response:
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        return self._request("GET", channel, headers=headers, stream=True, timeout=STREAM_TIMEOUT)

    # -- namespace --------------------------------------------------------------------

    def _namespace(self, path: str) -> str:
        return f"{self.api}/namespace{quote(path)}"

    def stat(self, path: str) -> dict[str, Any] | None:
        """The namespace entry of ``path`` with its checksums, or None if there is none."""
        resp = self._request(
            "GET", self._namespace(path), params={"checksum": "true"}, ok=(200, 404)
        )
        if resp.status_code == 404:
            return None
        entry = self._json(resp)
        return entry if isinstance(entry, dict) else None

    def children(self, path: str) -> Iterator[dict[str, Any]]:
        """The entries of the directory ``path`` (``fileName`` each), page by page."""
        offset = 0
        while True:
            params = {"children": "true", "checksum": "true", "limit": PAGE, "offset": offset}
            resp = self._request("GET", self._namespace(path), params=params, ok=(200, 404))
            if resp.status_code == 404:
                return
            page = (self._json(resp) or {}).get("children") or []
            for child in page:
                if isinstance(child, dict) and isinstance(child.get("fileName"), str):
                    yield child
            if len(page) < PAGE:
                return
            offset += PAGE


def checksums(entry: Mapping[str, Any]) -> dict[str, str]:
    """A namespace entry's checksums, as algorithm -> lower-case hex."""
    out = {}
    for item in entry.get("checksums") or []:
        if isinstance(item, dict):
            algorithm = CHECKSUM_TYPES.get(str(item.get("type", "")).upper())
            value = str(item.get("value", "")).lower()
            if algorithm and value:
                out[algorithm] = value.rjust(8, "0") if algorithm == "adler32" else value
    return out


def _message(resp: requests.Response) -> str:
    try:
        errors = resp.json().get("errors") or []
        text = str(errors[0].get("message", "")) if errors else ""
    except (ValueError, AttributeError, IndexError, TypeError):
        text = ""
    return f": {text[:200]}" if text else ""
