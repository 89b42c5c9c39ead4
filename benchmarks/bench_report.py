"""The comparison report: memory on a large 2D dataset, and its cost on a 1D one.

1. 2D: two HDF5 files, each one float64 dataset of ``--gib`` GiB (default 2,
   square, chunked in row slabs), the rerun's perturbed within tolerance
   everywhere and beyond it in one patch. A fresh Python process compares them
   with plot data (``compare_output(..., plots=True)``) and writes the report
   (plots rendered, images embedded); its peak RSS is reported against the
   same comparison without plots in another fresh process (the reference).
   Target: report run peak RSS <= 512 MiB.
2. 1D: two HDF5 files with a ``--points`` float64 series, every value
   perturbed within tolerance (each block computes deviations): the comparison
   alone (reference) against the comparison gathering plot data, and the
   report's rendering (``render_standalone``: the figure drawn, the page
   written), alternating, ``--repeat`` times; medians of wall and CPU time.
   matplotlib is imported before timing (once per process). Target: (comparison
   with plot data + rendering) <= 1.2x the reference.

Run: ``python benchmarks/bench_report.py [--gib 2] [--points 20_000_000] [--only 1d|2d]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from benchmarks._common import workdir

RTOL = 1e-6

CHILD = """
import json, resource, sys, time
from pathlib import Path
from preserve.compare import compare_output
from preserve.compare.tolerance import choose
from preserve.report import Report, write_report
e, a, plots, out = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "1", Path(sys.argv[4])
start, cpu = time.perf_counter(), time.process_time()
c = compare_output(e, a, rtol=RTOL, atol=0.0, path="map.h5", plots=plots)
if plots:
    write_report(Report("bench", "a", "b", choose(None, RTOL, None), (c,), {}), out)
print(json.dumps({"verdict": c.verdict, "seconds": time.perf_counter() - start,
                  "cpu": time.process_time() - cpu,
                  "max_abs": c.max_abs, "plots": len(c.plots),
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""".replace("RTOL", repr(RTOL))


def write_map(path: Path, side: int, perturb: bool) -> None:
    """A smooth map in row slabs of ~64 MiB, never the whole in memory."""
    rows = max(1, (64 << 20) // (8 * side))
    cols = np.linspace(0, 4 * math.pi, side)
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as fh:
        ds = fh.create_dataset("entry/data/map", (side, side), "f8", chunks=(min(rows, 256), side))
        for start in range(0, side, rows):
            stop = min(start + rows, side)
            r = np.arange(start, stop)[:, None]
            block = np.sin(cols)[None, :] * np.cos(r / side * 3) + 2.0
            if perturb:
                block *= 1 + 1e-8 * rng.standard_normal(block.shape)
                hit = (r > side // 2) & (r < side // 2 + 50)
                block[:, side // 3 : side // 3 + 50] += np.where(hit, 1e-3, 0.0)
            ds[start:stop] = block


def bench_2d(base: Path, gib: float) -> None:
    side = int(math.sqrt(gib * (1 << 30) / 8))
    e, a = base / "map-published.h5", base / "map-rerun.h5"
    report = base / "report.html"
    t = time.perf_counter()
    write_map(e, side, False)
    write_map(a, side, True)
    print(
        f"2D: {side}x{side} float64, {e.stat().st_size / (1 << 30):.2f} GiB per file "
        f"(written in {time.perf_counter() - t:.0f} s)"
    )
    for path in (e, a):  # warm the page cache as far as it goes
        with path.open("rb") as fh:
            while fh.read(64 << 20):
                pass
    runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    for plots in (False, True, False, True):  # alternating: the page cache and load even out
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(e), str(a), "1" if plots else "0", str(report)],
            capture_output=True,
            text=True,
            check=True,
        )
        runs[plots].append(json.loads(proc.stdout))
    for plots, label in ((False, "comparison only"), (True, "with the report")):
        rss = max(r["rss_mib"] for r in runs[plots])
        times = ", ".join(f"{r['seconds']:.1f} s" for r in runs[plots])
        cpu = ", ".join(f"{r['cpu']:.1f} s" for r in runs[plots])
        print(f"  {label}: peak RSS {rss:.0f} MiB; wall {times}; cpu {cpu}")
    last = runs[True][-1]
    size = report.stat().st_size / 1024
    print(f"  verdict {last['verdict']}, {last['plots']} plot, report {size:.0f} KiB")
    ok = max(r["rss_mib"] for r in runs[True]) <= 512
    print(f"  target peak RSS <= 512 MiB: {'met' if ok else 'NOT met'}")
    e.unlink()
    a.unlink()


def bench_1d(base: Path, points: int, repeat: int) -> None:
    from preserve.compare import compare_output
    from preserve.compare.tolerance import choose

    q = np.linspace(0.1, 10, points)
    y = np.exp(-((q - 3) ** 2) / 0.02) + 0.1
    noisy = y * (1 + 1e-8 * np.random.default_rng(2).standard_normal(points))
    e, a = base / "profile-published.h5", base / "profile-rerun.h5"
    for path, data in ((e, y), (a, noisy)):
        with h5py.File(path, "w") as fh:
            fh["entry/profile/q"] = q
            fh["entry/profile/intensity"] = data
    del q, y, noisy
    t = time.perf_counter()
    from preserve.report import Report, render_standalone  # imports matplotlib, once

    print(f"1D: {points:,} points; matplotlib import {time.perf_counter() - t:.2f} s (not counted)")

    def reference() -> None:
        compare_output(e, a, rtol=RTOL, atol=0.0, path="profile.h5")

    gathered: list[Any] = []

    def with_plot_data() -> None:
        gathered[:] = [compare_output(e, a, rtol=RTOL, atol=0.0, path="profile.h5", plots=True)]

    def render() -> None:
        render_standalone(Report("bench", "a", "b", choose(None, RTOL, None), (gathered[0],), {}))

    steps = {"reference": reference, "plot data": with_plot_data, "render": render}
    for fn in steps.values():  # warm the page cache and the code paths
        fn()
    wall: dict[str, list[float]] = {k: [] for k in steps}
    cpu: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(repeat):
        for name, fn in steps.items():
            c0, w0 = time.process_time(), time.perf_counter()
            fn()
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    med = {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in steps}
    for name, (w, c) in med.items():
        print(f"  {name:<22} wall {w:6.2f} s   cpu {c:6.2f} s   (median of {repeat})")
    for label, col in (("wall", 0), ("cpu", 1)):
        ratio = (med["plot data"][col] + med["render"][col]) / med["reference"][col]
        verdict = "met" if ratio <= 1.2 else "NOT met"
        print(
            f"  {label}: (comparison with plot data + render) / comparison = {ratio:.2f}x "
            f"(target <= 1.20x: {verdict})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0, help="size of each 2D dataset")
    parser.add_argument("--points", type=int, default=20_000_000, help="length of the 1D series")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", choices=("1d", "2d"))
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    base = workdir("bench-report-")
    if args.only != "2d":
        bench_1d(base, args.points, args.repeat)
    if args.only != "1d":
        bench_2d(base, args.gib)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
