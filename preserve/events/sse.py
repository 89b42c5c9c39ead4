"""Server-Sent Events read from a streamed response, in a thread, into a queue.

The reader owns nothing but the parsing (WHATWG HTML "Server-sent events",
9.2.6): ``event``, ``id`` and ``data`` fields, frames ended by a blank line,
comments ignored. Reconnecting and ``Last-Event-ID`` are the caller's: the
dCache source decides when an id may be remembered (after the journal commit).
A frame or line longer than :data:`MAX_LINE` ends the stream (a server cannot
make the watcher hold unbounded data).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import requests

from preserve import net

MAX_LINE = 1 << 20


@dataclass(frozen=True)
class Frame:
    event: str
    data: str
    id: str | None = None


END = None  # put in the queue when the stream ends


def frames(lines: Iterable[bytes]) -> Iterator[Frame]:
    """Frames of an event stream given line by line (without their line ends)."""
    fields: dict[str, str] = {}
    data: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8", "replace")
        if not line:
            if data:
                yield Frame(fields.get("event", "message"), "\n".join(data), fields.get("id"))
            fields, data = {}, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name in ("event", "id"):
            fields[name] = value


def lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Lines of a byte stream (``\\n`` or ``\\r\\n`` ended), each at most :data:`MAX_LINE`."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line[:-1] if line.endswith(b"\r") else line
        if len(pending) > MAX_LINE:
            raise ValueError("an event stream line is longer than 1 MiB")


class Reader:
    """Reads ``response`` in a daemon thread; :attr:`queue` gets frames, then :data:`END`."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self.queue: queue.Queue[Frame | None] = queue.Queue(maxsize=10_000)
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._read, name="sse-reader", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for frame in frames(lines(self.response.iter_content(chunk_size=None))):
                self.queue.put(frame)
        except Exception as exc:  # a broken stream ends it; the caller reconnects
            self.error = exc
        finally:
            self.queue.put(END)

    def close(self) -> None:
        """End the stream now, even while the thread is blocked reading it."""
        net.abort(self.response)
        self.thread.join(5)
