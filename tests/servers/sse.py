"""A minimal Server-Sent Events reader for tests: a thread parses frames into a queue."""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass
from typing import Any

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
        self, url: str, session: requests.Session, last_event_id: str | None = None
    ) -> None:
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.response = session.get(url, headers=headers, stream=True, timeout=(5, 30))
        self.status = self.response.status_code
        self.events: queue.Queue[SseEvent | None] = queue.Queue()
        self._pending: list[SseEvent | None] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        if self.status == 200:
            self.thread.start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            for raw in self.response.iter_lines(chunk_size=1):
                line = raw.decode()
                if not line:
                    if "data" in fields:
                        event = fields.get("event", "message")
                        self.events.put(SseEvent(event, fields["data"], fields.get("id")))
                    fields = {}
                    continue
                key, _, value = line.partition(":")
                fields[key] = value[1:] if value.startswith(" ") else value
        except (requests.RequestException, OSError, AttributeError):
            pass  # closed by close() or by the server
        finally:
            self.events.put(None)

    def next(self, timeout: float = 5.0) -> SseEvent | None:
        """The next event; None when the stream ended; ``queue.Empty`` after ``timeout``."""
        if self._pending:
            return self._pending.pop(0)
        return self.events.get(timeout=timeout)

    def take(self, count: int, timeout: float = 5.0) -> list[SseEvent]:
        out = []
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
        self.response.close()
