"""A dataset far larger than the block size is compared block by block."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest

from preserve.compare import OutputComparison, compare_output
from preserve.compare.hdf5 import BLOCK_BYTES

ROWS, COLUMNS = 5_000, 10_000  # 50M float32 elements: 200 MB per file
DATASET_BYTES = ROWS * COLUMNS * 4


def _write(
    path: Path, chunks: tuple[int, int], scale: float = 1.0, bump: tuple[int, int] | None = None
) -> None:
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("entry/data/I", (ROWS, COLUMNS), dtype="f4", chunks=chunks)
        step = 500
        for start in range(0, ROWS, step):
            rows = np.arange(start, start + step, dtype=np.float32)[:, None]
            block = (rows + np.arange(COLUMNS, dtype=np.float32) * np.float32(1e-3)) * np.float32(
                scale
            )
            if bump is not None and start <= bump[0] < start + step:
                block[bump[0] - start, bump[1]] += np.float32(0.25)
            ds[start : start + step] = block


def _compare_traced(published: Path, rerun: Path) -> tuple[OutputComparison, int]:
    tracemalloc.start()  # numpy's allocations are traced, so this sees every block read
    try:
        result = compare_output(published, rerun, rtol=1e-6, atol=0, path="I.h5")
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_one_value_beyond_tolerance_among_fifty_million(tmp_path: Path) -> None:
    published, rerun = tmp_path / "published.h5", tmp_path / "rerun.h5"
    _write(published, chunks=(100, 10_000))
    _write(rerun, chunks=(1_000, 1_000), bump=(4_321, 9_876))
    result, peak = _compare_traced(published, rerun)
    assert result.verdict == "different"
    [difference] = result.differences
    assert difference.location == "/entry/data/I[4321, 9876]"
    assert difference.detail == "1 of 50000000 values beyond rtol=1e-06, atol=0"
    assert result.max_abs == pytest.approx(0.25, rel=1e-3)
    assert peak < 4 * BLOCK_BYTES < DATASET_BYTES / 4


@pytest.mark.slow
def test_every_value_within_tolerance_among_fifty_million(tmp_path: Path) -> None:
    published, rerun = tmp_path / "published.h5", tmp_path / "rerun.h5"
    _write(published, chunks=(100, 10_000))
    _write(rerun, chunks=(1_000, 1_000), scale=1.0000001)
    result, peak = _compare_traced(published, rerun)
    assert result.verdict == "equivalent"
    assert result.max_rel is not None and 0 < result.max_rel < 1e-6
    [note] = result.differences
    assert note.kind == "within-tolerance"
    # Every value differs, so every block makes its float64 temporaries; still
    # the peak stays a small multiple of one block, well under one copy of the data.
    assert peak < 10 * BLOCK_BYTES < DATASET_BYTES / 2
