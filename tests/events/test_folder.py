"""A local folder source end to end: files closed after writing and renamed into place run
the published function on the local target (Docker) once each; others do not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from preserve import api
from preserve.settings import Settings
from tests.events.fixtures import crate_graph, wait_for, watching

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def upper_rule(drop_root: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A new folder the functions share, its output folder, and rules that run 'upper'
    on every .txt in it."""
    base = drop_root / uuid.uuid4().hex[:8]
    incoming, out = base / "in", base / "out"
    incoming.mkdir(parents=True)
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        f"""
rules:
  - name: upper-folder
    on: {{source: "file://{incoming}", path: "**/*.txt"}}
    run: {{function: upper-ev, outputs: "file://{out}/{{stem}}/"}}
"""
    )
    return incoming, out, rules


def test_closed_and_renamed_files_run_once(
    watcher: Settings, drop_root: Path, tmp_path: Path
) -> None:
    incoming, out, rules = upper_rule(drop_root, tmp_path)
    (incoming / "before.txt").write_text("there before the watcher")
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


def test_once_runs_what_a_listing_finds_then_exits_and_again_runs_nothing(
    watcher: Settings, drop_root: Path, tmp_path: Path
) -> None:
    incoming, out, rules = upper_rule(drop_root, tmp_path)
    (incoming / "sub").mkdir()
    (incoming / "one.txt").write_text("first")
    (incoming / "sub" / "two.txt").write_text("second")
    (incoming / "three.dat").write_text("no rule matches")
    journal = str(tmp_path / "journal.sqlite")
    args = [sys.executable, "-m", "preserve", "watch", str(rules), "--once", "--json"]
    first = subprocess.run([*args, "--journal", journal], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["ran"] == {"succeeded": 2}
    assert (out / "two" / "outputs" / "upper.txt").read_text() == "SECOND" * 2
    again = subprocess.run([*args, "--journal", journal], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["ran"] == {} and result["invocations"] == {"succeeded": 2}
