"""Progress reporting that the library emits and front ends render.

The library never prints. Long operations take a :class:`Progress` and report
through it; the CLI passes rich progress bars when stderr is a terminal and
:data:`QUIET` otherwise, a FaaS handler passes :data:`QUIET` or its own sink.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class Task(Protocol):
    """One long operation's progress, advanced by bytes or items."""

    def advance(self, amount: int) -> None: ...


class Progress(Protocol):
    """Where the library reports progress: phase lines and tasks (see the module docstring)."""

    def step(self, message: str) -> None:
        """A one-line note that a phase has started ("building image ...")."""

    def task(self, description: str, total: int | None) -> AbstractContextManager[Task]:
        """A context manager yielding a task to advance by bytes or items."""


class _NullTask:
    def advance(self, amount: int) -> None:
        pass


class _Quiet:
    def step(self, message: str) -> None:
        pass

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Task]:
        yield _NullTask()


QUIET: Progress = _Quiet()
