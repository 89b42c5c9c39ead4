"""Catalogue service latency with 10,000 published functions, on SQLite and PostgreSQL.

Targets (issue 13): a search answers in p50 <= 50 ms and a landing page in
p50 <= 20 ms, over loopback HTTP, both databases, in one run. The service runs
as `preserve serve` in its own process; the reference in the same run is a
static file served by the same server (the framework's floor), reported as a ratio.
Searches mix one and two words (prefix matches over title, keywords, creators,
formats and description), facet filters, date ranges and deep pages, each with
facet counts, as the catalogue page asks for them.

Run: `.venv/bin/python benchmarks/bench_catalogue.py [--functions N] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import requests
from _common import ROOT, isolated_env, median, workdir

sys.path.insert(0, str(ROOT))  # the test suite's PostgreSQL cluster helper

from preserve.catalogue.entry import Entry, entry_from_submission
from preserve.catalogue.stores import open_catalogue
from preserve.doi.metadata import build_attributes
from tests.conftest import free_port
from tests.crate.records import manifest, write_sample
from tests.doi.samples import sample_info
from tests.servers.postgres import start_cluster

WORDS = tuple(
    [
        "azimuthal",
        "integration",
        "powder",
        "diffraction",
        "small",
        "angle",
        "scattering",
        "tomography",
        "reconstruction",
        "phase",
        "retrieval",
        "ptychography",
        "spectroscopy",
        "fluorescence",
        "mapping",
        "neutron",
        "reflectometry",
        "crystallography",
        "refinement",
        "calibration",
        "detector",
        "frames",
        "background",
        "subtraction",
        "peak",
        "fitting",
        "pair",
        "distribution",
        "function",
        "texture",
        "strain",
    ]
)
TECHNIQUES = ["SAXS", "WAXS", "XRD", "XRF", "XANES", "EXAFS", "SANS", "PDF", "CT", "XPCS"]
FORMATS = ["application/x-hdf5", "image/tiff", "text/csv", "application/json", "image/x-cbf"]
PEOPLE = [
    f"{f}, {g}"
    for f in (
        "Lovelace",
        "Hopper",
        "Curie",
        "Franklin",
        "Meitner",
        "Noether",
        "Bragg",
        "Laue",
        "Compton",
        "Debye",
    )
    for g in ("Ada", "Grace")
]


def template(tmp: Path) -> Entry:
    crate = tmp / "crate"
    write_sample(crate, manifest=manifest())
    text = (crate / "ro-crate-metadata.json").read_text()
    digest = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    info = sample_info(metadata_digest=digest)
    body = {"doi": info.doi, "attributes": build_attributes(info), "crate": text}
    return entry_from_submission(body)


def entries(base: Entry, n: int) -> list[Entry]:
    rng = random.Random(13)
    out = []
    for i in range(n):
        title = " ".join(rng.sample(WORDS, 4)).capitalize() + f" run {i}"
        out.append(
            replace(
                base,
                doi=f"10.5072/preserve.bench{i:05d}",
                title=title,
                description=" ".join(rng.sample(WORDS, 12)) + ".",
                creators=tuple(rng.sample(PEOPLE, rng.randint(1, 3))),
                keywords=(*rng.sample(TECHNIQUES, 2), rng.choice(WORDS)),
                formats=tuple(rng.sample(FORMATS, 2)),
                published=f"{rng.randint(2019, 2026)}-{rng.randint(1, 12):02d}-"
                f"{rng.randint(1, 28):02d}",
            )
        )
    return out


SEARCHES = [
    {"q": "diffraction"},
    {"q": "powder integr"},
    {"q": "ptychography phase"},
    {"q": "run 4711"},
    {"q": "saxs", "creator": "Curie, Ada"},
    {"keyword": "XANES", "format": "image/tiff"},
    {"q": "calibration", "from": "2024", "to": "2025-06"},
    {"page": "37"},
    {"q": "neutron", "page": "5", "per_page": "50"},
    {"q": "nothingmatchesthis"},
]


def serve(database: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "preserve",
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            "--database",
            database,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/static/favicon.svg", timeout=1).status_code == 200:
                return proc, url
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the service did not start")


def timings(
    session: requests.Session, url: str, params_list: list[dict[str, str]], rounds: int
) -> list[float]:
    out = []
    for _ in range(rounds):
        for params in params_list:
            start = time.perf_counter()
            resp = session.get(url, params=params, timeout=30)
            out.append(time.perf_counter() - start)
            assert resp.status_code == 200, (resp.status_code, resp.text[:200])
    return out


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def measure(name: str, database: str, env: dict[str, str], dois: list[str], rounds: int) -> bool:
    proc, url = serve(database, env)
    try:
        session = requests.Session()
        for params in SEARCHES:  # warm the caches once; not measured
            session.get(f"{url}/", params=params, timeout=30)
        static = timings(session, f"{url}/static/favicon.svg", [{}] * len(SEARCHES), rounds)
        search_html = timings(session, f"{url}/", SEARCHES, rounds)
        search_json = timings(session, f"{url}/api/functions", SEARCHES, rounds)
        rng = random.Random(7)
        picks = [rng.choice(dois) for _ in range(len(SEARCHES) * rounds)]
        landing = []
        for doi in picks:
            start = time.perf_counter()
            resp = session.get(f"{url}/doi/{doi}", timeout=30)
            landing.append(time.perf_counter() - start)
            assert resp.status_code == 200 and doi in resp.text
    finally:
        proc.terminate()
        proc.wait(10)
    floor = median(static) * 1000
    search_p50 = median(search_html + search_json) * 1000
    landing_p50 = median(landing) * 1000
    ok = search_p50 <= 50 and landing_p50 <= 20
    print(
        f"{name:<10} static p50 {floor:6.2f} ms | search p50 {search_p50:6.2f} ms "
        f"(HTML {median(search_html) * 1000:.2f}, JSON {median(search_json) * 1000:.2f}, "
        f"p90 {p(search_html + search_json, 0.9):.2f}) x{search_p50 / floor:.1f} | "
        f"landing p50 {landing_p50:6.2f} ms (p90 {p(landing, 0.9):.2f}) "
        f"x{landing_p50 / floor:.1f} | {'PASS' if ok else 'FAIL'}"
    )
    return ok


def fill(database: str, rows: list[Entry]) -> float:
    store = open_catalogue(database)
    start = time.perf_counter()
    for entry in rows:
        store.put(entry)
    elapsed = time.perf_counter() - start
    assert store.count() == len(rows)
    store.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    base = workdir("bench-catalogue-")
    env = isolated_env(base)
    rows = entries(template(base), args.functions)
    dois = [e.doi for e in rows]
    cluster = start_cluster()
    try:
        results = []
        for name, database in (
            ("sqlite", f"sqlite:///{base / 'catalogue.sqlite'}"),
            ("postgresql", cluster.create_database("bench")),
        ):
            seconds = fill(database, rows)
            print(f"{name:<10} {len(rows)} functions stored in {seconds:.1f} s")
            results.append(measure(name, database, env, dois, args.rounds))
    finally:
        cluster.stop()
    print(f"load average at end: {os.getloadavg()}")
    print(
        f"targets: search p50 <= 50 ms, landing page p50 <= 20 ms: "
        f"{'met' if all(results) else 'NOT met'}"
    )
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
