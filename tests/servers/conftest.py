"""Fixtures for the tests of the faithful test servers themselves."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

import pytest
import requests

from tests.servers.dcache import DcacheServer

USERS = {"ada": "lovelace", "bob": "builder"}


class _Server(Protocol):
    errors: list[str]

    def close(self) -> None: ...


S = TypeVar("S", bound=_Server)


@contextmanager
def serving(server: S) -> Iterator[S]:
    """Yield ``server``, close it, and fail if one of its handlers failed."""
    try:
        yield server
    finally:
        server.close()
    assert not server.errors, server.errors[0]


@contextmanager
def session_as(user: str, password: str) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.auth = (user, password)
        yield session


@pytest.fixture
def dcache() -> Iterator[DcacheServer]:
    """A dCache with two users (Basic auth), so storage events can be used."""
    with serving(DcacheServer(users=USERS)) as server:
        yield server


@pytest.fixture
def ada() -> Iterator[requests.Session]:
    with session_as("ada", USERS["ada"]) as session:
        yield session


@pytest.fixture(scope="session")
def echo_image(base_image: str) -> str:
    """The echo function image (OpenWhisk /init+/run, HTTP echo), built offline once."""
    from tests.servers.containers import echo_image as build

    return build(base_image)
