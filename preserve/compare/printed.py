"""Numbers as printed in text outputs: their syntax, their precision and rounding.

Syntax. A cell or token is a number if the whole of it is a plain decimal
literal: optional blanks and sign, digits with an optional fraction and
exponent, or nan/inf/infinity (any case). ASCII only, so that Python's ``re``
and Arrow's RE2 (see :mod:`preserve.compare.columns`) accept the same cells.

Precision. A printed number with a fraction or an exponent (``0.1234``,
``1.5e-7``, ``100.``) was rounded to its last printed digit: it stands for any
true value within half a unit of that digit. Two printed numbers are
*explained by rounding* when one true value could have printed as either, on
the two machines: when they differ by at most one unit in the last digit of
the more precise of the two, and that one was rounded. The more precise one
decides because formats such as ``%g`` and ``repr`` drop trailing zeros
(``0.123`` may be ``0.1230``, ``33339`` may be ``33339.0``), so the coarser one
is taken as exact at the finer digit, never widened: 0.5 and 0.54 differ.
Explained: 0.1234 and 0.1235 (0.12345 printed with 4 decimals), 1.5e-7 and
1.6e-7, 9.99e-8 and 1.00e-7, 33339 and 33338.9. Not: 0.1234 and 0.1236.

An integer literal (``100``) is not a rounded value by itself: counts,
indices, pixel and file sizes are exact, so 100 and 101 differ, and so do 1e5
and 100001. That includes floats that ``%g`` printed without a point
(100015.3 as ``100015``) when both cells are such integers: nothing in the
two cells tells them from counts, and a false "reproduced" is worse than a
false alarm; ``atol`` accepts them. nan and infinities are never rounded.

Tolerance. rtol/atol apply to the printed values as written. The rounding
allowance is independent of them: it accepts one unit in the last printed
digit even with rtol=0 and atol=0 (no exact comparison of printed values can
be stricter than the precision they were printed with), and it never widens
a tolerance: a deviation of two units or more is judged by rtol/atol alone.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from preserve.compare.model import Tolerance
from preserve.compare.values import compare_numbers

# Shared with the vectorised matcher in columns.py (RE2 accepts this syntax).
NUMBER_PATTERN = (
    r"[ \t]*[+-]?(?:(?P<int>[0-9]+)|(?P<mant>[0-9]+\.?[0-9]*|\.[0-9]+)"
    r"(?:[eE](?P<exp>[+-]?[0-9]+))?|(?P<word>nan|inf|infinity))[ \t]*"
)
INTEGER_PATTERN = r"[ \t]*[+-]?[0-9]+[ \t]*"
_NUMBER = re.compile(NUMBER_PATTERN, re.IGNORECASE)

# Beyond these, a literal is not taken as rounded: no printer rounds to 100
# significant digits, and Python refuses to convert much longer digit strings.
MAX_DIGITS = 100
MAX_EXPONENT_DIGITS = 6

Number = int | float

# How two unequal printed cells compare.
SAME, WITHIN, ROUNDED, BEYOND = 0, 1, 2, 3


def parse_number(text: str) -> Number | None:
    """An int or float if the whole text is a plain number literal, else None."""
    match = _NUMBER.fullmatch(text)
    if match is None:
        return None
    return int(text) if match.group("int") else float(text)


@dataclass(frozen=True)
class Digits:
    """A printed decimal: value = m * 10**x exactly; rounded: it has a fraction or exponent."""

    m: int
    x: int
    rounded: bool


def decimal_digits(text: str) -> Digits | None:
    """The digits of a decimal literal; None for nan, infinities and non-numbers.

    Also None for literals too long to be the output of a rounding printer.
    """
    match = _NUMBER.fullmatch(text)
    if match is None or match.group("word") is not None:
        return None
    whole, _, fraction = (match.group("mant") or match.group("int")).partition(".")
    exponent = match.group("exp") or "0"
    digits = (whole + fraction).lstrip("0") or "0"
    if len(digits) > MAX_DIGITS or len(exponent.lstrip("+-")) > MAX_EXPONENT_DIGITS:
        return None
    m = -int(digits) if text.strip(" \t").startswith("-") else int(digits)
    return Digits(m, int(exponent) - len(fraction), rounded=match.group("int") is None)


def explained_by_rounding(expected: str, actual: str) -> bool:
    """Whether two printed numbers differ by at most one unit in the finer last digit.

    Exact (integer arithmetic on the printed digits, no binary floating point):
    0.1235 - 0.1234 is one unit, although in doubles it is 1.0000000000000286e-4.
    """
    e, a = decimal_digits(expected), decimal_digits(actual)
    if e is None or a is None:
        return False
    coarse, fine = (e, a) if e.x >= a.x else (a, e)
    if not (fine.rounded or (coarse.rounded and coarse.x == fine.x)):
        return False  # the finer digit was not rounded: an integer is exact
    if coarse.m == 0:
        return abs(fine.m) <= 1
    shift = coarse.x - fine.x
    # |m_coarse| * 10**shift >= 10**shift, and |m_fine| < 10**MAX_DIGITS: far apart.
    if shift > MAX_DIGITS + 1:
        return False
    scale: int = 10**shift
    return abs(coarse.m * scale - fine.m) <= 1


@dataclass(frozen=True)
class Printed:
    """Two printed values compared: a status, deviations (NaN if none), both numbers?"""

    status: int
    abs_dev: float = math.nan
    rel_dev: float = math.nan
    numeric: bool = False


def compare_printed(expected: str, actual: str, tol: Tolerance) -> Printed:
    """Equal as numbers, within tolerance, explained by rounding, or beyond (or not numbers)."""
    e, a = parse_number(expected), parse_number(actual)
    if e is None or a is None:
        return Printed(SAME if expected == actual else BEYOND)
    outcome = compare_numbers(e, a, tol)
    if outcome.equal:
        status = SAME
    elif outcome.within:
        status = WITHIN
    elif math.isfinite(e) and math.isfinite(a) and explained_by_rounding(expected, actual):
        status = ROUNDED
    else:
        status = BEYOND
    return Printed(status, outcome.abs_dev, outcome.rel_dev, numeric=True)
