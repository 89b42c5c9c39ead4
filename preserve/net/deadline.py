"""A total deadline over everything a block of code does on the network.

``with deadline(600, "staging input 'frames' from data.example.org", error=DataError):``
bounds the whole block, retries and waits included, which connect and read
timeouts alone cannot: a server that sends one byte every few seconds never
trips a read timeout. Inside the block (in this thread), every request made
through :mod:`preserve.net` gets its timeouts shortened to what is left, no
retry waits past the end, and when time runs out every connection opened in the
block is shut down, so a read blocked in the middle of a body returns at once.
The block then ends in ``error`` naming what did not finish.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any

from preserve.errors import PreserveError

_ACTIVE: ContextVar[Deadline | None] = ContextVar("preserve_net_deadline", default=None)


class Deadline:
    def __init__(self, seconds: float, what: str, error: type[PreserveError], hint: str) -> None:
        self.seconds = seconds
        self.what = what
        self.error = error
        self.hint = hint
        self.end = time.monotonic() + seconds
        self.fired = False
        self.raised: PreserveError | None = None
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def exceeded(self) -> PreserveError:
        """The error that ends the block (remembered, so it is not wrapped again)."""
        self.raised = self.error(
            f"{self.what} did not finish within {self.seconds:g} s", hint=self.hint
        )
        return self.raised

    def check(self) -> None:
        if self.fired or self.remaining() <= 0:
            raise self.exceeded()

    def clamp(self, connect: float, read: float) -> tuple[float, float]:
        left = max(self.remaining(), 0.001)
        return min(connect, left), min(read, left)

    def watch(self, connection: Any) -> None:
        """Shut ``connection`` down when time runs out (or now, if it has)."""
        with self._lock:
            if not self.fired:
                self._connections.append(connection)
                return
        _shut(connection)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            connections, self._connections = self._connections, []
        for connection in connections:
            _shut(connection)


def _shut(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def active() -> Deadline | None:
    """The deadline of the innermost ``with deadline(...)`` in this context, if any."""
    return _ACTIVE.get()


@contextmanager
def deadline(
    seconds: float, what: str, *, error: type[PreserveError], hint: str
) -> Iterator[Deadline]:
    """Bound the block to ``seconds`` (see the module docstring)."""
    current = Deadline(seconds, what, error, hint)
    token = _ACTIVE.set(current)
    current._timer.start()
    try:
        yield current
    except Exception as exc:
        # Whatever broke because connections were shut is reported as the deadline.
        if current.fired and exc is not current.raised:
            raise current.exceeded() from exc
        raise
    else:
        if current.fired:  # a body cut short can look like a short, complete body
            raise current.exceeded()
    finally:
        current._timer.cancel()
        _ACTIVE.reset(token)
