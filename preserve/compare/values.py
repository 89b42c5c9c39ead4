"""Value-level comparison: numbers within tolerance, everything else exactly.

Tolerance follows numpy.isclose with the published value as the reference:
``|actual - expected| <= atol + rtol * |expected|``; NaN equals NaN, and an
infinity equals only the same infinity. The relative deviation is
``|actual - expected| / |expected|`` (infinite where the expected value is 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from preserve.compare.findings import Findings
from preserve.compare.model import WITHIN_TOLERANCE, Difference, Tolerance, fmt_dev
from preserve.compare.plotdata import Deviations

MAX_RENDERED = 60
_FLOAT_KINDS = "fc"
_INT_KINDS = "iu"

Number = int | float


def render(value: object) -> str:
    """A value shown short: shortest round-trip digits for floats, repr for strings."""
    if isinstance(value, np.ndarray):
        text = np.array2string(value, threshold=6, edgeitems=2, separator=", ")
    elif isinstance(value, bytes | str | np.bytes_ | np.str_):
        text = repr(value.item() if isinstance(value, np.generic) else value)
    else:
        text = str(value)
    return text if len(text) <= MAX_RENDERED else text[: MAX_RENDERED - 1] + "…"


def fmt_index(index: tuple[int, ...]) -> str:
    return f"[{', '.join(str(i) for i in index)}]" if index else ""


@dataclass(frozen=True)
class ScalarOutcome:
    equal: bool  # exactly equal (NaN == NaN)
    within: bool  # equal or within tolerance
    abs_dev: float
    rel_dev: float


_EQUAL = ScalarOutcome(True, True, 0.0, 0.0)


def compare_numbers(expected: Number, actual: Number, tol: Tolerance) -> ScalarOutcome:
    """Two numbers from text formats; two integers are compared in exact arithmetic."""
    if isinstance(expected, int) and isinstance(actual, int):
        if expected == actual:
            return _EQUAL
        diff = abs(actual - expected)
        # Fractions: exact, and no overflow for integers beyond the float range.
        within = diff <= Fraction(tol.atol) + Fraction(tol.rtol) * abs(expected)
        return ScalarOutcome(False, within, _to_float(diff), _ratio(diff, abs(expected)))
    e, a = float(expected), float(actual)
    if e == a or (math.isnan(e) and math.isnan(a)):
        return _EQUAL
    diff_f = abs(a - e)
    # As numpy.isclose: NaN and infinities are close only to themselves (handled above).
    finite = math.isfinite(e) and math.isfinite(a)
    within = finite and diff_f <= tol.atol + tol.rtol * abs(e)
    rel = math.inf if math.isinf(diff_f) else _ratio(diff_f, abs(e))
    return ScalarOutcome(False, within, diff_f, rel)


def _to_float(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _ratio(diff: Number, scale: Number) -> float:
    if math.isnan(diff):
        return math.nan
    if scale == 0:
        return math.inf
    try:
        return float(diff / scale)
    except OverflowError:
        return math.inf


@dataclass
class _Seen:
    index: tuple[int, ...]
    expected: str
    actual: str


@dataclass
class LeafStats:
    """Running statistics of one leaf: a whole array, or one field of a compound."""

    numeric: bool
    compared: int = 0
    unequal: int = 0  # not exactly equal
    beyond: int = 0  # beyond tolerance (every unequal value, for exact kinds)
    first_unequal: _Seen | None = None
    first_beyond: _Seen | None = None
    max_abs: float = 0.0
    max_rel: float = 0.0
    max_abs_index: tuple[int, ...] = ()


class ArrayComparer:
    """Compares two same-shape, same-dtype arrays block by block, field by field.

    Floats and complex numbers are compared within tolerance; integers too
    (exactly when the tolerance is zero); booleans, strings, bytes and other
    kinds exactly. Indices reported are global: block offset + position in block.
    """

    def __init__(self, ndim: int, tol: Tolerance, *, keep_deviations: bool = False) -> None:
        self.ndim = ndim
        self.tol = tol
        self.leaves: dict[tuple[str, ...], LeafStats] = {}
        # With keep_deviations, the last block's numeric deviations (of a plain,
        # non-compound array) are kept for a plot to reuse rather than recompute.
        self.keep_deviations = keep_deviations
        self.deviations: Deviations | None = None

    def update(self, expected: np.ndarray, actual: np.ndarray, offset: tuple[int, ...]) -> None:
        self.deviations = None
        self._leaf((), expected, actual, offset)

    def _leaf(
        self, fields: tuple[str, ...], e: np.ndarray, a: np.ndarray, offset: tuple[int, ...]
    ) -> None:
        if e.dtype.names:
            for name in e.dtype.names:
                self._leaf((*fields, name), e[name], a[name], offset)
            return
        kind = e.dtype.kind
        stats = self.leaves.setdefault(fields, LeafStats(numeric=kind in _FLOAT_KINDS + _INT_KINDS))
        # Subarray fields add trailing dimensions; their offsets are 0.
        offset = offset + (0,) * (e.ndim - len(offset))
        stats.compared += e.size
        unequal = _not_equal(e, a)
        if not unequal.any():
            if self.keep_deviations and stats.numeric:
                self.deviations = Deviations(np.empty(0, np.intp), np.empty(0), None)
            return
        positions = np.flatnonzero(unequal)
        ev, av = e[unequal], a[unequal]
        if stats.numeric:
            beyond = self._numeric(stats, ev, av, positions, e.shape, offset)
        else:
            beyond = np.ones(ev.shape, dtype=bool)
        self._firsts(stats, ev, av, positions, beyond, e.shape, offset)

    def _numeric(
        self,
        stats: LeafStats,
        ev: np.ndarray,
        av: np.ndarray,
        positions: npt.NDArray[np.intp],
        shape: tuple[int, ...],
        offset: tuple[int, ...],
    ) -> npt.NDArray[np.bool_]:
        wide = np.result_type(ev.dtype, np.float64)
        ew, aw = ev.astype(wide, copy=False), av.astype(wide, copy=False)
        with np.errstate(all="ignore"):
            abs_dev = np.abs(aw - ew).astype(np.float64, copy=False)
            if ev.dtype.kind in _INT_KINDS:
                # Distinct integers differ by at least 1, even where float64 rounds both alike.
                np.maximum(abs_dev, 1.0, out=abs_dev)
            scale = np.abs(ew).astype(np.float64, copy=False)
            limit = scale * self.tol.rtol
            limit += self.tol.atol
            # NaN is beyond (the comparison is False); so is an infinite deviation, as
            # numpy.isclose: an infinity is close only to the same one, found equal before.
            beyond: npt.NDArray[np.bool_] = ~(abs_dev <= limit)
            beyond |= np.isinf(abs_dev)
            rel = self._maxima(stats, abs_dev, scale, limit, positions, shape, offset)
        if self.keep_deviations:
            self.deviations = Deviations(positions, abs_dev, rel)
        return beyond

    @staticmethod
    def _maxima(
        stats: LeafStats,
        abs_dev: npt.NDArray[np.float64],
        scale: npt.NDArray[np.float64],
        scratch: npt.NDArray[np.float64],
        positions: npt.NDArray[np.intp],
        shape: tuple[int, ...],
        offset: tuple[int, ...],
    ) -> npt.NDArray[np.float64] | None:
        """Update the maxima; the relative deviations, when they were computed."""
        try:
            k = int(np.nanargmax(abs_dev))
        except ValueError:  # all NaN: no deviation defined
            return None
        if abs_dev[k] > stats.max_abs:
            stats.max_abs = float(abs_dev[k])
            stats.max_abs_index = _global(positions[k], shape, offset)
        if np.isinf(abs_dev[k]):
            stats.max_rel = np.inf
            return None
        # Relative to the expected value; x / 0 is inf (deviations here are > 0 or NaN).
        rel: npt.NDArray[np.float64] = np.divide(abs_dev, scale, out=scratch)
        stats.max_rel = max(stats.max_rel, float(np.nanmax(rel)))
        return rel

    def _firsts(
        self,
        stats: LeafStats,
        ev: np.ndarray,
        av: np.ndarray,
        positions: npt.NDArray[np.intp],
        beyond: npt.NDArray[np.bool_],
        shape: tuple[int, ...],
        offset: tuple[int, ...],
    ) -> None:
        stats.unequal += positions.size
        if stats.first_unequal is None:
            stats.first_unequal = _seen(ev, av, 0, positions, shape, offset)
        n_beyond = int(beyond.sum())
        stats.beyond += n_beyond
        if n_beyond and stats.first_beyond is None:
            k = int(np.argmax(beyond))
            stats.first_beyond = _seen(ev, av, k, positions, shape, offset)

    def report(self, findings: Findings, location: str, *, as_attribute: bool = False) -> None:
        """Add one difference (or within-tolerance note) per leaf that differed."""
        for fields, stats in self.leaves.items():
            suffix = "".join(f".{name}" for name in fields)
            if stats.numeric and not as_attribute:
                findings.deviation(stats.max_abs, stats.max_rel, location + suffix)
            difference = self._difference(location, fields, stats)
            if difference is None:
                continue
            if as_attribute:
                findings.attribute(difference)
            elif difference.kind == WITHIN_TOLERANCE:
                findings.note(difference)
            else:
                findings.fail(difference)

    def _difference(
        self, location: str, fields: tuple[str, ...], stats: LeafStats
    ) -> Difference | None:
        of = f"of {stats.compared} value{'s' if stats.compared != 1 else ''}"
        if stats.first_beyond is not None:
            how = f"beyond {self.tol}" if stats.numeric else "differ"
            seen = stats.first_beyond
            return Difference(
                self._at(location, fields, seen.index),
                "values",
                seen.expected,
                seen.actual,
                f"{stats.beyond} {of} {how}",
            )
        if stats.first_unequal is not None:
            seen = stats.first_unequal
            at_max = self._at(location, fields, stats.max_abs_index)
            return Difference(
                self._at(location, fields, seen.index),
                WITHIN_TOLERANCE,
                seen.expected,
                seen.actual,
                f"{stats.unequal} {of} differ within {self.tol}; "
                f"max abs dev {fmt_dev(stats.max_abs)} at {at_max}, "
                f"max rel dev {fmt_dev(stats.max_rel)}",
            )
        return None

    def _at(self, location: str, fields: tuple[str, ...], index: tuple[int, ...]) -> str:
        element, sub = index[: self.ndim], index[self.ndim :]
        return location + fmt_index(element) + "".join(f".{f}" for f in fields) + fmt_index(sub)

    def unequal(self) -> bool:
        """Whether any value differed at all (within tolerance or not)."""
        return any(s.unequal for s in self.leaves.values())

    def differs(self) -> bool:
        return any(s.beyond for s in self.leaves.values())


def _not_equal(e: np.ndarray, a: np.ndarray) -> npt.NDArray[np.bool_]:
    if e.dtype.kind == "O":
        return _not_equal_objects(e, a)
    unequal: npt.NDArray[np.bool_] = np.asarray(e != a)
    if e.dtype.kind in _FLOAT_KINDS and unequal.any():
        unequal &= ~(np.isnan(e) & np.isnan(a))
    return unequal


def _not_equal_objects(e: np.ndarray, a: np.ndarray) -> npt.NDArray[np.bool_]:
    """Variable-length strings/bytes at C speed; variable-length sequences one by one, exactly."""
    if not (e.size and isinstance(e.flat[0], np.ndarray)):
        return np.asarray(e != a, dtype=bool)
    out = np.zeros(e.shape, dtype=bool)
    for index in np.ndindex(*e.shape):
        x: object = e[index]
        y: object = a[index]
        out[index] = not np.array_equal(np.asarray(x), np.asarray(y), equal_nan=_nan_ok(x, y))
    return out


def _nan_ok(x: object, y: object) -> bool:
    kinds = {np.asarray(v).dtype.kind for v in (x, y)}
    return kinds <= set(_FLOAT_KINDS)


def _global(position: np.intp, shape: tuple[int, ...], offset: tuple[int, ...]) -> tuple[int, ...]:
    local = np.unravel_index(int(position), shape) if shape else ()
    return tuple(int(i) + o for i, o in zip(local, offset, strict=True))


def _seen(
    ev: np.ndarray,
    av: np.ndarray,
    k: int,
    positions: npt.NDArray[np.intp],
    shape: tuple[int, ...],
    offset: tuple[int, ...],
) -> _Seen:
    return _Seen(_global(positions[k], shape, offset), render(ev[k]), render(av[k]))
