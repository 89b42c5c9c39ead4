"""Throughput of preserve.compare, as ratios against references run in the same script.

1. HDF5, equal data in differently chunked files (the common "bytes differ,
   data equal" case): ``compare_output`` against the cheapest honest
   reference, reading both datasets block by block with h5py and testing
   ``np.array_equal``. Target: <= 2x the reference's time.
2. HDF5, every value perturbed within tolerance (worst case: every block
   computes deviations). Same reference. Target: <= 12x.
3. HDF5, gzip-compressed, the two files chunked across each other: the same
   reference (h5py's default chunk cache) against ``compare_output``, which
   sizes a chunk cache per compressed dataset. Target: <= 0.5x.
4. CSV, 1,000,000 rows, one value per row perturbed within tolerance (printed
   with ``repr``): ``compare_output`` against the plain :mod:`csv` module
   reading both files and comparing their rows. Targets: <= 1.5x the
   reference's time and >= 100 MB/s (both files' bytes per second).
5. CSV, the same rows printed with ``%.6g``, the rerun's values perturbed by
   3e-7 relative: about a third of the values differ by one unit in their
   last printed digit (the rounding rule decides them) and a few by more.
   Same reference and targets.

Page cache warm for all (files are read once first). Each measurement is
repeated (``--repeat``, default 3); the median is reported.
Run: ``python benchmarks/bench_compare.py [--elements 100_000_000] [--only csv]``.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from preserve.compare import compare_output
from preserve.compare.blocks import blocks
from preserve.compare.hdf5 import BLOCK_BYTES


def timed(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cpu_and_wall(fn: Callable[[], object]) -> tuple[float, float]:
    """CPU seconds of this process (all threads) and wall seconds of one call."""
    cpu, start = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - start


def write_h5(
    path: Path, n: int, chunks: tuple[int, int], scale: float, compression: str | None = None
) -> None:
    columns = 10_000
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(
            "I", (n // columns, columns), dtype="f4", chunks=chunks, compression=compression
        )
        step = 1_000
        for start in range(0, n // columns, step):
            stop = min(start + step, n // columns)
            rng = np.random.default_rng(start)
            values = rng.normal(100.0, 10.0, size=(stop - start, columns)).round(1)
            ds[start:stop] = (values * scale).astype(np.float32)


def read_both(a: Path, b: Path) -> bool:
    with h5py.File(a) as fa, h5py.File(b) as fb:
        da, db = fa["I"], fb["I"]
        equal = True
        for selection, _ in blocks(da.shape, BLOCK_BYTES // 8, da.chunks):
            equal &= np.array_equal(da[selection], db[selection])
        return equal


def write_csv(path: Path, rows: int, perturb: float, fmt: str = "{!r}") -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["q", "I", "sigma"])
        for i in range(rows):
            values = (i * 1e-4, (100.0 + i * 1.37) * perturb, 0.5)
            writer.writerow([fmt.format(v) for v in values])


def read_csv_both(a: Path, b: Path) -> int:
    with a.open(newline="") as fa, b.open(newline="") as fb:
        return sum(x == y for x, y in zip(csv.reader(fa), csv.reader(fb), strict=True))


def report(
    name: str, ours: float, reference: float, target: float, size: int, min_mb_s: float = 0
) -> bool:
    ratio, mb_s = ours / reference, size / ours / 1e6
    ok = ratio <= target and mb_s >= min_mb_s
    speed = f" and >= {min_mb_s:.0f} MB/s" if min_mb_s else ""
    print(
        f"{name}: compare {ours:.2f} s ({mb_s:.0f} MB/s), reference {reference:.2f} s"
        f" -> {ratio:.2f}x (target <= {target}x{speed}) {'OK' if ok else 'MISSED'}"
    )
    return ok


def bench_csv(d: Path, rows: int, repeat: int) -> list[bool]:
    results = []
    for name, fmt, perturb in (
        ("csv perturbed", "{!r}", 1.0 + 1e-12),
        ("csv %.6g, one unit in the last digit", "{:.6g}", 1.0 + 3e-7),
    ):
        write_csv(d / "a.csv", rows, 1.0, fmt)
        write_csv(d / "b.csv", rows, perturb, fmt)
        size = (d / "a.csv").stat().st_size + (d / "b.csv").stat().st_size
        read_csv_both(d / "a.csv", d / "b.csv")  # warm the page cache
        result = compare_output(d / "a.csv", d / "b.csv", rtol=1e-9, atol=0, path="t")
        # Alternated, so that the machine's load changes weigh on both alike.
        pairs = [
            (
                cpu_and_wall(lambda: read_csv_both(d / "a.csv", d / "b.csv")),
                cpu_and_wall(
                    lambda: compare_output(d / "a.csv", d / "b.csv", rtol=1e-9, atol=0, path="t")
                ),
            )
            for _ in range(repeat)
        ]
        reference = statistics.median(p[0][1] for p in pairs)
        ours = statistics.median(p[1][1] for p in pairs)
        print(f"  {result.verdict}: {result.summary}")
        cpu_ours, cpu_reference = (statistics.median(p[k][0] for p in pairs) for k in (1, 0))
        print(f"  CPU, all threads: compare {cpu_ours:.2f} s, reference {cpu_reference:.2f} s")
        results.append(report(name, ours, reference, 1.5, size, min_mb_s=100))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--elements", type=int, default=50_000_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["hdf5", "csv"])
    args = parser.parse_args()
    results = []
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP", "/var/tmp")) as tmp:
        d = Path(tmp)
        if args.only != "hdf5":
            results += bench_csv(d, args.rows, args.repeat)
        if args.only == "csv":
            print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            return 0 if all(results) else 1
        write_h5(d / "a.h5", args.elements, (100, 10_000), 1.0)
        write_h5(d / "b.h5", args.elements, (1_000, 1_000), 1.0)
        write_h5(d / "c.h5", args.elements, (1_000, 1_000), 1.0000001)
        write_h5(d / "ga.h5", args.elements, (100, 10_000), 1.0, "gzip")
        write_h5(d / "gb.h5", args.elements, (1_000, 1_000), 1.0, "gzip")
        size = 2 * args.elements * 4
        for a, b, name, target in (
            ("a.h5", "b.h5", "hdf5 equal", 2.0),
            ("a.h5", "c.h5", "hdf5 perturbed", 12.0),
            ("ga.h5", "gb.h5", "hdf5 gzip, chunks across", 0.5),
        ):
            read_both(d / a, d / b)  # warm the page cache
            reference = timed(lambda a=a, b=b: read_both(d / a, d / b), args.repeat)  # type: ignore[misc]
            ours = timed(
                lambda a=a, b=b: compare_output(d / a, d / b, rtol=1e-6, atol=0, path="I"),  # type: ignore[misc]
                args.repeat,
            )
            results.append(report(name, ours, reference, target, size))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
