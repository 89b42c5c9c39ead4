"""The verdict table of ``rerun`` and ``compare``, with a sparkline per plotted 1D output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from preserve.cli._render import out_console

if TYPE_CHECKING:
    from preserve.compare import OutputComparison

STYLE = {"identical": "green", "equivalent": "cyan", "different": "red", "missing": "red"}


def print_verdicts(title: str, comparisons: Sequence[OutputComparison]) -> None:
    from preserve.compare.plotdata import Series
    from preserve.report.sparkline import sparkline

    lines = {
        c.path: sparkline(next(p for p in c.plots if isinstance(p, Series)))
        for c in comparisons
        if c.verdict in ("equivalent", "different") and any(isinstance(p, Series) for p in c.plots)
    }
    table = Table(title=title, title_justify="left")
    for col in ("output", "verdict", "details"):
        table.add_column(col)
    if lines:
        table.add_column("|relative residual|", no_wrap=True)
    for c in comparisons:
        row = [escape(c.path), f"[{STYLE[c.verdict]}]{c.verdict}[/]", escape(c.summary)]
        table.add_row(*row, *([lines.get(c.path, "")] if lines else []))
    out_console().print(table)


def not_reproduced(comparisons: Sequence[OutputComparison]) -> str:
    """ "a.csv differs from the published output; b.h5 is missing", in plain English."""
    different = [c.path for c in comparisons if c.verdict == "different"]
    missing = [c.path for c in comparisons if c.verdict == "missing"]
    parts = []
    if different:
        verb = "differs" if len(different) == 1 else "differ"
        noun = "output" if len(different) == 1 else "outputs"
        parts.append(f"{', '.join(different)} {verb} from the published {noun}")
    if missing:
        parts.append(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing")
    return "; ".join(parts)
