"""The reduced data a report plots, gathered while the comparison reads the blocks.

The comparison already reads every value once; these reducers see the same
blocks, so a report never reads an output a second time and never holds more
than a picture's worth of it:

- a 1D series keeps, per bin of consecutive points, the point of largest
  absolute deviation and the point of largest relative deviation (at most
  ``2 * MAX_BINS`` points). The plotted residuals' maxima are therefore the
  comparison's maxima exactly, and the worst point is among those plotted.
  The length need not be known in advance (CSV files are streamed): bins are
  merged in pairs when they run out.
- a 2D image is pooled in tiles to at most ``MAX_PIXELS`` a side: the mean of
  the published and of the rerun values, and for the difference the signed
  value of largest magnitude in each tile (so no deviation is averaged away).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

MAX_BINS = 1000
MAX_PIXELS = 256
# Plots kept per output: a file with thousands of differing datasets shows the first ones.
MAX_PLOTS = 12


@dataclass(frozen=True)
class Deviations:
    """One block's deviations at its unequal positions (flat, within the block)."""

    positions: npt.NDArray[np.intp]
    absolute: npt.NDArray[np.float64]
    relative: npt.NDArray[np.float64] | None  # None where the comparison did not compute it


@dataclass(frozen=True)
class Series:
    """A 1D output, reduced: index, x, published and rerun values of the points kept."""

    location: str
    index: Ints
    x: Floats
    expected: Floats
    actual: Floats
    length: int
    x_label: str = "index"
    y_label: str = "value"

    @property
    def residual(self) -> Floats:
        return self.actual - self.expected

    @property
    def relative(self) -> Floats:
        """(rerun - published) / |published|: ±inf where the published value is 0."""
        with np.errstate(divide="ignore", invalid="ignore"):
            rel: Floats = self.residual / np.abs(self.expected)
        rel[self.residual == 0] = 0.0
        return rel

    @property
    def worst(self) -> int:
        """Position (in the kept points) of the largest absolute deviation."""
        return int(np.nanargmax(np.abs(self.residual))) if self.index.size else 0

    @property
    def reduced(self) -> bool:
        return self.index.size < self.length


@dataclass(frozen=True)
class Image:
    """A 2D output, pooled in ``tile``-sized blocks."""

    location: str
    shape: tuple[int, int]
    tile: tuple[int, int]
    expected: Floats
    actual: Floats
    difference: Floats  # signed, of largest magnitude in each tile


Plot = Series | Image


class SeriesReducer:
    """Keeps the worst points per bin of a 1D series fed in consecutive blocks."""

    def __init__(self, location: str, length: int | None = None) -> None:
        self.location = location
        self.per_bin = 1 if length is None else max(1, math.ceil(length / MAX_BINS))
        self.length = 0
        # Two slots per bin: [0] largest absolute, [1] largest relative deviation.
        self.score = np.full((2, MAX_BINS), -np.inf)
        self.values = np.full((2, MAX_BINS, 4), np.nan)  # index, x, expected, actual

    def update(
        self,
        expected: npt.ArrayLike,
        actual: npt.ArrayLike,
        x: npt.ArrayLike | None = None,
        known: Deviations | None = None,
    ) -> None:
        """Add the next block; ``known`` reuses the comparison's deviations of it."""
        e = np.asarray(expected, dtype=np.float64).ravel()
        a = np.asarray(actual, dtype=np.float64).ravel()
        if not e.size:
            return
        start = self.length
        self.length += e.size
        while (self.length - 1) // self.per_bin >= MAX_BINS:
            self._coarsen()
        if known is not None and (known.relative is not None or not known.positions.size):
            dev, rel = _dense(known, e.size)
        else:
            dev, rel = _deviations(e, a)
        xs = None if x is None else np.asarray(x, dtype=np.float64).ravel()
        for slot, score in enumerate((dev, rel)):
            ids, at = self._bin_argmax(score, start)
            better = score[at] > self.score[slot, ids]
            ids, at = ids[better], at[better]
            self.score[slot, ids] = score[at]
            where = self.values[slot]
            where[ids, 0] = at + start
            where[ids, 1] = at + start if xs is None else xs[at]
            where[ids, 2], where[ids, 3] = e[at], a[at]

    def _bin_argmax(self, score: Floats, start: int) -> tuple[Ints, Ints]:
        """Each bin the block touches, and the position of its largest score.

        Whole bins are one reshape; only the first and last may be partial.
        """
        per, n = self.per_bin, score.size
        first = start // per
        head = min(n, (first + 1) * per - start)
        whole = (n - head) // per
        body = score[head : head + whole * per].reshape(whole, per)
        ids = [np.array([first]), first + 1 + np.arange(whole)]
        at = [
            np.array([np.argmax(score[:head])]),
            head + np.arange(whole) * per + np.argmax(body, axis=1),
        ]
        rest = head + whole * per
        if rest < n:
            ids.append(np.array([first + 1 + whole]))
            at.append(np.array([rest + np.argmax(score[rest:])]))
        bins, where = np.concatenate(ids).astype(np.int64), np.concatenate(at).astype(np.int64)
        # argmax stops at a NaN: only the (rare) bins holding one are searched again.
        for k in np.flatnonzero(np.isnan(score[where])):
            lo, hi = max(0, bins[k] * per - start), min(n, (bins[k] + 1) * per - start)
            part = score[lo:hi]
            if not np.isnan(part).all():
                where[k] = lo + np.nanargmax(part)
        return bins, where

    def _coarsen(self) -> None:
        """Merge bins in pairs, keeping the better point of each pair."""
        self.per_bin *= 2
        score = self.score.reshape(2, -1, 2)
        pick = np.argmax(score, axis=2)  # 0 or 1 within each pair
        merged = np.take_along_axis(score, pick[..., None], axis=2)[..., 0]
        values = self.values.reshape(2, -1, 2, 4)
        kept = np.take_along_axis(values, pick[..., None, None], axis=2)[:, :, 0]
        half = merged.shape[1]
        self.score[:, :half], self.score[:, half:] = merged, -np.inf
        self.values[:, :half], self.values[:, half:] = kept, np.nan

    def result(self, x_label: str = "index", y_label: str = "value") -> Series:
        rows = self.values[self.score > -np.inf]
        _, unique = np.unique(rows[:, 0], return_index=True)
        rows = rows[unique]  # sorted by index, each point once
        return Series(
            self.location,
            rows[:, 0].astype(np.int64),
            rows[:, 1],
            rows[:, 2],
            rows[:, 3],
            self.length,
            x_label,
            y_label,
        )


def _dense(known: Deviations, size: int) -> tuple[Floats, Floats]:
    """The comparison's deviations at every position of the block (0 where equal);
    NaN (NaN against a number) stays: a bin's argmax passes over it. A block the
    comparison found equal deviates nowhere: nothing to compute."""
    if not known.positions.size:
        zero = np.zeros(size)
        return zero, zero
    assert known.relative is not None
    if known.positions.size == size:  # every value differs: already dense
        dev, rel = known.absolute, known.relative
    else:
        dev, rel = np.zeros(size), np.zeros(size)
        dev[known.positions], rel[known.positions] = known.absolute, known.relative
    return dev, rel


def _deviations(e: Floats, a: Floats) -> tuple[Floats, Floats]:
    """|a - e| and |a - e| / |e|, as the comparison counts them.

    Equal values (NaN and NaN, an infinity and itself) deviate by 0; NaN against
    a number has no deviation (as in the comparison's maxima): -1, so such a point
    fills an empty bin but never displaces a measured one. x / 0 is inf.
    """
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        dev = np.subtract(a, e)
        np.abs(dev, out=dev)
        if np.isnan(dev).any():  # rare: only then the masks
            undefined = np.isnan(dev)
            same = (a == e) | (np.isnan(a) & np.isnan(e))
            dev[undefined] = np.where(same[undefined], 0.0, -1.0)
        rel = np.abs(e)
        np.divide(dev, rel, out=rel)
        if np.isnan(rel).any():  # 0 / 0: no deviation
            rel[np.isnan(rel)] = 0.0
    return dev, rel


class ImageReducer:
    """Pools a 2D array fed in blocks (any rectangular blocks, in any order)."""

    def __init__(self, location: str, shape: tuple[int, int]) -> None:
        self.location = location
        self.shape = shape
        self.tile = (
            max(1, math.ceil(shape[0] / MAX_PIXELS)),
            max(1, math.ceil(shape[1] / MAX_PIXELS)),
        )
        out = (math.ceil(shape[0] / self.tile[0]), math.ceil(shape[1] / self.tile[1]))
        self.sum_e = np.zeros(out)
        self.sum_a = np.zeros(out)
        self.high = np.full(out, -np.inf)
        self.low = np.full(out, np.inf)

    def update(
        self, expected: npt.ArrayLike, actual: npt.ArrayLike, offset: tuple[int, ...]
    ) -> None:
        e = np.asarray(expected, dtype=np.float64)
        a = np.asarray(actual, dtype=np.float64)
        if not e.size:
            return
        r0, c0 = offset
        with np.errstate(invalid="ignore"):
            diff = a - e
            if np.isnan(np.add.reduce(diff, axis=None)):  # rare: only then the masks
                diff[np.isnan(a) & np.isnan(e)] = 0.0
        ty, tx = self.tile
        rows, row_starts = _tiles(r0, e.shape[0], ty)
        cols, col_starts = _tiles(c0, e.shape[1], tx)
        for acc, values, ufunc in (
            (self.sum_e, e, np.add),
            (self.sum_a, a, np.add),
            (self.high, diff, np.fmax),
            (self.low, diff, np.fmin),
        ):
            # Rows first: whole rows combine with vector instructions, columns then few.
            part = ufunc.reduceat(ufunc.reduceat(values, row_starts, axis=0), col_starts, axis=1)
            view = acc[rows, cols]
            ufunc(view, part, out=view)

    def result(self) -> Image:
        """Means of the values, and the signed extreme of the difference, per tile."""
        ty, tx = self.tile
        count = np.outer(_tile_sizes(self.shape[0], ty), _tile_sizes(self.shape[1], tx))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_e = self.sum_e / count
            mean_a = self.sum_a / count
        difference = np.where(np.abs(self.high) >= np.abs(self.low), self.high, self.low)
        return Image(self.location, self.shape, self.tile, mean_e, mean_a, difference)


def _tile_sizes(length: int, tile: int) -> Floats:
    """How many of ``length`` rows (or columns) each tile holds: the last may hold fewer."""
    sizes = np.full(math.ceil(length / tile), float(tile))
    sizes[-1] = length - tile * (sizes.size - 1)
    return sizes


def _tiles(start: int, length: int, tile: int) -> tuple[slice, Ints]:
    """The tiles a run of ``length`` rows (or columns) from ``start`` touches, and where
    each begins within the run."""
    ids = (start + np.arange(length)) // tile
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    return slice(int(ids[0]), int(ids[-1]) + 1), starts


def plottable(shape: tuple[int, ...] | None, kind: str) -> bool:
    """Numbers in one or two dimensions, with something to draw."""
    return (
        kind in "iuf" and shape is not None and len(shape) in (1, 2) and min(shape, default=0) > 1
    )
