"""A scripted loopback HTTP(S) server: it answers what a test tells it to, and records."""

from __future__ import annotations

import socket
import ssl
import struct
from collections import deque
from typing import Any

from tests.servers.base import Handler, LoopbackServer


class Scripted:
    """Answers requests from a script, in order, then 200 ``ok``; records what it got.

    A script entry is ``(status, headers, body)`` or ``"reset"`` (a TCP reset
    after reading the request). ``seen`` keeps ``(request line, headers)``.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.script: deque[Any] = deque()
        self.seen: list[tuple[str, dict[str, str]]] = []
        server = self

        class Answer(Handler):
            def do_any(self) -> None:
                self.body()
                server.seen.append((self.requestline, dict(self.headers.items())))
                step = server.script.popleft() if server.script else (200, {}, b"ok")
                if step == "reset":
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.connection.close()
                    self.close_connection = True
                    return
                status, headers, body = step
                self.reply(status, body, headers)

            do_GET = do_HEAD = do_POST = do_PUT = do_any

        self.errors: list[str] = []
        self.loop = LoopbackServer(Answer, self.errors)
        self.httpd = self.loop.httpd
        if tls is not None:  # the same listening socket, from now on speaking TLS
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https" if tls else "http"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str = "/x") -> str:
        return f"{self.scheme}://{self.host}{path}"

    def close(self) -> None:
        self.loop.close()
