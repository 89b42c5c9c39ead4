"""The report's plots, drawn headless with matplotlib (Agg) from reduced plot data.

Figures are built with :class:`matplotlib.figure.Figure` directly, never
through pyplot: no global state, no GUI backend, nothing left open.
"""

from __future__ import annotations

import io
import re

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator

from preserve.compare import OutputComparison, Tolerance
from preserve.compare.plotdata import Image, Plot, Series
from preserve.report.model import Figure

PUBLISHED, RERUN, WORST, BAND = "#1f4e9c", "#d9480f", "#b00020", "#c9e4c5"


def make_figures(comparisons: tuple[OutputComparison, ...]) -> list[Figure]:
    out = []
    for c in comparisons:
        tol = Tolerance(c.rtol, c.atol)
        for k, plot in enumerate(c.plots):
            name = f"{_slug(c.path)}-{k + 1}.png"
            out.append(Figure(name, c.path, plot.location, caption(plot, tol), draw(plot, tol)))
    return out


def caption(plot: Plot, tol: Tolerance) -> str:
    if isinstance(plot, Series):
        worst = plot.worst
        shown = (
            f"{plot.index.size} of {plot.length} points"
            if plot.reduced
            else f"{plot.length} points"
        )
        return (
            f"{plot.location}: published and rerun values, residual (rerun − published) "
            f"absolute and relative, tolerance band ({tol}) shaded; worst point "
            f"{plot.x_label} = {plot.x[worst]:.6g} (max |residual| "
            f"{abs(plot.residual[worst]):.3g}); {shown}"
            + (" (each bin's worst points kept)" if plot.reduced else "")
        )
    ty, tx = plot.tile
    pooled = f"mean over {ty}×{tx} blocks" if ty * tx > 1 else "every value"
    return (
        f"{plot.location} {plot.shape[0]}×{plot.shape[1]}: published and rerun ({pooled}, "
        f"shared colour scale); difference (rerun − published, largest magnitude per "
        f"block, diverging scale), max |difference| {np.nanmax(np.abs(plot.difference)):.3g}"
    )


def draw(plot: Plot, tol: Tolerance) -> bytes:
    fig = figure_of(plot, tol)
    buffer = io.BytesIO()
    FigureCanvasAgg(fig)
    # Light compression: the default zlib level costs more than the drawing.
    fig.savefig(buffer, format="png", dpi=80, pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


def figure_of(plot: Plot, tol: Tolerance) -> MplFigure:
    """The figure of one plot: a 1D overlay over its residuals, or three 2D panels."""
    return _series(plot, tol) if isinstance(plot, Series) else _image(plot)


def _series(s: Series, tol: Tolerance) -> MplFigure:
    # Fixed margins: a layout engine would draw the figure twice (measured 2x slower).
    fig = MplFigure(figsize=(8, 6.4))
    fig.subplots_adjust(left=0.11, right=0.97, top=0.95, bottom=0.08, hspace=0.12)
    top, mid, low = fig.subplots(3, 1, sharex=True, height_ratios=[2, 1, 1])
    x, worst = s.x, s.worst
    top.plot(x, s.expected, color=PUBLISHED, lw=1.2, label="published")
    top.plot(x, s.actual, color=RERUN, lw=1, ls="--", label="rerun")
    top.set_ylabel(_plain(s.y_label), parse_math=False)
    top.legend(loc="best", fontsize="small")
    top.set_title(_plain(s.location), fontsize="medium", parse_math=False)
    band = tol.atol + tol.rtol * np.abs(s.expected)
    mid.fill_between(x, -band, band, color=BAND, label="tolerance")
    mid.plot(x, s.residual, color="black", lw=0.8)
    mid.set_ylabel("rerun − published")
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_band = tol.rtol + tol.atol / np.abs(s.expected)
    rel_band = np.where(np.isfinite(rel_band), rel_band, np.nan)
    low.fill_between(x, -rel_band, rel_band, color=BAND)
    low.plot(x, np.where(np.isfinite(s.relative), s.relative, np.nan), color="black", lw=0.8)
    low.set_ylabel("relative")
    low.set_xlabel(_plain(s.x_label), parse_math=False)
    for axes, values in ((top, s.actual), (mid, s.residual), (low, s.relative)):
        if np.isfinite(values[worst]):
            axes.plot([x[worst]], [values[worst]], "o", mfc="none", mec=WORST, ms=9)
    mid.annotate(
        f"worst: {s.residual[worst]:.3g}",
        (x[worst], s.residual[worst]),
        textcoords="offset points",
        xytext=(8, 4),
        color=WORST,
        fontsize="small",
    )
    for axes in (mid, low):
        axes.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    for axes in (top, mid, low):
        # Few ticks: matplotlib builds each one as artists, the drawing's largest cost.
        axes.yaxis.set_major_locator(MaxNLocator(nbins=4))
    low.xaxis.set_major_locator(MaxNLocator(nbins=6))
    return fig


def _image(im: Image) -> MplFigure:
    fig = MplFigure(figsize=(11, 3.8), layout="constrained")
    axes = fig.subplots(1, 3, sharex=True, sharey=True)
    both = np.concatenate(
        [im.expected[np.isfinite(im.expected)], im.actual[np.isfinite(im.actual)]]
    )
    vmin, vmax = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
    extent = (0, im.shape[1], im.shape[0], 0)
    for ax, data, title in ((axes[0], im.expected, "published"), (axes[1], im.actual, "rerun")):
        shown = ax.imshow(data, vmin=vmin, vmax=vmax, cmap="viridis", extent=extent, aspect="auto")
        ax.set_title(title, fontsize="medium")
    fig.colorbar(shown, ax=axes[:2], shrink=0.8)
    finite = np.abs(im.difference[np.isfinite(im.difference)])
    limit = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    diff = axes[2].imshow(
        im.difference,
        cmap="RdBu_r",
        norm=TwoSlopeNorm(0.0, -limit, limit),
        extent=extent,
        aspect="auto",
    )
    axes[2].set_title("rerun − published", fontsize="medium")
    fig.colorbar(diff, ax=axes[2], shrink=0.8)
    fig.suptitle(_plain(im.location), fontsize="medium", parse_math=False)
    return fig


def _plain(text: str, limit: int = 90) -> str:
    """Names and labels from the outputs, shown as written (never as mathtext: a '$'
    in a dataset name must not break the figure) and short."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "output"
