"""DOI fixtures: a DataCite-compatible test server and settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from preserve.doi.datacite import DataCiteProvider
from preserve.settings import Settings
from tests.doi.datacite_server import Account, DataCiteServer

REPO = "EXAMPLE.LAB"
PASSWORD = "Xq7-very-secret-pw"  # must never show in any output
PREFIX = "10.82247"
OTHER_REPO = "OTHER.REPO"
OTHER_PREFIX = "10.99999"
LANDING = "https://data.example.org/doi/{doi}"


@pytest.fixture
def datacite() -> Iterator[DataCiteServer]:
    """A fresh DataCite-compatible REST API on a free 127.0.0.1 port."""
    server = DataCiteServer(
        {
            REPO: Account(PASSWORD, {PREFIX}),
            OTHER_REPO: Account("another-password", {OTHER_PREFIX}),
        }
    ).start()
    yield server
    server.stop()


def datacite_settings(server: DataCiteServer, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "doi_provider": "datacite",
        "datacite": {
            "endpoint": server.url,
            "repository_id": REPO,
            "password": PASSWORD,
            "prefix": PREFIX,
        },
        "landing_url": LANDING,
        "doi_resolver": server.url,
    }
    values.update(overrides)
    return Settings.load(overrides=values)


@pytest.fixture
def sleeps() -> list[float]:
    """Waits the provider asked for; recorded instead of slept."""
    return []


@pytest.fixture
def provider(datacite: DataCiteServer, sleeps: list[float]) -> DataCiteProvider:
    return DataCiteProvider.from_settings(datacite_settings(datacite), sleep=sleeps.append)
