"""A hostile data server on 127.0.0.1: a plain HTTP file server that misbehaves on cue.

What it imitates: the web server or dCache door behind an input URI of a crate
someone else published. Honest, it answers ``HEAD`` and ``GET`` for its files
like any static server (``Content-Length``, ``Last-Modified``, ``ETag``,
``Accept-Ranges: bytes``, ``Range`` -> 206) and ``PROPFIND`` with a WebDAV
multistatus. The reader does not control it, so it may be broken, overloaded
or run by an attacker; ``attack`` stages what such a server can do to a client:

* ``"silent"``: accepts the connection, reads the request, never answers
  (a hung door, a black-holing load balancer);
* ``"trickle-body"``: honest headers, then the body one byte every 0.2 s, so no
  read ever waits long enough to time out (slowloris in reverse);
* ``"trickle-headers"``: the status line and headers one byte every 0.2 s;
* ``"retry-after-date"`` / ``"retry-after-huge"``: ``503`` with ``Retry-After``
  as an HTTP date 5 s ahead, or as 10**9 seconds, then honest;
* ``"redirect-bomb"``: ``302`` to the same file whose body is 1 GiB, streamed
  (nobody needs to read a redirect's body);
* ``"redirect-loop"``: every request redirected to another path, forever;
* ``"huge-propfind"``: a ``207`` multistatus of 64 MiB;
* ``"huge-claim"``: ``HEAD`` claims ``2**62`` bytes, ``GET`` streams zeros forever.

``log`` records ``(method, path)`` of every request and ``sent`` the body bytes
written, so tests can show what a client asked for and how much it took.
"""

from __future__ import annotations

import hashlib
import threading
import time
from email.utils import formatdate
from urllib.parse import urlsplit

from tests.servers.base import Handler, LoopbackServer

BIG = 1 << 30
MTIME = 1_700_000_000


class HostileDataServer:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.attack: str | None = None
        self.retry_after_sent = 0
        self.log: list[tuple[str, str]] = []
        self.sent = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.errors: list[str] = []  # the server's own failures (a client hanging up is none)
        self.server = LoopbackServer(_handler(self), self.errors)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://{self.host}{path}"

    def requests(self, method: str | None = None) -> list[str]:
        return [p for m, p in self.log if method is None or m == method]

    def close(self) -> None:
        self._stop.set()  # ends every silent or trickling answer
        self.server.close()

    def wait(self, seconds: float) -> bool:
        """Sleep unless the server is closing; False when it is."""
        return not self._stop.wait(seconds)

    def count(self, n: int) -> None:
        with self._lock:
            self.sent += n


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:16] + '"'


def _handler(srv: HostileDataServer) -> type[Handler]:
    class Hostile(Handler):
        def do_HEAD(self) -> None:
            self.answer(body=False)

        def do_GET(self) -> None:
            self.answer(body=True)

        def do_PROPFIND(self) -> None:
            self.body()
            srv.log.append(("PROPFIND", self.path))
            if srv.attack == "huge-propfind":
                self.send_response(207)
                self.send_header("Content-Type", 'application/xml; charset="utf-8"')
                self.send_header("Content-Length", str(64 << 20))
                self.end_headers()
                self.stream_zeros(64 << 20, b" ")
                return
            data = srv.files.get(urlsplit(self.path).path)
            if data is None:
                return self.plain(404)
            xml = (
                '<?xml version="1.0"?><d:multistatus xmlns:d="DAV:"><d:response>'
                f"<d:href>{self.path}</d:href><d:propstat><d:prop><d:resourcetype/>"
                f"<d:getcontentlength>{len(data)}</d:getcontentlength></d:prop>"
                "<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"
            ).encode()
            self.send_response(207)
            self.send_header("Content-Type", 'application/xml; charset="utf-8"')
            self.send_header("Content-Length", str(len(xml)))
            self.end_headers()
            self.wfile.write(xml)

        def answer(self, body: bool) -> None:
            path = urlsplit(self.path).path
            srv.log.append((self.command, self.path))
            attack = srv.attack
            if attack == "silent":
                while srv.wait(0.5):
                    pass
                self.close_connection = True
                return
            if attack == "redirect-loop":
                return self.redirect(f"{path.rstrip('/')}/x", 0)
            if attack == "redirect-bomb" and "bombed" not in self.path:
                return self.redirect(f"{path}?bombed", BIG)
            if attack in ("retry-after-date", "retry-after-huge") and srv.retry_after_sent < 2:
                srv.retry_after_sent += 1
                later = formatdate(time.time() + 5, usegmt=True)
                return self.plain(503, {"Retry-After": later if "date" in attack else "1000000000"})
            if attack == "huge-claim":
                self.send_response(200)
                self.send_header("Content-Length", str(1 << 62))
                self.end_headers()
                if body:
                    self.stream_zeros(1 << 62)
                return
            data = srv.files.get(path)
            if data is None:
                return self.plain(404)
            start = 0
            ranged = self.headers.get("Range", "")
            if ranged.startswith("bytes=") and ranged.endswith("-"):
                start = int(ranged[6:-1])
            if attack == "trickle-headers":
                return self.trickle(
                    f"HTTP/1.1 200 OK\r\nContent-Length: {len(data)}\r\n\r\n".encode()
                )
            self.send_response(206 if start else 200)
            self.send_header("Content-Length", str(len(data) - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Last-Modified", formatdate(MTIME, usegmt=True))
            self.send_header("ETag", _etag(data))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if not body:
                return
            if attack == "trickle-body":
                return self.trickle(data[start:])
            self.wfile.write(data[start:])
            srv.count(len(data) - start)

        def trickle(self, data: bytes) -> None:
            for i in range(len(data)):
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
                srv.count(1)
                if not srv.wait(0.2):
                    return

        def stream_zeros(self, total: int, fill: bytes = b"\0") -> None:
            block = fill * (1 << 20)
            left = total
            while left > 0 and not srv._stop.is_set():
                piece = block[: min(left, len(block))]
                self.wfile.write(piece)
                srv.count(len(piece))
                left -= len(piece)

        def redirect(self, location: str, body: int) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", str(body))
            self.end_headers()
            if self.command != "HEAD" and body:
                self.stream_zeros(body)

        def plain(self, status: int, headers: dict[str, str] | None = None) -> None:
            self.reply(status, b"", headers)

    return Hostile
