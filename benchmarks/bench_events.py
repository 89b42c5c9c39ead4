"""Storage events (issue 12): rule matching, a burst through the journal, event -> start.

Targets, each measured against a reference run in the same script:

* ``matching``: >= 50,000 events/s matched against 20 rules (globs compiled once,
  rules indexed by source); the reference matches the same events with
  ``fnmatch`` over every rule, as a naive watcher would.
* ``burst``: 10,000 files plus 1% duplicate events (10,100 events) offered to the
  pipeline as a source does (batches of 500), journalled, described (SHA-256 of
  each file), keyed and dispatched to a no-op function (an invoker that returns
  at once): exactly 10,000 invocations, in <= 60 s. Reference: the same files
  only hashed, the floor of any watcher that keys by content.
* ``latency``: a file closed in a watched folder -> the published function's
  command starts on a warm local target (Docker), p50 <= 200 ms, p99 <= 1 s; the
  command writes the time it starts. Reference: ``api.invoke`` of the same
  function called directly (call -> start).

Run: ``.venv/bin/python benchmarks/bench_events.py [--part matching|burst|latency]``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

from _common import ROOT, deployed_function, isolated_env, preserve, workdir

sys.path.insert(0, str(ROOT))


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- matching ------------------------------------------------------------------------------


def matching(count: int = 200_000) -> None:
    from preserve.events.match import Matcher
    from preserve.events.model import Event
    from preserve.events.rules import parse

    sources = [f"dcache+https://door{i}.example:3880/api/v1" for i in range(3)]
    rules = [
        {
            "name": f"r{i}",
            "on": {"source": sources[i % 3], "path": f"/beamtime/{{bt}}/raw{i}/**/*.h5"},
            "run": {"function": "f", "outputs": f"davs://d/bt/{{bt}}/p{i}/{{stem}}/"},
        }
        for i in range(20)
    ]
    compiled = parse({"rules": rules}).rules
    rng = random.Random(1)
    events = [
        Event(
            rng.choice(sources),
            f"/beamtime/bt{rng.randrange(50)}/raw{rng.randrange(25)}/"
            f"{'/'.join(str(rng.randrange(9)) for _ in range(rng.randrange(4)))}/"
            f"scan{i}.{rng.choice(['h5', 'h5', 'nxs', 'txt'])}".replace("//", "/"),
            "",
            rng.choice(["IN_CLOSE_WRITE", "IN_CLOSE_WRITE", "IN_CREATE", "IN_ATTRIB"]),
        )
        for i in range(count)
    ]
    matcher = Matcher(compiled)
    start = time.perf_counter()
    hits = sum(len(matcher.match(e)) for e in events)
    ours = time.perf_counter() - start

    naive = [(r["on"]["source"], r["on"]["path"].replace("{bt}", "*")) for r in rules]
    start = time.perf_counter()
    reference_hits = 0
    for e in events[: count // 10]:
        for source, pattern in naive:
            if e.source == source and e.type in ("IN_CLOSE_WRITE", "IN_MOVED_TO"):
                reference_hits += fnmatch.fnmatchcase(e.path, pattern)
    reference = (time.perf_counter() - start) * 10
    print(
        json.dumps(
            {
                "part": "matching",
                "events": count,
                "rules": len(rules),
                "matched": hits,
                "events_per_s": round(count / ours),
                "reference_events_per_s": round(count / reference),
                "speedup_vs_fnmatch": round(reference / ours, 2),
                "target_events_per_s": 50_000,
                "load": load(),
            }
        )
    )


# -- burst ---------------------------------------------------------------------------------


def burst(files: int = 10_000, duplicates: float = 0.01) -> None:
    from preserve.events.dispatch import Dispatcher
    from preserve.events.journal import Journal
    from preserve.events.model import Event
    from preserve.events.pipeline import Bound, Pipeline
    from preserve.events.rules import parse
    from preserve.events.sources.files import FolderOptions, FolderSource
    from preserve.settings import Settings
    from preserve.shim.storage import hash_file
    from preserve.targets.base import Deployment

    base = workdir("bench-events-")
    folder = base / "in"
    folder.mkdir()
    paths = []
    for i in range(files):
        path = folder / f"scan{i:05d}.h5"
        path.write_bytes(os.urandom(4096))
        paths.append(path)
    source_uri = f"file://{folder}"
    rule = parse(
        {
            "rules": [
                {
                    "name": "noop",
                    "on": {"source": source_uri, "path": "*.h5"},
                    "run": {
                        "function": "noop",
                        "outputs": f"file://{base}/out/{{stem}}/",
                        "max_concurrency": 16,
                    },
                }
            ]
        }
    ).rules[0]
    spec = {"function": "10.5072/noop", "inputs": {"data": {"remote": True}}, "events": {}}
    deployment = Deployment("noop", spec["function"], "local", "-", None, None, "-", spec)
    bound = {"noop": Bound(rule, deployment, "data", FolderSource(FolderOptions(), source_uri))}
    settings = Settings.load(env={}, overrides={"data_dir": base / "data"})
    journal = Journal(base / "journal.sqlite")
    pipeline = Pipeline(journal, bound, settings)
    calls: list[str] = []
    lock = threading.Lock()

    def noop(b: Bound, claimed: object) -> dict[str, str]:
        with lock:
            calls.append(getattr(claimed, "key"))  # noqa: B009
        return {"status": "completed"}

    dispatcher = Dispatcher(journal, bound, noop)
    rng = random.Random(2)
    events = [Event(source_uri, str(p), f"file://{p}", "IN_CLOSE_WRITE") for p in paths]
    events += [rng.choice(events) for _ in range(int(files * duplicates))]
    rng.shuffle(events)

    stop = threading.Event()

    def loop(step: object) -> None:
        while not stop.is_set():
            if not step():  # type: ignore[operator]
                time.sleep(0.005)

    threads = [
        threading.Thread(target=loop, args=(f,)) for f in (pipeline.resolve, dispatcher.tick)
    ]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for i in range(0, len(events), 500):
        pipeline.offer(events[i : i + 500])
    while journal.counts().get("succeeded", 0) < files and time.perf_counter() - start < 300:
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    time.sleep(0.5)  # anything extra would show now
    stop.set()
    for t in threads:
        t.join()
    dispatcher.close()

    start = time.perf_counter()
    for p in paths:
        hash_file(str(p), ("sha256",))
    reference = time.perf_counter() - start
    counts = journal.counts()
    print(
        json.dumps(
            {
                "part": "burst",
                "events": len(events),
                "files": files,
                "invocations": len(calls),
                "distinct_keys": len(set(calls)),
                "journal": counts,
                "seconds": round(elapsed, 2),
                "events_per_s": round(len(events) / elapsed),
                "reference_hash_only_s": round(reference, 2),
                "ratio_to_reference": round(elapsed / reference, 1),
                "target_s": 60,
                "exact": len(calls) == files == counts.get("succeeded"),
                "load": load(),
            }
        )
    )


# -- latency -------------------------------------------------------------------------------

STAMP = """
import sys, os, time
started = time.time()
data = open(sys.argv[1]).read()
open(os.path.join(sys.argv[2], "started.txt"), "w").write(repr(started))
"""


def latency(rounds: int) -> None:
    base = workdir("bench-latency-")
    drop = base / "drop"
    (drop / "in").mkdir(parents=True)
    (drop / "seed.txt").write_text("seed")
    env = isolated_env(base)
    env["PRESERVE_TARGETS_LOCAL_MOUNTS"] = str(drop)
    (base / "config.toml").write_text('[publisher]\nname = "Bench Lab"\n')
    deployed_function(base, env, "stamp", STAMP, f"file://{drop}/seed.txt", ["started.txt"])
    os.environ.update({k: v for k, v in env.items() if k.startswith("PRESERVE_")})

    try:
        watched, direct = _delays(drop, base, rounds)
    finally:  # the function's container is removed whatever happened
        preserve("undeploy", "bench-stamp", env=env)
    p50, p99 = percentile(watched, 50), percentile(watched, 99)
    print(
        json.dumps(
            {
                "part": "latency",
                "rounds": rounds,
                "event_to_start_p50_ms": round(p50 * 1000, 1),
                "event_to_start_p99_ms": round(p99 * 1000, 1),
                "direct_invoke_to_start_p50_ms": round(percentile(direct, 50) * 1000, 1),
                "direct_invoke_to_start_p99_ms": round(percentile(direct, 99) * 1000, 1),
                "ratio_p50": round(p50 / percentile(direct, 50), 2),
                "targets_ms": {"p50": 200, "p99": 1000},
                "load": load(),
            }
        )
    )


def _delays(drop: Path, base: Path, rounds: int) -> tuple[list[float], list[float]]:
    """Seconds from a file closed in the watched folder to the command's start, and from
    ``api.invoke`` called directly to the command's start."""
    from preserve import api
    from preserve.settings import Settings

    settings = Settings.load()
    rules = base / "rules.yaml"
    rules.write_text(
        f"""
rules:
  - name: stamp
    on: {{source: "file://{drop}/in", path: "*.txt"}}
    run: {{function: bench-stamp, outputs: "file://{drop}/out/{{stem}}/"}}
"""
    )
    stop = threading.Event()
    watcher = threading.Thread(
        target=api.watch, args=(rules,), kwargs={"settings": settings, "stop": stop}
    )
    watcher.start()
    time.sleep(3.0)

    def started(stem: str, timeout: float = 60.0) -> float:
        crate = drop / "out" / stem / "ro-crate-metadata.json"
        deadline = time.monotonic() + timeout
        while not crate.exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"no crate for {stem}")
            time.sleep(0.005)
        return float((drop / "out" / stem / "outputs" / "started.txt").read_text())

    watched = []
    try:
        for i in range(rounds + 2):
            path = drop / "in" / f"scan{i:03d}.txt"
            path.write_text(f"scan {i}")  # closed here: IN_CLOSE_WRITE
            closed = time.time()
            delay = started(path.stem) - closed
            if i >= 2:  # the first ones warm the container and the caches
                watched.append(delay)
    finally:
        stop.set()
        watcher.join(60)

    direct = []
    for i in range(rounds):
        path = drop / f"direct{i:03d}.txt"
        path.write_text(f"direct {i}")
        called = time.time()
        out = f"file://{drop}/direct-out/{i}/"
        api.invoke("bench-stamp", inputs={"data": f"file://{path}"}, output_to=out)
        direct.append(
            float((drop / "direct-out" / str(i) / "outputs/started.txt").read_text()) - called
        )
    return watched, direct


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=["matching", "burst", "latency"], action="append")
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    parts = args.part or ["matching", "burst", "latency"]
    if "matching" in parts:
        matching()
    if "burst" in parts:
        burst()
    if "latency" in parts:
        latency(args.rounds)


if __name__ == "__main__":
    main()
