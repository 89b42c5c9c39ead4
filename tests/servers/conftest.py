"""Fixtures for the tests of the faithful test servers themselves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.servers.dcache import DcacheServer

USERS = {"ada": "lovelace", "bob": "builder"}


@pytest.fixture
def dcache() -> Iterator[DcacheServer]:
    """A dCache with two users (Basic auth), so storage events can be used."""
    server = DcacheServer(users=USERS)
    yield server
    server.close()
    assert not server.errors, server.errors[0]  # the server itself must not have failed


@pytest.fixture
def ada() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.auth = ("ada", USERS["ada"])
        yield session


@pytest.fixture(scope="session")
def echo_image(base_image: str) -> str:
    """The echo function image (OpenWhisk /init+/run, HTTP echo), built offline once."""
    from tests.servers.containers import echo_image as build

    return build(base_image)
