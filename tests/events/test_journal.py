"""The journal and the dispatcher without a platform: duplicates collapse with the cursor in
the same commit, a killed watcher's running invocations come back, retries end dead, a busy
target's Retry-After is honoured without using an attempt, chains stop at max_depth."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from preserve import api
from preserve.errors import ConfigError, InvocationFailed, TargetError
from preserve.events.dispatch import Dispatcher
from preserve.events.journal import Claimed, Journal
from preserve.events.model import Event
from preserve.events.pipeline import Bound, Pipeline
from preserve.events.rules import parse
from preserve.events.sources.files import FolderOptions, FolderSource
from preserve.settings import Settings
from preserve.targets.base import Deployment

SPEC = {"function": "10.5072/preserve.test", "inputs": {"text": {"remote": True}}, "events": {}}


def setup(
    tmp_path: Path, retries: int = 2, max_depth: int = 5, out: str = "out", concurrency: int = 4
) -> tuple[Pipeline, Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    rules = parse(
        {
            "max_depth": max_depth,
            "rules": [
                {
                    "name": "r",
                    "on": {"source": f"file://{folder}", "path": "**/*.txt"},
                    "run": {
                        "function": "f",
                        "outputs": f"file://{tmp_path}/{out}/{{stem}}/",
                        "retries": retries,
                        "max_concurrency": concurrency,
                    },
                }
            ],
        }
    )
    rule = rules.rules[0]
    source = FolderSource(FolderOptions(), rule.source)
    deployment = Deployment("f", SPEC["function"], "local", "img", None, None, "c", SPEC)
    bound = {"r": Bound(rule, deployment, "text", source)}
    journal = Journal(tmp_path / "journal.sqlite")
    return Pipeline(journal, bound, Settings.load(), max_depth=max_depth), folder


def event(folder: Path, name: str, data: str = "x", kind: str = "IN_CLOSE_WRITE") -> Event:
    """An event of the rule's source (the folder ``in``) on ``folder/name``, written."""
    path = folder / name
    if not path.exists():
        path.write_text(data)
    root = next(p for p in (folder, *folder.parents) if p.name == "in")
    return Event(f"file://{root}", str(path), f"file://{path}", kind, id=name)


def test_duplicates_collapse_and_the_cursor_commits_with_them(tmp_path: Path) -> None:
    pipeline, folder = setup(tmp_path)
    one = event(folder, "a.txt")
    assert pipeline.offer([one, one, event(folder, "b.dat")], cursor=("src", "7"))
    assert pipeline.offer([event(folder, "a.txt", kind="IN_MOVED_TO")])
    assert pipeline.journal.cursor("src") == "7"
    assert pipeline.resolve() == 1
    (row,) = pipeline.journal.listing()
    assert row["deliveries"] == 3 and row["state"] == "received"
    assert row["output_to"] == f"file://{tmp_path}/out/a/"
    # the key is invoke's: function, input URI, size, checksum, config
    from preserve.shim.key import invocation_key
    from preserve.shim.storage import hash_file

    sha = hash_file(str(folder / "a.txt"), ("sha256",))["sha256"]
    material = {"text": {"uri": one.uri, "size": 1, "checksum": f"sha256:{sha}"}}
    assert row["key"] == invocation_key(SPEC["function"], material, {})
    (folder / "a.txt").write_text("changed")  # new content: a new invocation
    pipeline.offer([event(folder, "a.txt")])
    pipeline.resolve()
    assert len(pipeline.journal.listing()) == 2


def test_a_killed_watchers_running_invocations_run_again(tmp_path: Path) -> None:
    pipeline, folder = setup(tmp_path)
    pipeline.offer([event(folder, "a.txt")])
    pipeline.resolve()
    (claimed,) = pipeline.journal.claim("r", 4)
    assert claimed.attempts == 1
    pipeline.journal.db.close()  # the process dies: nothing more is written
    again = Journal(tmp_path / "journal.sqlite")
    assert again.recover() == 1
    (row,) = again.listing()
    assert (row["state"], row["attempts"]) == ("received", 0)


def run(pipeline: Pipeline, invoker: Any, until: float = 20.0) -> None:
    dispatcher = Dispatcher(pipeline.journal, pipeline.bound, invoker, backoff=0.05)
    deadline = time.monotonic() + until
    while time.monotonic() < deadline:
        pipeline.resolve()
        dispatcher.tick()
        if not pipeline.journal.busy() and not dispatcher.busy():
            break
        time.sleep(0.02)
    dispatcher.wait(10)
    dispatcher.close()


def test_retries_then_dead_busy_not_counted_config_dead_at_once(tmp_path: Path) -> None:
    pipeline, folder = setup(tmp_path, retries=2)
    calls: dict[str, int] = {}

    def invoker(bound: Bound, claimed: Claimed) -> Mapping[str, Any]:
        name = claimed.uri.rsplit("/", 1)[1]
        calls[name] = calls.get(name, 0) + 1
        if name == "flaky.txt" and calls[name] < 3:
            raise InvocationFailed("local: function f: it exited with code 7", result={})
        if name == "broken.txt":
            raise InvocationFailed("local: function f: it exited with code 1")
        if name == "busy.txt" and calls[name] < 4:
            raise TargetError("openwhisk: function f: busy (HTTP 429)", retry_after=0.1)
        if name == "wrong.txt":
            raise ConfigError("function f: the function has no input named frames")
        return {"status": "completed", "crate": f"file:///crates/{name}"}

    names = ("flaky.txt", "broken.txt", "busy.txt", "wrong.txt", "fine.txt")
    pipeline.offer([event(folder, n, n) for n in names])
    run(pipeline, invoker)
    rows = {r["uri"].rsplit("/", 1)[1]: r for r in pipeline.journal.listing()}
    assert {n: (r["state"], r["attempts"]) for n, r in rows.items()} == {
        "flaky.txt": ("succeeded", 3),
        "broken.txt": ("dead", 3),
        "busy.txt": ("succeeded", 1),  # three 429s, none counted
        "wrong.txt": ("dead", 1),
        "fine.txt": ("succeeded", 1),
    }
    assert calls == {"flaky.txt": 3, "broken.txt": 3, "busy.txt": 4, "wrong.txt": 1, "fine.txt": 1}
    assert rows["broken.txt"]["error"] == "local: function f: it exited with code 1"
    assert rows["fine.txt"]["crate"] == "file:///crates/fine.txt"

    journal = tmp_path / "journal.sqlite"
    key = api.retry_event(rows["broken.txt"]["key"][:12], journal=journal)
    assert api.event(key, journal=journal)["state"] == "received"
    with pytest.raises(ConfigError, match="only failed or dead ones are retried"):
        api.retry_event(rows["fine.txt"]["key"], journal=journal)
    with pytest.raises(ConfigError, match="no invocation in the journal has a key starting"):
        api.event("0" * 12, journal=journal)


def test_a_rule_runs_at_most_max_concurrency_invocations_at_once(tmp_path: Path) -> None:
    pipeline, folder = setup(tmp_path, concurrency=2)
    lock = threading.Lock()
    now, most = [0], [0]

    def invoker(bound: Bound, claimed: Claimed) -> Mapping[str, Any]:
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        time.sleep(0.1)
        with lock:
            now[0] -= 1
        return {"status": "completed"}

    pipeline.offer([event(folder, f"{i}.txt", str(i)) for i in range(8)])
    run(pipeline, invoker)
    assert [r["state"] for r in pipeline.journal.listing()] == ["succeeded"] * 8
    assert most[0] == 2


def test_a_chain_longer_than_max_depth_is_refused(tmp_path: Path) -> None:
    # outputs inside the watched folder: a loop the load-time check would refuse
    # (check_loops); what it cannot see (another system copying back) the depth stops.
    pipeline, folder = setup(tmp_path, max_depth=1, out="in/out")
    pipeline.offer([event(folder, "a.txt")])
    run(pipeline, lambda b, c: {"status": "completed", "crate": c.output_to})
    out = folder / "out" / "a"  # the first function's output folder
    (out / "outputs").mkdir(parents=True)
    pipeline.offer([event(out / "outputs", "next.txt")])
    pipeline.resolve()
    rows = {r["uri"].rsplit("/", 1)[1]: r for r in pipeline.journal.listing()}
    assert rows["a.txt"]["state"] == "succeeded"
    refused = rows["next.txt"]
    assert refused["state"] == "dead" and refused["depth"] == 1
    assert refused["derived_from"] == f"file://{out}/"
    assert "longer than max_depth 1" in refused["error"]


def test_handed_back_invocations_are_received_again_and_their_late_end_is_dropped(
    tmp_path: Path,
) -> None:
    # the watcher's second SIGINT/SIGTERM: running calls go back to the journal now
    pipeline, folder = setup(tmp_path)
    started, release = threading.Event(), threading.Event()
    ended: list[str] = []

    def invoker(bound: Bound, claimed: Claimed) -> Mapping[str, Any]:
        started.set()
        release.wait(30)
        return {"status": "completed", "crate": "file:///crates/late"}

    dispatcher = Dispatcher(
        pipeline.journal, pipeline.bound, invoker, on_end=lambda c, s, e: ended.append(s)
    )
    pipeline.offer([event(folder, "a.txt")])
    pipeline.resolve()
    assert dispatcher.tick() == 1 and started.wait(10)
    assert dispatcher.hand_back() == 1
    assert dispatcher.hand_back() == 0  # once
    release.set()
    assert dispatcher.wait(10)
    dispatcher.close()
    (row,) = pipeline.journal.listing()
    assert (row["state"], row["attempts"], row["crate"]) == ("received", 0, None)
    assert row["error"] == "handed back: the watcher stopped"
    assert ended == []
