"""A loopback reverse proxy in front of the real registry that fails on purpose.

It answers requests from a plan, in order (``"503"``, ``"429"`` with
``Retry-After: 1``, or ``"reset"``: a TCP reset after reading the request; a
``"PUT:"`` prefix waits for the next request of that method),
forwards every other request unchanged (``Host`` kept, so the registry's
``Location`` headers point back at the proxy) and logs method and path.
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class FlakyProxy:
    def __init__(self, upstream: str, plan: list[str] | None = None) -> None:
        self.upstream = upstream  # host:port of the registry
        self.plan: deque[str] = deque(plan or [])
        self.log: list[tuple[str, str]] = []
        self.failed: list[str] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy.lock:
                    proxy.log.append((self.command, self.path))
                    action = proxy.plan[0] if proxy.plan else None
                    method, _, what = (action or "").rpartition(":")
                    if action is not None and method in ("", self.command):
                        proxy.plan.popleft()
                        proxy.failed.append(action)
                    else:
                        action = None
                if action is not None:
                    return self.fail(what)
                self.forward(body)

            def fail(self, action: str) -> None:
                if action == "reset":
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.connection.close()
                    self.close_connection = True
                    return
                self.send_response(int(action))
                if action == "429":
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def forward(self, body: bytes) -> None:
                forward(self, proxy.upstream, body)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FlakyProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def forward(handler: BaseHTTPRequestHandler, upstream: str, body: bytes) -> None:
    """Send the handler's request on to ``upstream`` and its answer back, unchanged."""
    conn = http.client.HTTPConnection(upstream, timeout=60)
    headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP}
    conn.request(handler.command, handler.path, body=body or None, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    handler.send_response(resp.status)
    for key, value in resp.getheaders():
        if key.lower() not in HOP and key.lower() != "content-length":
            handler.send_header(key, value)
    length = resp.getheader("Content-Length") if handler.command == "HEAD" else None
    handler.send_header("Content-Length", length or str(len(data)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(data)
    conn.close()
