"""CSV and TSV outputs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from preserve.compare import compare_output
from preserve.compare.table import parse_number

HEADER = ["q", "intensity", "sample"]


def _write(
    path: Path, rows: list[list[object]], *, delimiter: str = ",", crlf: bool = False
) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter, lineterminator="\r\n" if crlf else "\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def _rows(n: int = 20) -> list[list[object]]:
    return [[repr(0.01 * i), repr(100.0 + i * 1.5), "LaB6"] for i in range(n)]


def _compare(tmp_path: Path, published: list[list[object]], rerun: list[list[object]], **kw):  # type: ignore[no-untyped-def]
    suffix = ".tsv" if kw.get("delimiter") == "\t" else ".csv"
    expected = _write(
        tmp_path / f"published{suffix}", published, delimiter=kw.pop("delimiter", ",")
    )
    actual = tmp_path / f"rerun{suffix}"
    _write(actual, rerun, delimiter="\t" if suffix == ".tsv" else ",", crlf=kw.pop("crlf", False))
    rtol, atol = kw.pop("rtol", 0.0), kw.pop("atol", 0.0)
    return compare_output(expected, actual, rtol=rtol, atol=atol, path=f"peaks{suffix}")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("-12", -12),
        ("1.5", 1.5),
        (" 2e3 ", 2000.0),
        (".5", 0.5),
        ("nan", None),
        ("1_000", None),
        ("", None),
        ("0x10", None),
        ("inf", np.inf),
    ],
)
def test_parse_number(text: str, value: float | None) -> None:
    parsed = parse_number(text)
    if text == "nan":
        assert isinstance(parsed, float) and np.isnan(parsed)
    else:
        assert parsed == value
        assert type(parsed) is type(value)


def test_line_endings_and_number_spelling_do_not_count(tmp_path: Path) -> None:
    published = _rows()
    rerun = [row.copy() for row in published]
    rerun[3][1] = "104.50"  # 104.5 written with a trailing zero
    result = _compare(tmp_path, published, rerun, crlf=True)
    assert (result.format, result.verdict) == ("csv", "equivalent")
    assert result.summary == "bytes differ; data equal exactly"
    assert (result.max_abs, result.max_rel) == (0.0, 0.0)


def test_values_within_tolerance(tmp_path: Path) -> None:
    published = _rows()
    rerun = [row.copy() for row in published]
    rerun[4][1] = repr(106.0 * (1 + 1e-12))
    rerun[9][1] = repr(113.5 * (1 - 3e-12))
    result = _compare(tmp_path, published, rerun, rtol=1e-9)
    assert result.verdict == "equivalent"
    assert result.max_abs == pytest.approx(113.5 * 3e-12, rel=1e-3)
    assert result.max_rel == pytest.approx(3e-12, rel=1e-3)
    assert result.summary.endswith(" in column 'intensity'")
    [note] = result.differences
    assert note.location == "row 5, column 'intensity'"
    assert note.kind == "within-tolerance"
    assert note.detail is not None and note.detail.startswith("2 of 20 in column 'intensity'")


def test_values_beyond_tolerance_name_row_and_column(tmp_path: Path) -> None:
    published = _rows()
    rerun = [row.copy() for row in published]
    rerun[11][1] = "117.0"
    rerun[12][2] = "Si"
    result = _compare(tmp_path, published, rerun, rtol=1e-9)
    assert result.verdict == "different"
    intensity, sample = result.differences
    assert (intensity.location, intensity.expected, intensity.actual) == (
        "row 12, column 'intensity'",
        "116.5",
        "117.0",
    )
    assert intensity.detail == "1 of 20 in column 'intensity' beyond rtol=1e-09, atol=0"
    assert (sample.location, sample.expected, sample.actual) == (
        "row 13, column 'sample'",
        "'LaB6'",
        "'Si'",
    )
    assert result.summary.startswith("row 12, column 'intensity': 1 of 20")
    assert result.max_abs == pytest.approx(0.5)


def test_integers_exact_unless_tolerance(tmp_path: Path) -> None:
    published = [["1", "12345678901234567890", "x"]]
    rerun = [["1", "12345678901234567891", "x"]]
    assert _compare(tmp_path, published, rerun).verdict == "different"
    tolerant = _compare(tmp_path, published, rerun, atol=1)
    assert tolerant.verdict == "equivalent"
    assert tolerant.max_abs == 1.0


def test_nan_cells(tmp_path: Path) -> None:
    published = [["0.1", "nan", "x"]]
    assert _compare(tmp_path, published, [["0.1", "NaN", "x"]]).verdict == "equivalent"
    result = _compare(tmp_path, published, [["0.1", "1.0", "x"]], rtol=1, atol=1)
    assert result.verdict == "different"
    assert result.differences[0].expected == "nan"


def test_header_must_match(tmp_path: Path) -> None:
    expected = _write(tmp_path / "a.csv", _rows())
    actual = tmp_path / "b.csv"
    actual.write_text("q,I,sample\n" + expected.read_text().split("\n", 1)[1])
    result = compare_output(expected, actual, rtol=1, atol=1, path="a.csv")
    assert result.verdict == "different"
    [difference] = result.differences
    assert (difference.location, difference.expected, difference.actual) == (
        "header",
        "'q,intensity,sample'",
        "'q,I,sample'",
    )


@pytest.mark.parametrize(("published", "rerun"), [(20, 18), (18, 20)])
def test_different_row_counts(tmp_path: Path, published: int, rerun: int) -> None:
    result = _compare(tmp_path, _rows(published), _rows(rerun))
    assert result.verdict == "different"
    [difference] = result.differences
    assert difference.location == "rows"
    assert difference.detail == f"expected {published} data rows, got {rerun}"


def test_ragged_row(tmp_path: Path) -> None:
    rerun = _rows()
    rerun[6] = [*rerun[6], "extra"]
    result = _compare(tmp_path, _rows(), rerun)
    [difference] = result.differences
    assert (difference.location, difference.expected, difference.actual) == (
        "row 7",
        "3 fields",
        "4 fields",
    )


def test_tsv_detected_by_extension(tmp_path: Path) -> None:
    rerun = _rows()
    rerun[0][0] = "0.5"
    result = _compare(tmp_path, _rows(), rerun, delimiter="\t")
    assert result.format == "tsv"
    assert result.differences[0].location == "row 1, column 'q'"


def test_duplicate_column_names_are_told_apart(tmp_path: Path) -> None:
    expected, actual = tmp_path / "a.csv", tmp_path / "b.csv"
    expected.write_text("x,x\n1,2\n")
    actual.write_text("x,x\n1,3\n")
    result = compare_output(expected, actual, rtol=0, atol=0, path="a.csv")
    assert result.differences[0].location == "row 1, column 'x' (#2)"
