"""Vectorised comparison of one column of printed cells, in chunks of rows.

Cells are Arrow string arrays, or binary ones (the bytes as written, so that
undecodable bytes still compare exactly). Only unequal cells go further: numbers (see
:mod:`preserve.compare.printed`) are parsed by Arrow and compared in numpy, two
integers in exact arithmetic, any other cell exactly. Cells that Arrow cannot
decide alone (integers beyond int64, deviations at the edge of the tolerance,
precisions beyond double) are decided one by one in Python, exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from preserve.compare.model import Tolerance
from preserve.compare.printed import (
    BEYOND,
    INTEGER_PATTERN,
    NUMBER_PATTERN,
    ROUNDED,
    SAME,
    WITHIN,
    explained_by_rounding,
)
from preserve.compare.values import compare_numbers

# Within this many units of the last digit, a double estimate of a printed
# difference is exact (k < 2**50 ulps: the estimate is off by < 0.3 units).
_CONFIDENT_SCALE = 2.0**50
_INT64_DIGITS = 18

_NUMBER_RE2 = f"(?i)^{NUMBER_PATTERN}$"

Floats = npt.NDArray[np.float64]
Index = npt.NDArray[np.intp]
Mask = npt.NDArray[np.bool_]


@dataclass
class Cell:
    row: int
    expected: str
    actual: str


@dataclass
class ColumnStats:
    """Running statistics of one column over all chunks."""

    name: str
    numeric: bool = False  # some differing cell compared as numbers
    unequal: int = 0
    within: int = 0
    rounded: int = 0
    beyond: int = 0
    first_unequal: Cell | None = None
    first_rounded: Cell | None = None
    first_beyond: Cell | None = None
    max_abs: float = 0.0
    max_rel: float = 0.0
    max_abs_row: int = 0

    def update(
        self, expected: pa.Array, actual: pa.Array, rows: int | Index, tol: Tolerance
    ) -> None:
        """Compare one chunk; ``rows``: the number of its first row, or of each (1-based)."""
        index = np.flatnonzero(pc.not_equal(expected, actual).to_numpy(zero_copy_only=False))
        if not index.size:
            return
        numbers = rows + index if isinstance(rows, int) else rows[index]
        if 2 * index.size < len(expected):
            e, a = expected.take(index), actual.take(index)
            self._count(Outcomes.of(e, a, tol), _Cells(e, a, None), numbers)
        else:  # most cells differ: parse the columns whole rather than copy them
            outcome = Outcomes.of(expected, actual, tol).at(index)
            self._count(outcome, _Cells(expected, actual, index), numbers)

    def _count(self, o: Outcomes, cells: _Cells, rows: Index) -> None:
        differing = o.status != SAME
        self.numeric |= bool((o.numeric & differing).any())
        self.unequal += int(differing.sum())
        self.within += int((o.status == WITHIN).sum())
        self.rounded += int((o.status == ROUNDED).sum())
        self.beyond += int((o.status == BEYOND).sum())
        self.first_unequal = self.first_unequal or cells.first(differing, rows)
        self.first_rounded = self.first_rounded or cells.first(o.status == ROUNDED, rows)
        self.first_beyond = self.first_beyond or cells.first(o.status == BEYOND, rows)
        deviating = differing & o.numeric & ~np.isnan(o.abs_dev)
        if deviating.any():
            k = int(np.nanargmax(np.where(deviating, o.abs_dev, np.nan)))
            if o.abs_dev[k] > self.max_abs:
                self.max_abs, self.max_abs_row = float(o.abs_dev[k]), int(rows[k])
        rel = o.rel_dev[differing & o.numeric & ~np.isnan(o.rel_dev)]
        if rel.size:
            self.max_rel = max(self.max_rel, float(rel.max()))


@dataclass
class _Cells:
    """The cells outcomes were computed for: ``index`` maps an outcome to its cell."""

    expected: pa.Array
    actual: pa.Array
    index: Index | None

    def first(self, mask: Mask, rows: Index) -> Cell | None:
        if not mask.any():
            return None
        k = int(np.argmax(mask))
        j = k if self.index is None else int(self.index[k])
        return Cell(int(rows[k]), _text(self.expected[j]), _text(self.actual[j]))


def _text(value: pa.Scalar) -> str:
    data: bytes | str = value.as_py()
    return data if isinstance(data, str) else data.decode("utf-8", "surrogateescape")


@dataclass
class Outcomes:
    """Per unequal cell: status, deviations (NaN where none) and whether both are numbers."""

    status: npt.NDArray[np.int8]
    abs_dev: Floats
    rel_dev: Floats
    numeric: Mask

    def at(self, index: Index) -> Outcomes:
        return Outcomes(
            self.status[index], self.abs_dev[index], self.rel_dev[index], self.numeric[index]
        )

    @classmethod
    def of(cls, e: pa.Array, a: pa.Array, tol: Tolerance) -> Outcomes:
        fe, num_e = _numbers(e)
        fa, num_a = _numbers(a)
        n = len(e)
        out = cls(
            np.full(n, BEYOND, np.int8), np.full(n, np.nan), np.full(n, np.nan), num_e & num_a
        )
        with np.errstate(all="ignore"):
            integers = _integer_pairs(e, a, fe, fa, out.numeric)
            floats = out.numeric & ~integers
            out._floats(floats, e, a, fe, fa, tol)
            out._integers(integers, e, a, tol)
        return out

    def _floats(
        self, where: Mask, e: pa.Array, a: pa.Array, fe: Floats, fa: Floats, tol: Tolerance
    ) -> None:
        """As compare_numbers: NaN equals NaN; an infinity is close only to itself."""
        same = where & ((fe == fa) | (np.isnan(fe) & np.isnan(fa)))
        self.status[same] = SAME
        rest = where & ~same
        diff = np.abs(fa - fe)
        scale = np.abs(fe)
        self.abs_dev[rest] = diff[rest]
        rel = np.where(np.isinf(diff), np.inf, np.where(scale == 0, np.inf, diff / scale))
        rel[np.isnan(diff)] = np.nan
        self.rel_dev[rest] = rel[rest]
        finite = np.isfinite(fe) & np.isfinite(fa)
        within = rest & finite & (diff <= tol.atol + tol.rtol * scale)
        self.status[within] = WITHIN
        candidates = np.flatnonzero(rest & finite & ~within)
        if candidates.size:
            rounded = _rounding(e.take(candidates), a.take(candidates), fe, fa, candidates)
            self.status[candidates[rounded]] = ROUNDED

    def _integers(self, where: Mask, e: pa.Array, a: pa.Array, tol: Tolerance) -> None:
        """Two integer literals: exact arithmetic (int64 in bulk, Python for the rest)."""
        index = np.flatnonzero(where)
        if not index.size:
            return
        te, ta = (_trimmed(x.take(index)) for x in (e, a))
        short = (pc.utf8_length(te).to_numpy() <= _INT64_DIGITS) & (
            pc.utf8_length(ta).to_numpy() <= _INT64_DIGITS
        )
        bulk, exact = index[short], index[~short]
        if bulk.size:
            ie, ia = (_int64(t.filter(short)) for t in (te, ta))
            diff = np.abs(ia - ie)  # < 2 * 10**18: no overflow
            scale = np.abs(ie).astype(np.float64)
            self.abs_dev[bulk] = diff
            self.rel_dev[bulk] = np.where(ie == 0, np.inf, diff / np.where(ie == 0, 1, scale))
            limit = tol.atol + tol.rtol * scale
            within = diff <= limit
            self.status[bulk] = np.where(diff == 0, SAME, np.where(within, WITHIN, BEYOND))
            # Doubles round the limit; near it (and beyond 2**53) decide exactly.
            close = (diff != 0) & (np.abs(diff - limit) <= 1e-9 * np.maximum(limit, 1.0))
            exact = np.concatenate([exact, bulk[close]])
        for k in exact:
            outcome = compare_numbers(int(_text(e[k])), int(_text(a[k])), tol)
            self.status[k] = SAME if outcome.equal else (WITHIN if outcome.within else BEYOND)
            self.abs_dev[k], self.rel_dev[k] = outcome.abs_dev, outcome.rel_dev


def _trimmed(values: pa.Array) -> pa.Array:
    return pc.utf8_trim(_as_text(values), " \t")


def _as_text(values: pa.Array) -> pa.Array:
    """Binary cells as text (Arrow checks UTF-8); text cells as they are."""
    return values if pa.types.is_string(values.type) else values.cast(pa.string())


def _int64(values: pa.Array) -> npt.NDArray[np.int64]:
    """Integer literals of at most 18 digits (Arrow refuses an explicit '+')."""
    return pc.cast(pc.utf8_ltrim(values, "+"), pa.int64()).to_numpy()  # type: ignore[no-any-return]


def _numbers(values: pa.Array) -> tuple[Floats, Mask]:
    """Each cell as a double (NaN if it is not a number) and whether it is a number."""
    try:
        # Arrow's parser accepts a subset of the syntax (no blanks), with the same
        # values: when it takes every cell, none needs the regular expression.
        parsed = pc.cast(_as_text(values), pa.float64())
        return parsed.to_numpy(zero_copy_only=False), np.ones(len(values), bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    mask = pc.match_substring_regex(values, _NUMBER_RE2)
    numbers = np.full(len(values), np.nan)
    is_number = mask.to_numpy(zero_copy_only=False)
    numbers[is_number] = pc.cast(_trimmed(values.filter(mask)), pa.float64()).to_numpy()
    return numbers, is_number


def _integer_pairs(e: pa.Array, a: pa.Array, fe: Floats, fa: Floats, numeric: Mask) -> Mask:
    """Pairs of two integer literals (only integral values need the regex)."""
    integral = numeric & np.isfinite(fe) & np.isfinite(fa) & (fe == np.floor(fe))
    integral &= fa == np.floor(fa)
    index = np.flatnonzero(integral)
    pairs = np.zeros(len(e), bool)
    if index.size:
        pattern = f"^{INTEGER_PATTERN}$"
        both = pc.and_(
            pc.match_substring_regex(e.take(index), pattern),
            pc.match_substring_regex(a.take(index), pattern),
        )
        pairs[index] = both.to_numpy(zero_copy_only=False)
    return pairs


def _rounding(
    e: pa.Array, a: pa.Array, fe: Floats, fa: Floats, index: npt.NDArray[np.intp]
) -> Mask:
    """Which of these pairs (finite, beyond tolerance) are explained by rounding.

    The finer last digit must have been rounded (a fraction or an exponent). The
    difference in its units is an integer; estimated in doubles it is exact to
    well under half a unit while the values have fewer than 2**50 such units,
    and is decided exactly in Python otherwise.
    """
    (xe, rounded_e), (xa, rounded_a) = _last_digit(e), _last_digit(a)
    unit = np.minimum(xe, xa)
    fe, fa = fe[index], fa[index]
    with np.errstate(all="ignore"):
        step = np.power(10.0, unit)
        units = np.abs(fa - fe) / step
        size = np.maximum(np.abs(fe), np.abs(fa)) / step
    eligible = (rounded_e & (xe == unit)) | (rounded_a & (xa == unit))
    confident = eligible & (np.abs(unit) <= 290) & (size < _CONFIDENT_SCALE)
    explained: Mask = confident & (units < 1.5)
    for k in np.flatnonzero(eligible & ~confident):
        explained[k] = explained_by_rounding(_text(e[k]), _text(a[k]))
    return explained


def _last_digit(values: pa.Array) -> tuple[Floats, Mask]:
    """The exponent of the last printed digit (0 for integers, NaN for words); rounded?"""
    parts = pc.extract_regex(_as_text(values), _NUMBER_RE2)  # numbers: ASCII
    mantissa = pc.struct_field(parts, "mant")
    integer = pc.struct_field(parts, "int")
    point = pc.find_substring(mantissa, ".").to_numpy()
    length = pc.utf8_length(mantissa).to_numpy()
    decimals = np.where(point >= 0, length - point - 1, 0).astype(np.float64)
    exponent_text = pc.struct_field(parts, "exp")
    long_exponent = pc.utf8_length(exponent_text).to_numpy() > 7
    exponent_text = pc.if_else(
        pc.or_(pc.equal(exponent_text, ""), pa.array(long_exponent)), "0", exponent_text
    )
    exponent = _int64(exponent_text).astype(np.float64)
    exponent[long_exponent] = math.inf  # no confident estimate: decided exactly
    digits: Floats = exponent - decimals
    rounded = length > 0
    digits[~rounded & (pc.utf8_length(integer).to_numpy() == 0)] = np.nan
    return digits, rounded
