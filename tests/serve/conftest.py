"""The catalogue service on a free loopback port, over SQLite and over a real PostgreSQL.

``catalogue_db`` is parametrised: every test that uses it (through ``service``)
runs once on each database. PostgreSQL is a private cluster started by the
session (``tests/servers/postgres.py``); each test gets a database of its own.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn

from preserve.catalogue.stores import CatalogueStore, open_catalogue
from preserve.doi.metadata import build_attributes
from preserve.serve.app import create_app
from tests.conftest import free_port
from tests.crate.records import manifest, write_sample
from tests.doi.samples import sample_info
from tests.servers.postgres import PostgresCluster, start_cluster

TOKEN = "catalogue-token-Zq81"  # must never show in any output


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    cluster = start_cluster()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalogue_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalogue.sqlite'}"
        return
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    name = f"catalogue_{uuid.uuid4().hex[:12]}"
    url = cluster.create_database(name)
    yield url
    cluster.drop_database(name)


@dataclass
class Service:
    url: str
    store: CatalogueStore

    def submit(self, body: dict[str, Any], token: str | None = TOKEN) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.post(f"{self.url}/api/functions", json=body, headers=headers, timeout=30)


@contextmanager
def run_service(store: CatalogueStore, **options: Any) -> Iterator[str]:
    """Serve ``create_app(store)`` with uvicorn in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(store, **options), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the catalogue service did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def service(catalogue_db: str) -> Iterator[Service]:
    store = open_catalogue(catalogue_db)
    try:
        with run_service(store, token=TOKEN) as url:
            yield Service(url, store)
    finally:
        store.close()


def submission(tmp_path: Path, suffix: str, **changes: Any) -> dict[str, Any]:
    """A DOI record and its crate's JSON-LD, as ``preserve publish`` sends them."""
    crate = tmp_path / f"crate-{suffix}"
    title = changes.get("title", "Azimuthal integration")
    write_sample(crate, manifest=manifest(title=title))
    text = (crate / "ro-crate-metadata.json").read_text()
    digest = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    info = sample_info(doi=f"10.5072/preserve.{suffix}", metadata_digest=digest, **changes)
    return {
        "doi": info.doi,
        "state": "findable",
        "attributes": build_attributes(info),
        "crate": text,
    }


from tests.rerun.conftest import demo_data_server  # noqa: E402 -- the example's data server

__all__ = ["demo_data_server"]
