"""CSV and TSV outputs."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from preserve.compare import compare_output, table
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


# --- numbers compared knowing the precision they were printed with --------------------


def _one_cell(tmp_path: Path, published: str, rerun: str, **kw):  # type: ignore[no-untyped-def]
    rows = _rows(5)
    changed = [row.copy() for row in rows]
    rows[2][1], changed[2][1] = published, rerun
    return _compare(tmp_path, rows, changed, **kw)


@pytest.mark.parametrize(
    ("published", "rerun"),
    [
        ("0.1234", "0.1235"),  # 0.12345 printed with 4 decimals, rounded either way
        ("1.5e-7", "1.6e-7"),
        ("9.99e-08", "1.00e-07"),  # one unit across a change of exponent
        ("0.123", "0.1231"),  # %g dropped a trailing zero: 0.1230
        ("-0.0001", "0.0000"),
        ("33339", "33338.9"),  # %g drops the point of 33339.0
    ],
)
@pytest.mark.parametrize(("rtol", "atol"), [(0.0, 0.0), (1e-9, 0.0)])
def test_one_unit_in_the_last_printed_digit_is_rounding(
    tmp_path: Path, published: str, rerun: str, rtol: float, atol: float
) -> None:
    result = _one_cell(tmp_path, published, rerun, rtol=rtol, atol=atol)
    assert result.verdict == "equivalent"
    [note] = result.differences
    assert (note.location, note.kind) == ("row 3, column 'intensity'", "within-rounding")
    assert (note.expected, note.actual) == (published, rerun)
    assert note.detail is not None
    assert note.detail.startswith(
        "1 of 5 in column 'intensity' differ by one unit in their last printed digit,"
        " explained by rounding (not a difference)"
    )
    assert "or within rounding of the last printed digit (1 value)" in result.summary
    assert result.max_abs is not None and result.max_abs > 0


@pytest.mark.parametrize(
    ("published", "rerun"),
    [
        ("0.1234", "0.1236"),  # two units: not explained by rounding
        ("100", "101"),  # integers: nothing was rounded (counts, indices, sizes)
        ("0.5", "0.54"),  # 0.5 is exact at the finer digit: 0.50
        ("100", "100.4"),  # an integer is exact: 100.4 cannot round to it
        ("1.5e-7", "1.7e-7"),
        ("nan", "0.1"),
    ],
)
def test_larger_deviations_are_still_differences(
    tmp_path: Path, published: str, rerun: str
) -> None:
    result = _one_cell(tmp_path, published, rerun, rtol=0, atol=0)
    assert result.verdict == "different"
    [difference] = result.differences
    assert (difference.kind, difference.expected, difference.actual) == (
        "values",
        published,
        rerun,
    )
    assert difference.detail == "1 of 5 in column 'intensity' beyond rtol=0, atol=0"


def test_tolerance_is_judged_first_and_never_widened_by_rounding(tmp_path: Path) -> None:
    within = _one_cell(tmp_path, "0.1234", "0.1235", rtol=1e-3, atol=0)
    assert (within.verdict, within.differences[0].kind) == ("equivalent", "within-tolerance")
    # Two units: 2e-4 > atol; rounding does not add one unit to the tolerance.
    assert _one_cell(tmp_path, "0.1234", "0.1236", rtol=0, atol=1.5e-4).verdict == "different"
    assert _one_cell(tmp_path, "0.1234", "0.1236", rtol=0, atol=2.1e-4).verdict == "equivalent"
    assert _one_cell(tmp_path, "100", "101", rtol=0, atol=1).verdict == "equivalent"


def test_rounded_values_beside_a_real_difference(tmp_path: Path) -> None:
    published = [[f"{0.01 * i:.4f}", f"{100 + i * 1.5:.4f}", "LaB6"] for i in range(10)]
    rerun = [row.copy() for row in published]
    rerun[1][1] = "101.5001"
    rerun[4][1] = "106.0001"
    rerun[7][1] = "110.6000"
    result = _compare(tmp_path, published, rerun)
    assert result.verdict == "different"
    [difference] = result.differences
    assert difference.location == "row 8, column 'intensity'"
    assert difference.detail == (
        "1 of 10 in column 'intensity' beyond rtol=0, atol=0; 2 more explained by rounding"
    )


# --- the Arrow reader and the csv-module reader agree ---------------------------------


def _force(monkeypatch: pytest.MonkeyPatch, reader: str) -> None:
    """Make the comparison use one reader only (and fail if the other one is used)."""

    def refuse(*args: object, **kwargs: object) -> table._Rows:
        if reader == "csv":
            raise table._Irregular
        raise AssertionError("the csv module was used")

    monkeypatch.setattr(table, "_arrow_rows" if reader == "csv" else "_csv_rows", refuse)


SCENARIOS = {
    "within tolerance and rounding": (
        "q,I,name\n0.1,1.0,a\n0.2,2.0000000001,b\n0.3,3.1234,c\n",
        "q,I,name\n0.1,1.00,a\n0.2,2.0000000002,b\n0.3,3.1235,c\n",
    ),
    "beyond and text": (
        "q,I,name\n0.1,1.0,a\n0.2,2.0,b\n0.3,3.0,c\n",
        "q,I,name\n0.1,1.5,a\n0.2,2.0,B\n0.3,3.5,c\n",
    ),
    "quoted cells": (
        'q,I,name\n0.1,"1.0","a, b"\n0.2,2.0,"two\nlines"\n',
        'q,I,name\n0.1,1.0,"a, b"\n"0.2",2.0,"two\nlines!"\n',
    ),
    "rerun has more rows": ("q,I\n1,2\n3,4\n", "q,I\n1,2\n3,4\n5,6\n7,8\n"),
    "published has more rows": ("q,I\n1,2\n3,4\n5,6\n", "q,I\n1,2\n"),
    "integers": ("n,m\n12345678901234567890,+5\n7,8\n", "n,m\n12345678901234567891,5\n7,9\n"),
    "blanks and words": ("a,b\n,x\nnan,inf\n", "a,b\n ,x\nNaN,-inf\n"),
    "blank line": ("a,b\n1,2\n\n3,4\n", "a,b\n1,2\n,\n3,5\n"),
    "blank line against data": ("a,b\n1,2\n\n", "a,b\n1,2\n0,\n"),
    "one column": ("a\n1\n\n0.25\n", "a\n1\n\n0.26\n"),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_both_readers_give_the_same_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario: str
) -> None:
    published, rerun = SCENARIOS[scenario]
    expected, actual = tmp_path / "a.csv", tmp_path / "b.csv"
    expected.write_text(published)
    actual.write_text(rerun)
    reports = []
    for reader in ("arrow", "csv"):
        with monkeypatch.context() as patch:
            _force(patch, reader)
            reports.append(compare_output(expected, actual, rtol=1e-9, atol=0, path="t").to_json())
    assert reports[0] == reports[1]
    assert reports[0]["verdict"] != "identical"


def test_files_arrow_would_read_differently_go_to_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[str] = []
    original = table._csv_rows

    def spy(*args: Any, **kwargs: Any) -> table._Rows:
        used.append("csv")
        return original(*args, **kwargs)

    monkeypatch.setattr(table, "_csv_rows", spy)
    cases = {
        "byte-order mark": ("\ufeffa,b\n1,2\n", "\ufeffa,b\n1,3\n"),
        "invalid UTF-8": (b"a,b\n1,\xff\n", b"a,b\n1,\xfe\n"),
        "ragged row": ("a,b\n1,2\n3,4,5\n", "a,b\n1,2\n3,4\n"),
    }
    for i, (name, (published, rerun)) in enumerate(cases.items()):
        expected, actual = tmp_path / f"{i}a.csv", tmp_path / f"{i}b.csv"
        for path, text in ((expected, published), (actual, rerun)):
            path.write_bytes(text if isinstance(text, bytes) else text.encode())
        before = len(used)
        result = compare_output(expected, actual, rtol=0, atol=0, path="t")
        assert len(used) == before + 1, name
        assert result.verdict == "different", name
    ragged = compare_output(tmp_path / "2a.csv", tmp_path / "2b.csv", rtol=0, atol=0, path="t")
    assert (ragged.differences[0].location, ragged.differences[0].expected) == ("row 2", "3 fields")


def test_rows_are_located_across_reader_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks of the two files end at different rows (their lines differ in length)."""
    monkeypatch.setattr(table, "BLOCK_SIZE", 1 << 10)
    _force(monkeypatch, "arrow")
    published = [[f"{i}", f"{i * 0.5:.1f}", "x"] for i in range(3000)]
    rerun = [[f"{i}", f"{i * 0.5:.6f}", "x"] for i in range(3000)]  # same values, longer
    rerun[1233][1] = "616.600000"  # 616.5 published
    rerun[2999][2] = "y"
    result = _compare(tmp_path, published, [*rerun, ["1", "2", "3"]])
    locations = [(d.location, d.expected, d.actual) for d in result.differences]
    assert locations == [
        ("rows", "3000", "3001"),
        ("row 1234, column 'intensity'", "616.5", "616.600000"),
        ("row 3000, column 'sample'", "'x'", "'y'"),
    ]
    assert result.differences[1].detail == "1 of 3000 in column 'intensity' beyond rtol=0, atol=0"


@pytest.mark.slow
def test_large_tables_are_compared_in_bounded_memory(tmp_path: Path) -> None:
    """Two 200 MiB files: the comparison's memory does not grow with them.

    Arrow's reader reads up to 32 blocks ahead (~40 MiB per file at 1 MiB
    blocks); with numpy's temporaries and the allocator's slack the peak stays
    well under the size of one file.
    """
    block = "".join(f"{i * 1e-4!r},{100.0 + i!r},0.5\n" for i in range(20_000)).encode()
    expected, actual = tmp_path / "a.csv", tmp_path / "b.csv"
    copies = (200 << 20) // len(block)
    for path, last in ((expected, b"1,2,3\n"), (actual, b"1,2.5,3\n")):
        with path.open("wb") as fh:
            fh.write(b"q,I,sigma\n")
            for _ in range(copies):
                fh.write(block)
            fh.write(last)
    script = (
        "import resource, sys, json; from pathlib import Path;"
        "from preserve.compare import compare_output;"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
        "r = compare_output(Path(sys.argv[1]), Path(sys.argv[2]), rtol=0, atol=0, path='t');"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
        "print(json.dumps([(peak - base) / 1024, r.to_json()]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(expected), str(actual)],
        capture_output=True,
        text=True,
        check=True,
    )
    growth_mib, report = json.loads(proc.stdout)
    [difference] = report["differences"]
    assert difference["location"] == f"row {copies * 20_000 + 1}, column 'I'"
    assert growth_mib < 160, growth_mib  # each file is 200 MiB


def test_unparsable_header_is_a_difference_not_a_crash(tmp_path: Path) -> None:
    expected, actual = tmp_path / "a.csv", tmp_path / "b.csv"
    expected.write_text("q,I\n1,2\n")
    actual.write_text("q," + "x" * (csv.field_size_limit() + 1) + "\n1,2\n")
    result = compare_output(expected, actual, rtol=0, atol=0, path="t")
    [difference] = result.differences
    assert (difference.location, difference.kind) == ("header", "format")
    assert difference.detail is not None and "field larger than field limit" in difference.detail
