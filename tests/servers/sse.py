"""A minimal Server-Sent Events reader for tests: a thread parses frames into a queue.

It uses ``http.client`` directly so that :meth:`SseReader.close` can shut the socket
down at once, as a client that goes away would (a blocked read ends immediately).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import queue
import socket
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests


@dataclass
class SseEvent:
    event: str
    data: str
    id: str | None = None

    def json(self) -> Any:
        return json.loads(self.data)


class SseReader:
    """Reads ``url`` as ``text/event-stream``; :meth:`next` returns events, None at the end."""

    def __init__(
        self,
        url: str,
        session: requests.Session | None = None,
        last_event_id: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        headers = {"Accept": "text/event-stream"}
        auth = session.auth if session is not None else None
        if isinstance(auth, tuple):
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        self.conn.request(
            "GET", parts.path + (f"?{parts.query}" if parts.query else ""), None, headers
        )
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.events: queue.Queue[SseEvent | None] = queue.Queue()
        self._pending: list[SseEvent | None] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        if self.status == 200:
            self.thread.start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            while True:
                raw = self.response.readline()
                if not raw:
                    break
                line = raw.decode().rstrip("\r\n")
                if not line:
                    if "data" in fields:
                        event = fields.get("event", "message")
                        self.events.put(SseEvent(event, fields["data"], fields.get("id")))
                    fields = {}
                    continue
                key, _, value = line.partition(":")
                fields[key] = value[1:] if value.startswith(" ") else value
        except Exception:  # http.client fails in several ways when close() cuts it off
            pass
        finally:
            self.events.put(None)

    def next(self, timeout: float = 5.0) -> SseEvent | None:
        """The next event; None when the stream ended; ``queue.Empty`` after ``timeout``."""
        if self._pending:
            return self._pending.pop(0)
        return self.events.get(timeout=timeout)

    def take(self, count: int, timeout: float = 5.0) -> list[SseEvent]:
        out: list[SseEvent] = []
        for _ in range(count):
            event = self.next(timeout)
            assert event is not None, f"stream ended after {out}"
            out.append(event)
        return out

    def quiet(self, seconds: float = 0.3) -> bool:
        """True if nothing arrives within ``seconds``."""
        if self._pending:
            return False
        try:
            self._pending.append(self.events.get(timeout=seconds))
        except queue.Empty:
            return True
        return False

    def close(self) -> None:
        sock = self.conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.conn.close()
        if self.thread.is_alive():
            self.thread.join(5)
