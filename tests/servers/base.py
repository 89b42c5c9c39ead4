"""Shared HTTP plumbing of the faithful test servers: a loopback server in a thread,
a request log, and a handler base with the small helpers every server needs.

Each server module builds on :class:`LoopbackServer` and :class:`Handler`; what a
server answers, and what it refuses, lives in that module and its docstring.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import traceback
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

MAX_BODY = 64 * 1024 * 1024  # test servers refuse larger request bodies with 413


@dataclass
class Recorded:
    """One request as the server saw it (the body only when a handler read it)."""

    role: str
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


class _Threaded(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], errors: list[str]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.errors = errors

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-response is normal for streams and aborted transfers.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            self.errors.append(traceback.format_exc())


class LoopbackServer:
    """A ThreadingHTTPServer on 127.0.0.1 and a free port, served from a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], errors: list[str]) -> None:
        self.httpd = _Threaded(handler, errors)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        port: int = self.httpd.server_address[1]
        return port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def handler_for(base: type[Handler], owner: object, role: str = "") -> type[Handler]:
    """A subclass of ``base`` bound to the server object ``owner`` (as ``self.owner``)."""
    return type(base.__name__, (base,), {"owner": owner, "role": role or base.role})


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 handler with reply helpers, auth parsing and request recording."""

    protocol_version = "HTTP/1.1"
    owner: Any = None
    role = ""
    _body: bytes | None = None

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def handle_one_request(self) -> None:
        self._body = None  # one handler serves every request of a keep-alive connection
        super().handle_one_request()

    # -- request ----------------------------------------------------------------------

    @property
    def url_path(self) -> str:
        return unquote(urlsplit(self.path).path)

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query, keep_blank_values=True)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def body(self) -> bytes:
        """The request body (once; chunked or with Content-Length), at most MAX_BODY."""
        if self._body is None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                self._body = self._read_chunked()
            else:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    raise ValueError("request body too large")
                self._body = self.rfile.read(length) if length else b""
        return self._body

    def _read_chunked(self) -> bytes:
        out = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return bytes(out)
            out += self.rfile.read(size)
            self.rfile.readline()
            if len(out) > MAX_BODY:
                raise ValueError("request body too large")

    def json_body(self) -> Any:
        """The body parsed as JSON; ``ValueError`` when it is not JSON."""
        return json.loads(self.body() or b"null")

    def bearer(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth[7:].strip() if auth[:7].lower() == "bearer " else None

    def basic(self) -> tuple[str, str] | None:
        auth = self.headers.get("Authorization", "")
        if auth[:6].lower() != "basic ":
            return None
        try:
            user, _, password = base64.b64decode(auth[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user, password

    def record(
        self, log: list[Recorded], lock: AbstractContextManager[Any], with_body: bool = False
    ) -> None:
        body = self.body() if with_body else b""
        entry = Recorded(self.role, self.command, self.path, dict(self.headers), body)
        with lock:
            log.append(entry)

    # -- response ---------------------------------------------------------------------

    def reply(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        reason: str | None = None,
    ) -> None:
        self.send_response(status, reason)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def reply_json(self, status: int, document: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(document, separators=(",", ":")).encode()
        self.reply(status, body, {"Content-Type": "application/json", **(headers or {})})

    def reply_text(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        content_type = {"Content-Type": "text/plain; charset=utf-8"}
        self.reply(status, text.encode(), {**content_type, **(headers or {})})

    def start_chunked(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
