"""SIGTERM ends a command the way Ctrl-C does: every cleanup on the way out runs.

Python's default for SIGTERM kills the process on the spot, which leaves the
container running and partial folders behind. Raised as :class:`Terminated`
(a ``KeyboardInterrupt``, so no ``except Exception`` swallows it) instead, the
runner removes its container and capture, rerun and pull remove their staging
folders, exactly as for Ctrl-C.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

CAUGHT = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by a signal other than SIGINT."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise(signum: int, frame: FrameType | None) -> None:
    for sig in CAUGHT:  # a second request must not interrupt the cleanup of the first
        signal.signal(sig, signal.SIG_IGN)
    raise Terminated(signum)


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While the block runs in the main thread, SIGTERM and SIGHUP raise Terminated."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise) for sig in CAUGHT}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
