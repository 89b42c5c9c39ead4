"""CloudEvents over HTTP (``cloudevents+http://127.0.0.1:PORT``): a receiver.

Binary (``ce-*`` headers, the data as body), structured
(``application/cloudevents+json``) and batch
(``application/cloudevents-batch+json``, at most ``max_batch`` events) modes of
the HTTP binding of CloudEvents 1.0. Each event names one file: its data's
``uri``, else its ``subject`` when that is an absolute URI; rules' ``on.path``
globs match that URI, whole (``https://data.example/beamtime/**/*.h5``), so a
rule also says which servers events may send the watcher to.

The answer is ``200`` only after every event of the request is in the journal;
``429`` with ``Retry-After`` when the journal holds ``max_backlog`` events not
yet taken up (senders retry; nothing was journalled); ``400`` for a request that
is not CloudEvents, naming why; ``413`` above 1 MiB. Events no rule matches are
acknowledged and dropped. A file is described as the function will describe it
(``HEAD`` with ``Want-Digest``; a ``file://`` one hashed in place).

``[sources.cloudevents]``: ``bind`` (default: the address's host, loopback
unless told), ``max_backlog``, ``max_batch``, ``retry_after``.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import unquote, urlsplit

from pydantic import Field

from preserve.errors import ConfigError, SourceError
from preserve.events.model import Described, Event, now_iso
from preserve.events.rules import Rule
from preserve.events.sources.base import Sink, SourceOptions
from preserve.functions.invoke import input_material
from preserve.secrets import redact_uri
from preserve.settings import Settings
from preserve.shim.documents import (
    MAX_PARAMETERS,
    ShimError,
    Trigger,
    bad_request,
    cloudevent,
    structured,
)

log = logging.getLogger(__name__)
BATCH = "application/cloudevents-batch+json"
SCHEMES = ("http", "https", "dav", "davs", "file")


class CloudEventsOptions(SourceOptions):
    bind: str | None = Field(None, description="address to listen on (default: the source's host)")
    max_backlog: int = Field(10000, ge=1, description="events not yet taken up before 429")
    max_batch: int = Field(1000, ge=1, description="events in one batch request")
    retry_after: int = Field(5, ge=1, description="seconds a 429 asks senders to wait")


class CloudEventsSource:
    name: ClassVar[str] = "cloudevents"
    options: ClassVar[type[SourceOptions]] = CloudEventsOptions

    def __init__(self, options: CloudEventsOptions, address: str, settings: Settings) -> None:
        parts = urlsplit(address)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ConfigError(
                f"cloudevents+{address}: a receiver is cloudevents+http://HOST:PORT",
                hint="e.g. cloudevents+http://127.0.0.1:8765 (TLS: put a proxy in front)",
            )
        self.opts = options
        self.address = f"cloudevents+{address.rstrip('/')}"
        self.host = options.bind or parts.hostname
        self.port = parts.port
        self.settings = settings

    @classmethod
    def from_settings(
        cls, options: CloudEventsOptions, settings: Settings, /, *, address: str
    ) -> Self:
        return cls(options, address, settings)

    def uri(self, path: str) -> str:
        return path

    def watched(self, glob: str) -> str:
        return glob

    def describe(self, uri: str) -> Described | None:
        if urlsplit(uri).scheme == "file":
            path = unquote(urlsplit(uri).path)
            try:
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    return None  # a link, a pipe, a device: never read on the host
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise SourceError(f"{redact_uri(uri)}: {exc.strerror}") from exc
        material = input_material(self.settings, uri)
        if material is None:
            raise SourceError(
                f"{redact_uri(uri)}: the storage did not say its size and checksum",
                hint="the storage must answer HEAD with Want-Digest (dCache does)",
            )
        return Described(uri, material["size"], material["checksum"])

    def reconcile(self, rules: Sequence[Rule], sink: Sink) -> int:
        return 0  # senders keep nothing to list; they retry until answered 2xx

    def run(self, rules: Sequence[Rule], sink: Sink, stop: threading.Event) -> None:
        handler = type("Receiver", (_Receiver,), {"source": self, "sink": sink})
        try:
            server = ThreadingHTTPServer((self.host, self.port), handler)
        except OSError as exc:
            raise SourceError(
                f"{self.address}: cannot listen on {self.host}:{self.port}: {exc.strerror}",
                hint="is another program (or watcher) listening there?",
            ) from exc
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, args=(0.2,), daemon=True)
        thread.start()
        log.info("receiving CloudEvents on %s:%s", self.host, self.port)
        try:
            stop.wait()
        finally:
            server.shutdown()
            server.server_close()

    def events(self, headers: dict[str, str], body: bytes) -> list[Event]:
        """The events of one request; ShimError (with its status) when it is not one."""
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == BATCH:
            try:
                items = json.loads(body)
            except ValueError as exc:
                raise bad_request("the batch is not JSON") from exc
            if not isinstance(items, list):
                raise bad_request("a batch is a JSON array of events")
            if len(items) > self.opts.max_batch:
                raise ShimError(f"a batch has at most {self.opts.max_batch} events", status=413)
            return [self._event(*structured(item)) for item in items]
        found = cloudevent(headers, body)
        if found is None:
            raise bad_request(
                "not a CloudEvent: no ce-specversion header and no CloudEvents content type",
                hint="send binary (ce-* headers), structured or batch mode",
            )
        return [self._event(*found)]

    def _event(self, data: Any, trigger: Trigger) -> Event:
        attrs = trigger.attributes
        uri = data.get("uri") if isinstance(data, dict) else None
        if not isinstance(uri, str):
            uri = attrs.get("subject", "")
        parts = urlsplit(uri)
        if parts.scheme not in SCHEMES or not (parts.netloc or parts.scheme == "file"):
            raise bad_request(
                f"CloudEvent {attrs.get('id')} names no file",
                hint="give the file's absolute URI as data.uri or as the subject",
            )
        return Event(
            self.address,
            uri,
            uri,
            attrs["type"],
            attrs["id"],
            attrs.get("time") or now_iso(),
            origin=attrs["source"],
        )


class _Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    source: CloudEventsSource
    sink: Sink

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(
        self, status: int, document: dict[str, Any], extra: dict[str, str] | None = None
    ) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            return self._answer(411, {"error": "a Content-Length is required"})
        if int(length) > MAX_PARAMETERS:
            self.close_connection = True
            return self._answer(413, {"error": "a request is at most 1 MiB"})
        body = self.rfile.read(int(length))
        try:
            events = self.source.events({k.lower(): v for k, v in self.headers.items()}, body)
        except ShimError as exc:
            return self._answer(exc.status, {"error": exc.message, "hint": exc.hint})
        if not self.sink.offer(events, limit=self.source.opts.max_backlog):
            wait = {"Retry-After": str(self.source.opts.retry_after)}
            return self._answer(429, {"error": "the watcher's queue is full"}, wait)
        self._answer(200, {"accepted": len(events)})

    def do_GET(self) -> None:
        self._answer(200, {"ok": True, "source": self.source.address})
