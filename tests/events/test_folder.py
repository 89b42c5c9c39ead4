"""A local folder source end to end: files closed after writing and renamed into place run
the published function on the local target (Docker) once each; others do not."""

from __future__ import annotations

import json
import os
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
from tests.events.fixtures import crate_graph

pytestmark = [pytest.mark.docker, pytest.mark.slow]


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


def test_closed_and_renamed_files_run_once(
    watcher: Settings, drop_root: Path, tmp_path: Path
) -> None:
    base = drop_root / uuid.uuid4().hex[:8]
    incoming, out = base / "in", base / "out"
    incoming.mkdir(parents=True)
    (incoming / "before.txt").write_text("there before the watcher")
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        f"""
rules:
  - name: upper-folder
    on: {{source: "file://{incoming}", path: "**/*.txt"}}
    run: {{function: upper-ev, outputs: "file://{out}/{{stem}}/"}}
"""
    )
    journal = tmp_path / "journal.sqlite"
    with watching(rules, watcher, journal):
        wait_for(journal, 1)
        (incoming / "sub").mkdir()
        (incoming / "sub" / "written.txt").write_text("written in place")
        (incoming / "moved.part").write_text("renamed into place")
        os.rename(incoming / "moved.part", incoming / "moved.txt")
        (incoming / "ignored.dat").write_text("no rule matches")
        (incoming / "sub" / "written.txt").touch()  # closed again, same content: no new run
        rows = wait_for(journal, 3)
    assert sorted(r["uri"].rsplit("/", 1)[1] for r in rows) == [
        "before.txt",
        "moved.txt",
        "written.txt",
    ]
    assert {r["state"] for r in rows} == {"succeeded"}
    assert (out / "written" / "outputs" / "upper.txt").read_text() == "WRITTEN IN PLACE" * 2
    graph = crate_graph((out / "moved" / "ro-crate-metadata.json").read_bytes())
    trigger = graph["#trigger"]
    assert trigger["name"] == "storage-event IN_MOVED_TO"
    assert f"source file://{incoming}" in str(trigger["description"])
    assert f"subject {incoming}/moved.txt" in str(trigger["description"])
    before = crate_graph((out / "before" / "ro-crate-metadata.json").read_bytes())
    assert before["#trigger"]["name"] == "storage-event listing"
    shown = api.event(str(rows[0]["key"]), journal=journal)
    assert shown["state"] == "succeeded" and shown["delivered"]
    assert json.loads(json.dumps(shown))["crate"].startswith("file://")
