"""The judged scenario on the dCache test server, shared by the end-to-end and the kill tests.

Rules: ``upper`` runs the published 'upper' function on every ``.txt`` under ``raw/``
(any depth), its outputs in ``processed/{stem}/``; ``count`` runs 'count' on each
``processed/*/outputs/upper.txt``, its outputs in ``summary/{scan}/`` (a chain).

Uploads, through the WebDAV door (each emits dCache's real sequence: ``IN_CREATE`` on
an empty file, ``IN_OPEN``, ``IN_MODIFY``, ``IN_CLOSE_WRITE`` and ``IN_ATTRIB``):
seven ``.txt`` files (two in a folder the upload creates), one renamed into place from
``.part``, three that match no rule, and two of the seven uploaded again unchanged. The
final state is always 8 + 8 invocations, succeeded, one crate per folder.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.events.fixtures import TOKEN
from tests.servers.dcache import DcacheServer

SCANS = [f"scan{i}" for i in range(1, 9)]
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Scenario:
    dcache: DcacheServer
    folder: str  # e.g. /ev-1234abcd

    def prepare(self) -> None:
        """The beamtime's raw folder exists before the watcher starts (silently)."""
        self.dcache.mkdir(f"{self.folder}/raw", events=False)

    def watching(self, client_id: str, timeout: float = 60.0) -> None:
        """Wait until a watcher (channel ``client_id``) streams with a watch on ``raw/``."""
        hub = self.dcache.events
        raw = self.dcache.entries[f"{self.folder}/raw"].pnfsid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with hub.lock:
                ready = any(
                    c.client_id == client_id
                    and c.stream is not None
                    and any(s.pnfsid == raw for s in c.subscriptions.values())
                    for c in hub.channels.values()
                )
            listed = [
                r
                for r in self.dcache.requests("frontend", "GET")
                if r.path.startswith(f"/api/v1/namespace{self.folder}/raw?")
                and "children=true" in r.path
            ]
            if ready and listed:  # watching, and the first listing was made
                time.sleep(0.5)  # (and journalled)
                return
            time.sleep(0.1)
        raise AssertionError(f"no watcher with client-id {client_id} watches {self.folder}/raw")

    def rules(self, path: Path, max_depth: int = 3) -> Path:
        door = f"dav://127.0.0.1:{self.dcache.door.port}{self.folder}"
        path.write_text(
            f"""\
max_depth: {max_depth}
rules:
  - name: upper
    on:
      source: "dcache+{self.dcache.api}"
      path: "{self.folder}/raw/**/*.txt"
    run:
      function: upper-ev
      input: text
      outputs: "{door}/processed/{{stem}}/"
      max_concurrency: 2
      retries: 2
  - name: count
    on:
      source: "dcache+{self.dcache.api}"
      path: "{self.folder}/processed/{{scan}}/outputs/upper.txt"
    run:
      function: count-ev
      outputs: "{door}/summary/{{scan}}/"
      retries: 2
"""
        )
        return path

    def text(self, scan: str) -> bytes:
        return f"{scan} of {self.folder}".encode()

    def put(self, path: str, data: bytes) -> None:
        resp = requests.put(self.dcache.url(f"{self.folder}/{path}"), data=data, headers=AUTH)
        assert resp.status_code == 201, resp.status_code

    def move(self, src: str, dst: str) -> None:
        dest = self.dcache.url(f"{self.folder}/{dst}")
        resp = requests.request(
            "MOVE", self.dcache.url(f"{self.folder}/{src}"), headers={**AUTH, "Destination": dest}
        )
        assert resp.status_code == 201, resp.status_code

    def steps(self) -> list[Callable[[], None]]:
        """The uploads, one step each (a kill can fall between any two)."""
        places = {s: f"raw/{s}.txt" for s in SCANS[:5]}
        places |= {"scan6": "raw/new/scan6.txt", "scan7": "raw/new/deeper/scan7.txt"}
        steps: list[Callable[[], None]] = [
            (lambda s=s, p=p: self.put(p, self.text(s))) for s, p in places.items()
        ]
        steps += [
            lambda: self.put("raw/scan8.txt.part", self.text("scan8")),
            lambda: self.move("raw/scan8.txt.part", "raw/scan8.txt"),
            lambda: self.put("raw/notes.md", b"not a scan"),
            lambda: self.put("raw/scan9.h5", b"not text"),
            lambda: self.put("other/scan10.txt", b"not under raw"),
            lambda: self.put("raw/scan1.txt", self.text("scan1")),  # again, unchanged
            lambda: self.put("raw/new/scan6.txt", self.text("scan6")),
        ]
        return steps

    # -- the final state ----------------------------------------------------------------

    def done(self) -> bool:
        """Every summary crate is there (the last thing a chain writes)."""
        files = self.dcache.files
        return all(f"{self.folder}/summary/{s}/ro-crate-metadata.json" in files for s in SCANS)

    def wait(self, timeout: float = 300.0, alive: Callable[[], bool] = lambda: True) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and alive():
            if self.done():
                return
            time.sleep(0.3)
        raise AssertionError(f"not all of {SCANS} were processed and summarised in time")

    def state(self, journal: Path, functions_db: Path) -> dict[str, Any]:
        """What must be the same after every trial."""
        files = self.dcache.files
        prefix = len(self.folder) + 1

        def under(top: str) -> list[str]:
            return sorted(p[prefix:] for p in files if p.startswith(f"{self.folder}/{top}/"))

        with sqlite3.connect(journal) as db:
            rows = db.execute("SELECT rule, state, key, uri FROM invocations").fetchall()
        by_rule: dict[str, list[str]] = {}
        for rule, state, _, _ in rows:
            by_rule.setdefault(rule, []).append(state)
        keys = [r[2] for r in rows]
        uppers = {s: files[f"{self.folder}/processed/{s}/outputs/upper.txt"].data for s in SCANS}
        summaries = {
            s: json.loads(files[f"{self.folder}/summary/{s}/outputs/summary.json"].data)
            for s in SCANS
        }
        return {
            "invocations": {r: sorted(v) for r, v in by_rule.items()},
            "processed": under("processed"),
            "summary": under("summary"),
            "uppers": uppers,
            "summaries": summaries,
            "at_most_one_run_per_key": max(runs_per_key(functions_db, keys).values()) <= 1,
        }


def runs_per_key(functions_db: Path, keys: list[str]) -> dict[str, int]:
    """How many calls with each key completed by running, not answered from a crate
    (a call whose watcher was killed completes unrecorded: 0 is possible, 2 is not)."""
    with sqlite3.connect(functions_db) as db:
        rows = db.execute(
            "SELECT key, result FROM invocations WHERE state = 'completed'"
        ).fetchall()
    ran: dict[str, int] = dict.fromkeys(keys, 0)
    for key, result in rows:
        if key in ran and not json.loads(result).get("cached"):
            ran[key] += 1
    return ran
