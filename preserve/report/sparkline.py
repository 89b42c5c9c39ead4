"""A one-line picture of a relative residual for the terminal: noise or structure at a glance."""

from __future__ import annotations

import numpy as np

from preserve.compare.plotdata import Series

BARS = "▁▂▃▄▅▆▇█"


def sparkline(series: Series, width: int = 24) -> str:
    """|relative residual| in ``width`` bins (each its largest), scaled to the largest."""
    rel = np.abs(series.relative)
    rel = np.where(np.isfinite(rel), rel, np.nan)
    if not rel.size or not np.any(rel > 0):
        return BARS[0] * min(width, max(1, rel.size))
    # Bins by position along the series, not by kept point: the kept points are
    # denser where the residual is large.
    edges = np.linspace(series.index[0], series.index[-1] + 1, min(width, rel.size) + 1)
    which = np.clip(np.searchsorted(edges, series.index, side="right") - 1, 0, edges.size - 2)
    peaks = np.zeros(edges.size - 1)
    np.fmax.at(peaks, which, np.nan_to_num(rel, nan=0.0))
    top = peaks.max()
    levels = np.ceil(peaks / top * (len(BARS) - 1)).astype(int)
    return "".join(BARS[k] for k in levels)
