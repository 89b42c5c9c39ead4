"""DOI fixtures: a DataCite-compatible test server and settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from preserve.doi.datacite import DataCiteProvider, datacite_options
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
        "doi": {
            "datacite": {
                "endpoint": server.url,
                "repository_id": REPO,
                "password": PASSWORD,
                "prefix": PREFIX,
            }
        },
        "landing_url": LANDING,
        "doi_resolver": server.url,
    }
    return _load(values, dict(overrides))


def _load(values: dict[str, object], overrides: dict[str, object]) -> Settings:
    doi = overrides.pop("doi", None)
    values.update(overrides)
    if isinstance(doi, dict):  # merge into the [doi.NAME] tables instead of replacing them
        tables = values["doi"]
        assert isinstance(tables, dict)
        for name, table in doi.items():
            tables[name] = {**tables.get(name, {}), **table}
    return Settings.load(overrides=values)


@pytest.fixture
def sleeps() -> list[float]:
    """Waits the provider asked for; recorded instead of slept."""
    return []


def datacite_provider(settings: Settings, **kwargs: Any) -> DataCiteProvider:
    """The provider built the way plugins.create builds it, with test-only keywords."""
    return DataCiteProvider.from_settings(datacite_options(settings), settings, **kwargs)


@pytest.fixture
def provider(datacite: DataCiteServer, sleeps: list[float]) -> DataCiteProvider:
    return datacite_provider(datacite_settings(datacite), sleep=sleeps.append)
