"""Numbers as printed in text outputs: their syntax, their precision and rounding.

Syntax. A cell or token is a number if the whole of it is a plain decimal
literal: optional blanks and sign, digits with an optional fraction and
exponent, or nan/inf/infinity (any case). ASCII only, so that Python's ``re``
and Arrow's RE2 (see :mod:`preserve.compare.columns`) accept the same cells.

Precision. A printed number with a fraction or an exponent (``0.1234``,
``1.5e-7``, ``100.``) was rounded to its last printed digit: it stands for any
true value within half a unit of that digit. Two such numbers are *explained
by rounding* when one true value could have printed as either, on the two
machines: when they differ by at most one unit in the last digit of the more
precise of the two. The more precise one decides because formats such as
``%g`` and ``repr`` drop trailing zeros (``0.123`` may be ``0.1230``), so the
coarser one is taken as exact at the finer digit, never widened: 0.5 and 0.54
differ. Examples: 0.1234 and 0.1235 (0.12345 printed with 4 decimals), 1.5e-7
and 1.6e-7, 9.99e-8 and 1.00e-7; not 0.1234 and 0.1236.

An integer literal (``100``) carries no evidence of rounding: counts, indices,
pixel and file sizes are exact, so 100 and 101 differ (``atol`` accepts them
where the integers are rounded measurements). nan and infinities are never
rounded values.

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


def is_integer_literal(text: str) -> bool:
    match = _NUMBER.fullmatch(text)
    return match is not None and match.group("int") is not None


def decimal_digits(text: str) -> tuple[int, int] | None:
    """(m, x) with value = m * 10**x exactly, for a literal that was rounded; else None.

    None for integer literals, nan and infinities (never rounded), anything that
    is not a number, and literals too long to be the output of a rounding printer.
    """
    match = _NUMBER.fullmatch(text)
    if match is None or match.group("mant") is None:
        return None
    whole, _, fraction = match.group("mant").partition(".")
    exponent = match.group("exp") or "0"
    digits = (whole + fraction).lstrip("0") or "0"
    if len(digits) > MAX_DIGITS or len(exponent.lstrip("+-")) > MAX_EXPONENT_DIGITS:
        return None
    negative = text.strip(" \t").startswith("-")
    return (-int(digits) if negative else int(digits)), int(exponent) - len(fraction)


def explained_by_rounding(expected: str, actual: str) -> bool:
    """Whether two printed numbers differ by at most one unit in the finer last digit.

    Exact (integer arithmetic on the printed digits, no binary floating point):
    0.1235 - 0.1234 is one unit, although in doubles it is 1.0000000000000286e-4.
    """
    e, a = decimal_digits(expected), decimal_digits(actual)
    if e is None or a is None:
        return False
    (m_coarse, x_coarse), (m_fine, x_fine) = sorted((e, a), key=lambda d: -d[1])
    if m_coarse == 0:
        return abs(m_fine) <= 1
    shift = x_coarse - x_fine
    # |m_coarse| * 10**shift >= 10**shift, and |m_fine| < 10**MAX_DIGITS: far apart.
    if shift > MAX_DIGITS + 1:
        return False
    scale: int = 10**shift
    return abs(m_coarse * scale - m_fine) <= 1


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
    elif (
        math.isfinite(e)
        and math.isfinite(a)
        and not (isinstance(e, int) or isinstance(a, int))
        and explained_by_rounding(expected, actual)
    ):
        status = ROUNDED
    else:
        status = BEYOND
    return Printed(status, outcome.abs_dev, outcome.rel_dev, numeric=True)
