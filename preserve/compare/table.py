"""CSV/TSV outputs: the header exactly, then cell by cell, streaming both files.

A cell that reads as a number in both files is compared within tolerance
(two integers in exact arithmetic); any other cell exactly. Rows are numbered
from 1 after the header line. Quoting and line endings do not count: both
files are parsed by the same :mod:`csv` reader.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

from preserve.compare.findings import Findings
from preserve.compare.model import WITHIN_TOLERANCE, Difference, Tolerance, fmt_dev
from preserve.compare.values import MAX_RENDERED, Number, compare_numbers, render

_NUMBER = re.compile(
    r"\s*[+-]?(?:(?P<int>\d+)|(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?|nan|inf|infinity)\s*",
    re.IGNORECASE,
)


def parse_number(text: str) -> Number | None:
    """An int or float if the whole cell is a plain number literal, else None."""
    match = _NUMBER.fullmatch(text)
    if match is None:
        return None
    return int(text) if match.group("int") else float(text)


@dataclass
class _Cell:
    row: int
    expected: str
    actual: str


@dataclass
class _Column:
    name: str
    numeric: bool = False  # any differing cell compared as numbers
    unequal: int = 0
    beyond: int = 0
    first_unequal: _Cell | None = None
    first_beyond: _Cell | None = None
    max_abs: float = 0.0
    max_rel: float = 0.0
    max_abs_row: int = 0


def compare_table(
    expected: Path, actual: Path, delimiter: str, tol: Tolerance, findings: Findings
) -> None:
    with ExitStack() as stack:
        published, rerun = (_rows(stack, p, delimiter) for p in (expected, actual))
        header, header_rerun = next(published, None), next(rerun, None)
        if header != header_rerun:
            findings.fail(
                Difference(
                    "header",
                    "header",
                    _line(header, delimiter),
                    _line(header_rerun, delimiter),
                    "header differs",
                )
            )
            return
        columns = _columns(header or [])
        rows = _compare_rows(published, rerun, columns, tol, findings)
    for column in columns:
        _report(column, rows, tol, findings)


def _rows(stack: ExitStack, path: Path, delimiter: str) -> Iterator[list[str]]:
    # surrogateescape: undecodable bytes still compare exactly, and never crash.
    fh = stack.enter_context(path.open(newline="", encoding="utf-8", errors="surrogateescape"))
    return csv.reader(fh, delimiter=delimiter)


def _columns(header: list[str]) -> list[_Column]:
    duplicated = {name for name in header if header.count(name) > 1}
    return [
        _Column(f"column {name!r}" + (f" (#{i + 1})" if name in duplicated else ""))
        for i, name in enumerate(header)
    ]


def _compare_rows(
    published: Iterator[list[str]],
    rerun: Iterator[list[str]],
    columns: list[_Column],
    tol: Tolerance,
    findings: Findings,
) -> int:
    """Compare rows pairwise; return the number of data rows compared."""
    row = 0
    try:
        for row, (e, a) in enumerate(zip_longest(published, rerun), start=1):
            if e is None or a is None:
                _row_counts(row - 1, published if a is None else rerun, a is None, findings)
                return row - 1
            if e == a:
                continue
            if len(e) != len(a) or len(e) != len(columns):
                _ragged(row, e, a, len(columns), findings)
                continue
            for column, x, y in zip(columns, e, a, strict=True):
                if x != y:
                    _cell(column, row, x, y, tol)
    except csv.Error as exc:
        findings.fail(Difference(f"row {row + 1}", "format", None, None, f"unparsable: {exc}"))
    return row


def _row_counts(
    common: int, longer: Iterator[list[str]], published_longer: bool, findings: Findings
) -> None:
    count = common + 1 + sum(1 for _ in longer)
    n_published, n_rerun = (count, common) if published_longer else (common, count)
    findings.fail(
        Difference(
            "rows",
            "rows",
            str(n_published),
            str(n_rerun),
            f"expected {n_published} data rows, got {n_rerun}",
        )
    )


def _ragged(row: int, e: list[str], a: list[str], width: int, findings: Findings) -> None:
    findings.fail(
        Difference(
            f"row {row}",
            "structure",
            f"{len(e)} fields",
            f"{len(a)} fields",
            f"field count differs (header has {width})",
        )
    )


def _cell(column: _Column, row: int, x: str, y: str, tol: Tolerance) -> None:
    ex, ay = parse_number(x), parse_number(y)
    if ex is None or ay is None:
        within = False
    else:
        outcome = compare_numbers(ex, ay, tol)
        if outcome.equal:  # the same number written differently, e.g. 1.0 and 1.00
            return
        column.numeric, within = True, outcome.within
        if outcome.abs_dev > column.max_abs:
            column.max_abs, column.max_abs_row = outcome.abs_dev, row
        column.max_rel = max(column.max_rel, outcome.rel_dev)
    column.unequal += 1
    if column.first_unequal is None:
        column.first_unequal = _Cell(row, x, y)
    if not within:
        column.beyond += 1
        if column.first_beyond is None:
            column.first_beyond = _Cell(row, x, y)


def _report(column: _Column, rows: int, tol: Tolerance, findings: Findings) -> None:
    if column.numeric:
        findings.deviation(column.max_abs, column.max_rel, column.name)
    of = f"of {rows} in {column.name}"
    if column.first_beyond is not None:
        cell = column.first_beyond
        how = f"beyond {tol}" if column.numeric else "differ"
        findings.fail(_difference(cell, column, "values", f"{column.beyond} {of} {how}"))
    elif column.first_unequal is not None:
        detail = (
            f"{column.unequal} {of} differ within {tol}; max abs dev {fmt_dev(column.max_abs)}"
            f" in row {column.max_abs_row}, max rel dev {fmt_dev(column.max_rel)}"
        )
        findings.note(_difference(column.first_unequal, column, WITHIN_TOLERANCE, detail))


def _difference(cell: _Cell, column: _Column, kind: str, detail: str) -> Difference:
    return Difference(
        f"row {cell.row}, {column.name}", kind, _show(cell.expected), _show(cell.actual), detail
    )


def _show(text: str) -> str:
    """Numbers as written, anything else quoted (so an empty cell shows as '')."""
    return text[:MAX_RENDERED] if parse_number(text) is not None else render(text)


def _line(fields: list[str] | None, delimiter: str) -> str | None:
    return None if fields is None else render(delimiter.join(fields))
