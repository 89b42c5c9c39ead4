"""CSV/TSV outputs: the header exactly, then column by column, streaming both files.

A cell that reads as a number in both files is compared within tolerance (two
integers in exact arithmetic) or as explained by rounding of its last printed
digit (see :mod:`preserve.compare.printed`); any other cell exactly. Rows are
numbered from 1 after the header line. Quoting and line endings do not count:
both files are parsed by the same reader.

The reader is Arrow's streaming CSV reader (in blocks of bounded size, parsed
ahead in Arrow's threads), and cells are compared a chunk of rows at a time in
:mod:`preserve.compare.columns`. Files it cannot read as Python's :mod:`csv`
does (ragged rows, invalid UTF-8, a header it splits otherwise such as one
with a byte-order mark, rows larger than a block) are read again with
:mod:`csv` into the same column comparison, so the verdict does not depend on
which reader ran. A blank line is a row of empty cells to both.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from preserve.compare.columns import Cell, ColumnStats
from preserve.compare.findings import Findings
from preserve.compare.model import WITHIN_ROUNDING, WITHIN_TOLERANCE, Difference, Tolerance, fmt_dev
from preserve.compare.printed import parse_number
from preserve.compare.tableplot import TablePlots
from preserve.compare.values import MAX_RENDERED, render

__all__ = ["compare_table", "parse_number"]

# Arrow parses blocks of this size, ahead of us in its own threads, up to 32
# blocks (its background reader's queue): ~40 MiB per file, whatever its size.
BLOCK_SIZE = 1 << 20
# Rows of the csv-module reader handed to the column comparison at once.
CSV_CHUNK_ROWS = 1 << 16


class _Irregular(Exception):
    """Arrow's reader cannot stand in for csv's on this file: read it with csv."""


@dataclass
class _Rows:
    """What reading found besides cell values: rows compared, structural differences."""

    compared: int = 0
    problems: list[Difference] = field(default_factory=list)


def compare_table(
    expected: Path, actual: Path, delimiter: str, tol: Tolerance, findings: Findings
) -> None:
    try:
        header, header_rerun = (_header(p, delimiter) for p in (expected, actual))
    except csv.Error as exc:
        findings.fail(Difference("header", "format", None, None, f"unparsable: {exc}"))
        return
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
    names = header or []
    plots = TablePlots(names) if findings.wants_plot() else None
    try:
        columns = _columns(names)
        rows = _arrow_rows(expected, actual, delimiter, names, columns, tol, plots)
    except _Irregular:
        columns, plots = _columns(names), None
        rows = _csv_rows(expected, actual, delimiter, columns, tol)
    for problem in rows.problems:
        findings.fail(problem)
    for column in columns:
        _report(column, rows.compared, tol, findings)
    for series in plots.results(columns) if plots and not rows.problems else ():
        findings.plot(series)


def _reader(stack: ExitStack, path: Path, delimiter: str) -> Iterator[list[str]]:
    # surrogateescape: undecodable bytes still compare exactly, and never crash.
    fh = stack.enter_context(path.open(newline="", encoding="utf-8", errors="surrogateescape"))
    return csv.reader(fh, delimiter=delimiter)


def _header(path: Path, delimiter: str) -> list[str] | None:
    with ExitStack() as stack:
        return next(_reader(stack, path, delimiter), None)


def _columns(header: list[str]) -> list[ColumnStats]:
    duplicated = {name for name in header if header.count(name) > 1}
    return [
        ColumnStats(f"column {name!r}" + (f" (#{i + 1})" if name in duplicated else ""))
        for i, name in enumerate(header)
    ]


# --- Arrow: the fast reader ---------------------------------------------------------


def _arrow_rows(
    expected: Path,
    actual: Path,
    delimiter: str,
    header: list[str],
    columns: list[ColumnStats],
    tol: Tolerance,
    plots: TablePlots | None,
) -> _Rows:
    rows = _Rows()
    try:
        published, rerun = (_batches(p, delimiter, header) for p in (expected, actual))
        _compare_batches(published, rerun, columns, tol, rows, plots)
    except pa.ArrowException as exc:
        raise _Irregular from exc
    return rows


def _compare_batches(
    published: Iterator[pa.RecordBatch],
    rerun: Iterator[pa.RecordBatch],
    columns: list[ColumnStats],
    tol: Tolerance,
    rows: _Rows,
    plots: TablePlots | None,
) -> None:
    for e, a in _aligned(published, rerun, rows):
        for i, column in enumerate(columns):
            column.update(e.column(i), a.column(i), rows.compared + 1, tol)
        if plots is not None:
            plots.update(e, a)
        rows.compared += e.num_rows


def _batches(path: Path, delimiter: str, header: list[str]) -> Iterator[pa.RecordBatch]:
    """Data rows of ``path`` in Arrow batches of text cells; the header is checked."""
    names = [f"c{i}" for i in range(len(header))]
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=names, block_size=BLOCK_SIZE),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=False
        ),
        convert_options=pacsv.ConvertOptions(
            # Text, validated as UTF-8 by the parser; other files go to csv.
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    first = True
    for batch in reader:
        if first and batch.num_rows:
            cells = batch.slice(0, 1).to_pylist()[0].values()
            if list(cells) != header:  # e.g. a byte-order mark, which Arrow drops and csv keeps
                raise _Irregular
            batch, first = batch.slice(1), False
        if batch.num_rows:
            yield batch


def _aligned(
    published: Iterator[pa.RecordBatch], rerun: Iterator[pa.RecordBatch], rows: _Rows
) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch]]:
    """Equal-length slices of the two files' batches; the row counts when one ends first."""
    e = a = None
    while True:
        e = e if e is not None and e.num_rows else next(published, None)
        a = a if a is not None and a.num_rows else next(rerun, None)
        if e is None or a is None:
            break
        n = min(e.num_rows, a.num_rows)
        yield e.slice(0, n), a.slice(0, n)
        e, a = e.slice(n), a.slice(n)
    if e is not None or a is not None:
        longer, first = (published, e) if a is None else (rerun, a)
        assert first is not None
        rest = first.num_rows + sum(b.num_rows for b in longer)
        rows.problems.append(_row_count(rows.compared, rest, published_longer=a is None))


# --- csv: the reader for everything else ----------------------------------------------


def _csv_rows(
    expected: Path, actual: Path, delimiter: str, columns: list[ColumnStats], tol: Tolerance
) -> _Rows:
    rows = _Rows()
    chunk = _Chunk(len(columns))
    row = 0
    with ExitStack() as stack:
        published, rerun = (_reader(stack, p, delimiter) for p in (expected, actual))
        next(published, None), next(rerun, None)  # the headers, equal
        try:
            for row, (e, a) in enumerate(zip_longest(published, rerun), start=1):
                if e is None or a is None:
                    rest = 1 + sum(1 for _ in (published if a is None else rerun))
                    rows.problems.append(_row_count(row - 1, rest, published_longer=a is None))
                    row -= 1
                    break
                if e == a:
                    continue
                # A blank line is a row of empty cells, as Arrow reads it.
                e, a = e or [""] * len(columns), a or [""] * len(columns)
                if e == a:
                    continue
                if len(e) != len(a) or len(e) != len(columns):
                    rows.problems.append(_ragged(row, e, a, len(columns)))
                    continue
                chunk.add(row, e, a)
                if len(chunk.rows) >= CSV_CHUNK_ROWS:
                    chunk.flush(columns, tol)
        except csv.Error as exc:
            rows.problems.append(
                Difference(f"row {row + 1}", "format", None, None, f"unparsable: {exc}")
            )
    chunk.flush(columns, tol)
    rows.compared = row
    return rows


class _Chunk:
    """Differing rows of equal width, gathered for the column comparison."""

    def __init__(self, width: int) -> None:
        self.rows: list[int] = []
        self.cells: list[tuple[list[bytes], list[bytes]]] = [([], []) for _ in range(width)]

    def add(self, row: int, e: list[str], a: list[str]) -> None:
        self.rows.append(row)
        for (ce, ca), x, y in zip(self.cells, e, a, strict=True):
            ce.append(x.encode("utf-8", "surrogateescape"))
            ca.append(y.encode("utf-8", "surrogateescape"))

    def flush(self, columns: list[ColumnStats], tol: Tolerance) -> None:
        if not self.rows:
            return
        numbers = np.array(self.rows, dtype=np.intp)
        for column, (ce, ca) in zip(columns, self.cells, strict=True):
            column.update(pa.array(ce, pa.binary()), pa.array(ca, pa.binary()), numbers, tol)
            ce.clear()
            ca.clear()
        self.rows.clear()


# --- report ----------------------------------------------------------------------------


def _row_count(common: int, rest: int, *, published_longer: bool) -> Difference:
    n_published, n_rerun = (common + rest, common) if published_longer else (common, common + rest)
    return Difference(
        "rows",
        "rows",
        str(n_published),
        str(n_rerun),
        f"expected {n_published} data rows, got {n_rerun}",
    )


def _ragged(row: int, e: list[str], a: list[str], width: int) -> Difference:
    return Difference(
        f"row {row}",
        "structure",
        f"{len(e)} fields",
        f"{len(a)} fields",
        f"field count differs (header has {width})",
    )


def _report(column: ColumnStats, rows: int, tol: Tolerance, findings: Findings) -> None:
    if column.numeric:
        findings.deviation(column.max_abs, column.max_rel, column.name)
    findings.rounded += column.rounded
    of = f"of {rows} in {column.name}"
    rounded = (
        f"{column.rounded} {of} differ by one unit in their last printed digit,"
        " explained by rounding (not a difference)"
    )
    if column.first_beyond is not None:
        how = f"beyond {tol}" if column.numeric else "differ"
        more = f"; {column.rounded} more explained by rounding" if column.rounded else ""
        detail = f"{column.beyond} {of} {how}{more}"
        findings.fail(_difference(column.first_beyond, column, "values", detail))
        return
    deviations = (
        f"max abs dev {fmt_dev(column.max_abs)} in row {column.max_abs_row},"
        f" max rel dev {fmt_dev(column.max_rel)}"
    )
    if column.first_rounded is not None:
        within = f"; {column.within} more differ within {tol}" if column.within else ""
        detail = f"{rounded}{within}; {deviations}"
        findings.note(_difference(column.first_rounded, column, WITHIN_ROUNDING, detail))
    elif column.first_unequal is not None:
        detail = f"{column.unequal} {of} differ within {tol}; {deviations}"
        findings.note(_difference(column.first_unequal, column, WITHIN_TOLERANCE, detail))


def _difference(cell: Cell, column: ColumnStats, kind: str, detail: str) -> Difference:
    return Difference(
        f"row {cell.row}, {column.name}", kind, _show(cell.expected), _show(cell.actual), detail
    )


def _show(text: str) -> str:
    """Numbers as written, anything else quoted (so an empty cell shows as '')."""
    return text[:MAX_RENDERED] if parse_number(text) is not None else render(text)


def _line(fields: list[str] | None, delimiter: str) -> str | None:
    return None if fields is None else render(delimiter.join(fields))
