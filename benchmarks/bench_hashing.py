"""Hashing throughput of preserve.hashing, as ratios against references run in the same script.

1. One big file (default 2 GiB): ``sha256_file`` against coreutils ``sha256sum``
   on the same file, page cache warm for both (the file is read once first).
   Target: >= 0.90x sha256sum's throughput.
2. Many small files (default 2,000 x 1 MiB): ``hash_files`` (threads, all
   cores) against a single-threaded loop of ``sha256_file``. Target: >= 1.6x.
3. ``copy_tree_with_hash`` of the same files, against ``shutil.copytree``
   (copy only, no hashing) as a reference.

Each measurement is repeated (``--repeat``, default 5) and the *median* is
reported (the best is printed too). Run: ``python benchmarks/bench_hashing.py``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from preserve.hashing import copy_tree_with_hash, hash_files, sha256_file

MiB = 1 << 20


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median, best) wall time of ``repeat`` runs of ``fn``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def make_file(path: Path, size: int) -> None:
    block = os.urandom(16 * MiB)
    with open(path, "wb") as fh:
        for offset in range(0, size, len(block)):
            fh.write(block[: min(len(block), size - offset)])


def bench_big(workdir: Path, size: int, repeat: int) -> float:
    path = workdir / "big.bin"
    make_file(path, size)
    sha256_file(path)  # warm the page cache
    expected = sha256_file(path).sha256

    def coreutils() -> None:
        out = subprocess.run(["sha256sum", str(path)], capture_output=True, check=True)
        assert out.stdout.split()[0].decode() == expected

    ref_med, ref_best = timed(coreutils, repeat)
    ours_med, ours_best = timed(lambda: sha256_file(path), repeat)
    gib = size / (1 << 30)
    print(f"big file {gib:.2f} GiB, page cache warm, {repeat} runs each (median / best):")
    print(f"  sha256sum          {gib / ref_med:6.2f} / {gib / ref_best:6.2f} GiB/s")
    print(f"  sha256_file        {gib / ours_med:6.2f} / {gib / ours_best:6.2f} GiB/s")
    ratio = ref_med / ours_med
    print(f"  ratio (median)     {ratio:6.2f}x sha256sum   target >= 0.90")
    path.unlink()
    return ratio


def bench_many(workdir: Path, count: int, size: int, repeat: int) -> float:
    src = workdir / "many"
    for i in range(count):
        sub = src / f"d{i % 20:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:05d}.bin").write_bytes(os.urandom(size))
    paths = sorted(src.rglob("*.bin"))
    hash_files(paths)  # warm the page cache

    serial_med, serial_best = timed(lambda: [sha256_file(p) for p in paths], repeat)
    par_med, par_best = timed(lambda: hash_files(paths), repeat)
    total = count * size / (1 << 30)
    cores = os.cpu_count()
    print(f"{count} files x {size // MiB} MiB, page cache warm, {cores} cores, {repeat} runs:")
    print(f"  single-threaded loop {total / serial_med:6.2f} / {total / serial_best:6.2f} GiB/s")
    print(f"  hash_files           {total / par_med:6.2f} / {total / par_best:6.2f} GiB/s")
    speedup = serial_med / par_med
    print(f"  speed-up (median)    {speedup:6.2f}x   target >= 1.6")

    def ours() -> None:
        shutil.rmtree(workdir / "copy", ignore_errors=True)
        copy_tree_with_hash(src, workdir / "copy")

    def reference() -> None:
        shutil.rmtree(workdir / "ref", ignore_errors=True)
        shutil.copytree(src, workdir / "ref")

    ref_med, _ = timed(reference, repeat)
    copy_med, _ = timed(ours, repeat)
    print(f"  copy_tree_with_hash  {total / copy_med:6.2f} GiB/s (copy + hash)")
    print(f"  shutil.copytree      {total / ref_med:6.2f} GiB/s (copy only, reference)")
    return speedup


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--big-mib", type=int, default=2048)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--file-mib", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder (default: /tmp)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-hashing-") as tmp:
        ratio = bench_big(Path(tmp), args.big_mib * MiB, args.repeat)
        speedup = bench_many(Path(tmp), args.files, args.file_mib * MiB, args.repeat)
    ok = ratio >= 0.90 and speedup >= 1.6
    print("targets met" if ok else "targets NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
