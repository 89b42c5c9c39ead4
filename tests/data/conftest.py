"""Fixtures for the data tests: a dCache-like server per test, settings, fast retries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from preserve.data.http import HttpResolver
from preserve.settings import Settings
from tests.servers.dcache import DcacheServer


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same retry logic, no back-off sleeps: tests count tries, not seconds."""
    monkeypatch.setattr(HttpResolver, "BACKOFF", 0.0)
    monkeypatch.setattr(HttpResolver, "RETRIES", 2)


@pytest.fixture
def dcache() -> Iterator[DcacheServer]:
    server = DcacheServer()
    yield server
    server.close()
    assert not server.errors, server.errors[0]  # the server itself must not have failed


@pytest.fixture
def settings() -> Settings:
    """Settings from the isolated environment; no free-space margin on small CI disks."""
    return Settings.load(overrides={"min_free_gib": 0})


class RecordingProgress:
    """A Progress that remembers steps and task totals and advances."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.tasks: list[tuple[str, int | None]] = []
        self.advanced = 0

    def step(self, message: str) -> None:
        self.steps.append(message)

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[RecordingProgress]:
        self.tasks.append((description, total))
        yield self

    def advance(self, amount: int) -> None:
        self.advanced += amount


@pytest.fixture
def progress() -> RecordingProgress:
    return RecordingProgress()
