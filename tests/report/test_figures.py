"""What the plots show is what the comparison found: the plotted residual's maximum is
the reported maximum deviation, and the worst point is marked where it is."""

from __future__ import annotations

from typing import Any

import numpy as np

from preserve.compare import Tolerance, compare_output
from preserve.compare.plotdata import MAX_BINS, Image, Series
from preserve.report.figures import figure_of
from tests.report.conftest import Q, peak


def _plotted(series: Series, tol: Tolerance) -> tuple[np.ndarray, np.ndarray, Any]:
    fig = figure_of(series, tol)
    _, mid, low = fig.axes[:3]
    return mid.lines[0].get_ydata(), low.lines[0].get_ydata(), mid.lines[1].get_xdata()


def test_plotted_residual_maximum_is_the_reported_deviation_1d(outputs: Any) -> None:
    rng = np.random.default_rng(3)
    noisy = peak(2.0) * (1 + 1e-10 * rng.standard_normal(Q.size))
    for name in ("profile.h5", "profile.csv"):
        e, a = outputs(name, peak(2.0), noisy)
        result = compare_output(e, a, rtol=1e-9, atol=0.0, path=name, plots=True)
        assert result.verdict == "equivalent"
        (series,) = result.plots
        assert isinstance(series, Series)
        assert series.reduced and series.index.size <= 2 * MAX_BINS < Q.size
        tol = Tolerance(result.rtol, result.atol)
        absolute, relative, worst_x = _plotted(series, tol)
        assert np.nanmax(np.abs(absolute)) == result.max_abs
        assert np.nanmax(np.abs(relative)) == result.max_rel
        # the worst point is marked at the largest deviation
        assert abs(series.residual[series.worst]) == result.max_abs
        assert worst_x[0] == series.x[series.worst]
        assert series.x_label == ("q (1/angstrom)" if name.endswith(".h5") else "q")


def test_shifted_peak_residual_is_plotted_whole(outputs: Any) -> None:
    e, a = outputs("profile.h5", peak(2.0), peak(2.02))
    result = compare_output(e, a, rtol=1e-9, atol=0.0, path="profile.h5", plots=True)
    assert result.verdict == "different"
    (series,) = result.plots
    absolute, _, _ = _plotted(series, Tolerance(1e-9, 0.0))
    assert np.nanmax(np.abs(absolute)) == result.max_abs
    # the residual of a shift is structure: positive on one side of the peak, negative on the other
    assert series.x[np.argmax(series.residual)] > 2.0 > series.x[np.argmin(series.residual)]


def test_plotted_difference_maximum_is_the_reported_deviation_2d(outputs: Any) -> None:
    image = np.add.outer(np.linspace(0, 1, 700), np.linspace(0, 2, 530))
    hot = image.copy()
    hot[333, 401] += 0.25
    e, a = outputs("detector.h5", image, hot)
    result = compare_output(e, a, rtol=1e-9, atol=0.0, path="detector.h5", plots=True)
    (im,) = result.plots
    assert isinstance(im, Image)
    assert max(im.expected.shape) <= 256 and im.expected.shape == im.difference.shape
    panel = figure_of(im, Tolerance(1e-9, 0.0)).axes[2].images[0].get_array()
    assert np.nanmax(np.abs(panel)) == result.max_abs
    # the tile holding the hot pixel shows it, not an average
    ty, tx = im.tile
    assert im.difference[333 // ty, 401 // tx] == result.max_abs


def test_names_from_an_untrusted_output_are_shown_as_text(tmp_path: Any) -> None:
    """A dataset name or NeXus label is neither mathtext to matplotlib nor markup to a browser."""
    import h5py

    from preserve.compare.tolerance import choose
    from preserve.report import Report, render_standalone

    name = "<img src=x onerror=alert(1)>$\\frac{"
    for side, bump in (("a.h5", 0.0), ("b.h5", 1.0)):
        with h5py.File(tmp_path / side, "w") as fh:
            group = fh.create_group("entry")
            group.attrs.update({"NX_class": "NXdata", "signal": name, "axes": "q"})
            group["q"] = np.arange(50.0)
            group["q"].attrs["units"] = "$\\undefined{"
            group[name] = np.arange(50.0) + bump
    result = compare_output(
        tmp_path / "a.h5", tmp_path / "b.h5", rtol=0, atol=0, path="<b>o.h5", plots=True
    )
    (series,) = result.plots
    assert isinstance(series, Series) and series.x_label == "q ($\\undefined{)"
    page = render_standalone(Report("t", "a", "b", choose(None, 0, 0), (result,), {}))
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<b>o.h5" not in page and page.count("data:image/png;base64,") == 1
