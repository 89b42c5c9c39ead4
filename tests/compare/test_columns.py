"""The vectorised column comparison decides every pair as the scalar rule does."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from preserve.compare.columns import ColumnStats, Outcomes
from preserve.compare.model import Tolerance
from preserve.compare.printed import (
    BEYOND,
    NUMBER_PATTERN,
    ROUNDED,
    SAME,
    WITHIN,
    compare_printed,
    parse_number,
)

FORMATS = ["{:.0f}", "{:.1f}", "{:.4f}", "{:.6g}", "{:.3e}", "{:.2E}", "{!r}", "{:d}"]
WORDS = ["", "nan", "NaN", "inf", "-Infinity", "x", "1.5 m", "0x10", "1_000", " 2e3 ", "\t7 "]


def _printed(rng: random.Random, value: float, fmt: str) -> str:
    if fmt == "{:d}":
        return str(int(value * 1000) if abs(value) < 1e15 else rng.randrange(-(10**25), 10**25))
    return fmt.format(value)


def _pairs(seed: int, n: int) -> list[tuple[str, str]]:
    """Published/rerun cells: reprinted, nudged by units of the last digit, or by a hair."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        value = rng.choice([0.0, 1.0, -1.0]) * 10 ** rng.uniform(-12, 12) + rng.choice(
            [0.0, 0.12345, 0.5]
        )
        fmt = rng.choice(FORMATS)
        e = _printed(rng, value, fmt)
        kind = rng.randrange(6)
        if kind == 0:
            a = _printed(rng, value * (1 + rng.choice([1e-15, 1e-9, 1e-6, 1e-3])), fmt)
        elif kind == 1:  # the last digit changed by one or two units (or wrapped round)
            a = e[:-1] + str((int(e[-1]) + rng.choice([1, 2])) % 10) if e[-1].isdigit() else e
        elif kind == 2:
            a = _printed(rng, value, rng.choice(FORMATS))
        elif kind == 3:
            a, e = rng.choice(WORDS), rng.choice([e, *WORDS])
        elif kind == 4:
            a = f" {e}\t" if parse_number(e) is not None else e + "1"
        else:
            a = str(int(e) + rng.choice([-1, 1, 10**6])) if e.lstrip("-").isdigit() else "1e400"
        pairs.append((e, a))
    return pairs


@pytest.mark.parametrize(
    "tol",
    [Tolerance(0, 0), Tolerance(1e-9, 0), Tolerance(0, 1.0), Tolerance(1e-3, 1e-6)],
    ids=str,
)
@pytest.mark.parametrize("as_binary", [False, True])
def test_vectorised_statuses_equal_the_scalar_rule(tol: Tolerance, as_binary: bool) -> None:
    pairs = [(e, a) for e, a in _pairs(7, 4000) if e != a]
    kind = pa.binary() if as_binary else pa.string()
    e = pa.array([p[0].encode() if as_binary else p[0] for p in pairs], kind)
    a = pa.array([p[1].encode() if as_binary else p[1] for p in pairs], kind)
    outcomes = Outcomes.of(e, a, tol)
    for k, (x, y) in enumerate(pairs):
        expected = compare_printed(x, y, tol)
        assert (int(outcomes.status[k]), bool(outcomes.numeric[k])) == (
            expected.status,
            expected.numeric,
        ), (x, y)
        if expected.status != SAME and expected.numeric:
            assert np.isclose(outcomes.abs_dev[k], expected.abs_dev, rtol=1e-12, equal_nan=True)
            assert np.isclose(outcomes.rel_dev[k], expected.rel_dev, rtol=1e-12, equal_nan=True)
    seen = set(outcomes.status.tolist())
    assert seen == ({SAME, ROUNDED, BEYOND} if tol.exact else {SAME, WITHIN, ROUNDED, BEYOND})


def test_arrow_parses_a_subset_of_the_syntax_with_the_same_values() -> None:
    """The fast path casts whole columns when Arrow accepts them: it must never accept
    what the syntax refuses, nor read a value differently from Python."""
    alphabet = ["1", "0", ".", "e", "E", "+", "-", "nan", "Inf", "inity", "x", " ", "_"]
    rng = random.Random(3)
    cells = {"".join(rng.choices(alphabet, k=rng.randint(1, 5))) for _ in range(20_000)}
    for cell in sorted(cells):
        try:
            value = pc.cast(pa.array([cell]), pa.float64())[0].as_py()
        except pa.ArrowInvalid:
            continue
        parsed = parse_number(cell)
        assert parsed is not None, cell
        assert value == parsed or (value != value and parsed != parsed), cell
    matched = pc.match_substring_regex(pa.array(sorted(cells)), f"(?i)^{NUMBER_PATTERN}$")
    for cell, is_number in zip(sorted(cells), matched.to_pylist(), strict=True):
        assert is_number is (parse_number(cell) is not None), cell


def test_column_statistics_over_chunks() -> None:
    column = ColumnStats("column 'I'")
    tol = Tolerance(0, 0)
    chunks = [
        (["1.0", "0.1234", "5"], ["1.00", "0.1235", "5"]),
        (["2.5", "x", "7"], ["2.7", "x", "8"]),
    ]
    start = 1
    for e, a in chunks:
        rows = np.arange(start, start + len(e))
        column.update(pa.array(e), pa.array(a), rows, tol)
        start += len(e)
    assert (column.unequal, column.within, column.rounded, column.beyond) == (3, 0, 1, 2)
    assert column.first_unequal is not None and column.first_unequal.row == 2
    assert column.first_rounded is not None and column.first_rounded.row == 2
    assert column.first_beyond is not None
    assert (column.first_beyond.row, column.first_beyond.expected) == (4, "2.5")
    assert column.max_abs == pytest.approx(1.0) and column.max_abs_row == 6
    assert column.numeric
