"""Printed numbers: syntax, the precision they carry, and what rounding explains."""

from __future__ import annotations

import math

import pytest

from preserve.compare.model import Tolerance
from preserve.compare.printed import (
    BEYOND,
    ROUNDED,
    SAME,
    WITHIN,
    Digits,
    compare_printed,
    decimal_digits,
    explained_by_rounding,
    parse_number,
)


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("0.1234", Digits(1234, -4, rounded=True)),
        ("1.5e-7", Digits(15, -8, rounded=True)),
        (" -0.50\t", Digits(-50, -2, rounded=True)),
        ("1e5", Digits(1, 5, rounded=True)),
        ("100.", Digits(100, 0, rounded=True)),
        (".5E+3", Digits(5, 2, rounded=True)),
        ("0.000", Digits(0, -3, rounded=True)),
        ("-0100", Digits(-100, 0, rounded=False)),  # an integer was not rounded
        ("nan", None),
        ("-inf", None),
        ("1.5 m", None),
        ("1" * 101 + ".0", None),  # beyond what a printer rounds to
        ("1e1234567", None),
    ],
)
def test_decimal_digits(text: str, digits: Digits | None) -> None:
    assert decimal_digits(text) == digits


@pytest.mark.parametrize(
    ("a", "b", "explained"),
    [
        ("0.1234", "0.1235", True),
        ("0.1235", "0.1234", True),
        ("1.5e-7", "1.6e-7", True),
        ("9.99e-8", "1.00e-7", True),
        ("0.123", "0.1231", True),
        ("1.0", "1.1", True),
        ("0.0", "1e-300", True),  # 0.0 is exact at the finer digit, one unit away
        ("0.1234", "0.1236", False),
        ("0.5", "0.54", False),
        ("0.12", "0.1234", False),
        ("100", "101", False),
        ("100", "100.4", False),
        ("33339", "33338.9", True),  # %g printed 33339.0 as 33339
        ("100.", "101", True),  # the same units digit, one of them rounded
        ("1e5", "100001", False),  # the finer digit is an exact integer's
        ("1e-300", "1e300", False),
        ("0.30000000000000004", "0.30000000000000005", True),
        ("1" + "0" * 98 + ".0", "1" + "0" * 98 + ".1", True),  # 100 digits, exactly
        ("1.5", "x", False),
    ],
)
def test_explained_by_rounding(a: str, b: str, explained: bool) -> None:
    assert explained_by_rounding(a, b) is explained


def test_explained_by_rounding_is_exact_where_doubles_are_not() -> None:
    assert 0.1235 - 0.1234 > 1e-4  # in binary, more than one unit
    assert explained_by_rounding("0.1234", "0.1235")
    assert not explained_by_rounding("0.1234", "0.12350000000000001")


def test_parse_number_is_ascii_only() -> None:
    assert parse_number("١٢") is None  # Arabic-Indic digits: int() takes them, RE2 does not
    assert parse_number("\u00a01") is None


@pytest.mark.parametrize(
    ("e", "a", "tol", "status"),
    [
        ("1.0", "1.00", Tolerance(0, 0), SAME),
        ("NaN", "nan", Tolerance(0, 0), SAME),
        ("0.1234", "0.1235", Tolerance(1e-3, 0), WITHIN),
        ("0.1234", "0.1235", Tolerance(0, 0), ROUNDED),
        ("1e308", "2e308", Tolerance(0, 0), BEYOND),  # the second overflows to inf
        ("inf", "-inf", Tolerance(1, 1), BEYOND),
        ("x", "y", Tolerance(1, 1), BEYOND),
        ("12345678901234567890", "12345678901234567891", Tolerance(0, 0), BEYOND),
    ],
)
def test_compare_printed(e: str, a: str, tol: Tolerance, status: int) -> None:
    outcome = compare_printed(e, a, tol)
    assert outcome.status == status
    assert outcome.numeric is (parse_number(e) is not None and parse_number(a) is not None)
    if status == ROUNDED:
        assert outcome.abs_dev == pytest.approx(1e-4)
    if not outcome.numeric:
        assert math.isnan(outcome.abs_dev)
