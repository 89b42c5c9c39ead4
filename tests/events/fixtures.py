"""The fixtures of the storage-event tests (see conftest.py)."""

from __future__ import annotations

import json
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from preserve import api
from preserve.events.journal import Journal
from preserve.settings import Settings
from tests.helpers import git_commit_all
from tests.rerun.analyses import make
from tests.servers.dcache import DcacheServer

TOKEN = "events-token-" + "x" * 20
# Counts what the first function wrote: a chain's second step.
COUNT = textwrap.dedent(
    """\
    import json, os, sys
    text = open(sys.argv[1]).read()
    json.dump({"chars": len(text), "upper": text.isupper()},
              open(os.path.join(sys.argv[2], "summary.json"), "w"))
    """
)


@pytest.fixture(scope="session")
def events_dcache() -> Iterator[DcacheServer]:
    """A dCache whose door and frontend want the bearer token (storage events need a user)."""
    server = DcacheServer(token=TOKEN)
    yield server
    server.close()
    assert not server.errors, server.errors[0]


@pytest.fixture(scope="session")
def drop_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A host folder the function container shares (file:// inputs and outputs)."""
    return tmp_path_factory.mktemp("drop")


def watcher_env(dcache: DcacheServer, drop: Path) -> dict[str, str]:
    """What the watcher and the functions are configured with (as environment)."""
    door = f"127.0.0.1:{dcache.door.port}"
    return {
        "PRESERVE_DATA_TOKEN": TOKEN,
        "PRESERVE_DATA_TOKEN_HOSTS": door,
        "PRESERVE_SOURCES_DCACHE_TOKEN": TOKEN,
        "PRESERVE_SOURCES_DCACHE_DOOR": f"http://{door}",
        "PRESERVE_TARGETS_LOCAL_MOUNTS": str(drop),
    }


def settings_for(home: Path, env: dict[str, str]) -> Settings:
    return Settings.load(
        config_file=home / "config.toml",
        env=env,
        overrides={"data_dir": home / "data", "cache_dir": home / "cache"},
    )


@pytest.fixture(scope="session")
def count_doi(
    functions_home: Path, storage: DcacheServer, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The DOI of the published 'count' analysis (captured on /published/upper.txt)."""
    from preserve.capture import capture
    from preserve.publish import publish
    from preserve.push import push

    storage.put("/published/upper.txt", b"PUBLISHED TEXT")
    tmp = tmp_path_factory.mktemp("count")
    inputs = f'inputs:\n  text: {{uri: "{storage.url("/published/upper.txt")}"}}\n'
    analysis = make(
        tmp,
        "count",
        COUNT,
        ["summary.json"],
        inputs=inputs,
        args='"{inputs.text}", "{outdir}"',
        commit=False,
    )
    git_commit_all(analysis)
    settings = settings_for(functions_home, {})
    crate = tmp / "crate"
    capture(analysis, settings=settings, output=crate)
    push(crate, settings=settings)
    return publish(str(crate), settings=settings).doi


@pytest.fixture(scope="session")
def functions(
    upper_doi: str,
    count_doi: str,
    functions_home: Path,
    events_dcache: DcacheServer,
    drop_root: Path,
) -> Iterator[dict[str, str]]:
    """'upper-ev' and 'count-ev' deployed with the storage's token and the drop folder."""
    from preserve.functions.deploy import deploy, undeploy

    settings = settings_for(functions_home, watcher_env(events_dcache, drop_root))
    names = {}
    for name, doi in (("upper-ev", upper_doi), ("count-ev", count_doi)):
        names[name] = deploy(doi, to="local", name=name, settings=settings).deployment.name
    yield names
    for name in names:
        undeploy(name, settings=settings)


@pytest.fixture
def watcher(
    functions: dict[str, str],
    events_dcache: DcacheServer,
    drop_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    functions_home: Path,
) -> Settings:
    """The watcher's configuration in the environment (a CLI subprocess inherits it)."""
    env = watcher_env(events_dcache, drop_root)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return settings_for(functions_home, env)


@pytest.fixture
def folder() -> str:
    return f"/ev-{uuid.uuid4().hex[:10]}"


def crate_graph(data: bytes) -> dict[str, dict[str, object]]:
    return {e["@id"]: e for e in json.loads(data)["@graph"]}


@contextmanager
def watching(rules: Path, settings: Settings, journal: Path) -> Iterator[threading.Event]:
    """``api.watch`` in a thread until the block ends (then stopped, gracefully)."""
    stop = threading.Event()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            api.watch(rules, settings=settings, stop=stop, journal=journal)
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(120)
    assert not failed, failed[0]


def wait_for(journal: Path, count: int, timeout: float = 120.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal.exists():
            j = Journal(journal)
            rows = j.listing()
            j.close()
            done = [r for r in rows if r["state"] in ("succeeded", "dead")]
            if len(done) >= count and all(r["state"] != "running" for r in rows):
                return rows
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} invocations ended in {timeout} s")
