"""Plot data of CSV/TSV outputs: each all-numeric column as a 1D series.

When the first column is numeric in every row it is the x axis (a ``q`` or
``two_theta`` column, as such files are usually written), otherwise the row.
Fed with the same Arrow batches the comparison reads (the csv-module fallback
for irregular files gathers none).
"""

from __future__ import annotations

import pyarrow as pa

from preserve.compare.columns import ColumnStats, Floats, _numbers
from preserve.compare.plotdata import Series, SeriesReducer


class TablePlots:
    def __init__(self, header: list[str]) -> None:
        self.header = header
        self.numeric = [True] * len(header)
        self.reducers = [SeriesReducer(f"column {name!r}") for name in header]

    def update(self, e: pa.RecordBatch, a: pa.RecordBatch) -> None:
        parsed: list[tuple[Floats, Floats] | None] = []
        for i in range(len(self.header)):
            if not self.numeric[i]:
                parsed.append(None)
                continue
            (fe, me), (fa, ma) = _numbers(e.column(i)), _numbers(a.column(i))
            self.numeric[i] = bool(me.all() and ma.all())
            parsed.append((fe, fa) if self.numeric[i] else None)
        x = parsed[0][0] if parsed and parsed[0] is not None else None
        for reducer, pair in zip(self.reducers, parsed, strict=True):
            if pair is not None:
                reducer.update(pair[0], pair[1], x)

    def results(self, columns: list[ColumnStats]) -> list[Series]:
        """Series of the numeric columns whose values differ (within tolerance or not)."""
        by_x = bool(self.header) and self.numeric[0]
        x_label = self.header[0] if by_x else "row"
        return [
            reducer.result(x_label, name)
            for i, (reducer, name, column) in enumerate(
                zip(self.reducers, self.header, columns, strict=True)
            )
            if self.numeric[i] and column.unequal and not (by_x and i == 0)
        ]
