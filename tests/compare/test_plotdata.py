"""The reduced plot data gathered while comparing: bounded, and faithful where it counts."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from preserve.compare import compare_output
from preserve.compare.blocks import blocks
from preserve.compare.plotdata import (
    MAX_BINS,
    MAX_PIXELS,
    Deviations,
    ImageReducer,
    SeriesReducer,
)


def test_series_streamed_in_blocks_keeps_the_worst_points() -> None:
    rng = np.random.default_rng(0)
    n = 123_457
    e = rng.random(n) + 1
    a = e * (1 + 1e-8 * rng.standard_normal(n))
    a[98_765] += 3e-3  # the worst absolute deviation
    e[5], a[5] = 1e-12, 2e-12  # the worst relative one
    known, streamed = SeriesReducer("x", n), SeriesReducer("x")  # length unknown: CSV
    for start in range(0, n, 10_007):
        for reducer in (known, streamed):
            reducer.update(e[start : start + 10_007], a[start : start + 10_007])
    for series in (known.result(), streamed.result()):
        assert series.length == n and series.index.size <= 2 * MAX_BINS
        assert np.all(np.diff(series.index) > 0)
        assert series.index[series.worst] == 98_765
        assert np.max(np.abs(series.residual)) == np.max(np.abs(a - e))
        assert np.max(np.abs(series.relative)) == np.max(np.abs(a - e) / np.abs(e))


def test_series_nan_against_a_number_never_hides_a_deviation() -> None:
    e, a = np.ones(10), np.ones(10)
    a[2], a[7] = np.nan, 1.5
    reducer = SeriesReducer("x", 10)
    reducer.update(e, a)
    assert np.nanmax(np.abs(reducer.result().residual)) == 0.5


def test_a_block_found_equal_is_reduced_as_computing_its_deviations_would() -> None:
    """The comparison's "no unequal values" is reused: zeros, nothing recomputed."""
    e = np.linspace(1, 2, 5_000)
    a = e.copy()
    a[-1] += 1e-3  # a later block differs
    reused, computed = SeriesReducer("x", e.size), SeriesReducer("x", e.size)
    nothing = Deviations(np.empty(0, np.intp), np.empty(0), None)
    reused.update(e[:4_000], a[:4_000], known=nothing)
    computed.update(e[:4_000], a[:4_000])
    for reducer in (reused, computed):
        reducer.update(e[4_000:], a[4_000:])
    first, second = reused.result(), computed.result()
    assert np.array_equal(first.index, second.index)
    assert np.array_equal(first.residual, second.residual)
    assert first.index[first.worst] == e.size - 1


def test_image_pooled_from_any_blocks_equals_pooling_the_whole() -> None:
    rng = np.random.default_rng(1)
    e = rng.random((1031, 517))
    a = e + 1e-9 * rng.standard_normal(e.shape)
    a[700, 300] += 1.0
    reducer = ImageReducer("img", e.shape)
    for selection, offset in blocks(e.shape, 40_000):  # row slabs cutting across tiles
        reducer.update(e[selection], a[selection], offset)
    im = reducer.result()
    ty, tx = im.tile
    assert im.expected.shape == (-(-1031 // ty), -(-517 // tx))
    assert max(im.expected.shape) <= MAX_PIXELS
    np.testing.assert_allclose(im.expected[1, 2], e[ty : 2 * ty, 2 * tx : 3 * tx].mean())
    assert im.difference[700 // ty, 300 // tx] == np.max(np.abs(a - e))


def test_plot_data_only_when_asked_and_only_for_what_differs(tmp_path: Path) -> None:
    for name, bump in (("a.h5", 0.0), ("b.h5", 1e-3)):
        with h5py.File(tmp_path / name, "w") as fh:
            fh["same"] = np.arange(100.0)
            fh["changed"] = np.arange(100.0) + bump
            fh["stack"] = np.zeros((3, 4, 5)) + bump  # 3D: not plotted
    args = (tmp_path / "a.h5", tmp_path / "b.h5")
    assert compare_output(*args, rtol=0, atol=0, path="o.h5").plots == ()
    plotted = compare_output(*args, rtol=0, atol=0, path="o.h5", plots=True)
    assert [p.location for p in plotted.plots] == ["/changed"]


def test_nan_in_a_dataset_does_not_hide_the_worst_point(tmp_path: Path) -> None:
    e, a = np.ones(50_000), np.ones(50_000)
    a[::7] = np.nan  # NaN against a number, in every bin
    a[12_345] = 1.25
    for name, values in (("a.h5", e), ("b.h5", a)):
        with h5py.File(tmp_path / name, "w") as fh:
            fh["x"] = values
    result = compare_output(
        tmp_path / "a.h5", tmp_path / "b.h5", rtol=0, atol=0, path="o.h5", plots=True
    )
    (series,) = result.plots
    assert result.max_abs == 0.25
    assert np.nanmax(np.abs(series.residual)) == 0.25 and series.index[series.worst] == 12_345
