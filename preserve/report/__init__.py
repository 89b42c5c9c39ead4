"""The comparison report: plots of what differs, as self-contained HTML.

>>> report = Report(title, published, rerun, chosen_tolerance, comparisons, sources)
>>> write_report(report, Path("report.html"))           # images embedded
>>> add_to_crate(report, staging_dir, document)          # images as crate files

Comparisons made with ``plots=True`` carry the reduced data the plots need
(:mod:`preserve.compare.plotdata`): no output is read again, except the start
of text and JSON outputs for their diff.
"""

from __future__ import annotations

import base64
from pathlib import Path

from preserve.errors import ConfigError, DataError
from preserve.report.html import render_html
from preserve.report.model import Figure, Report

__all__ = ["Report", "check_report_target", "render_standalone", "write_report"]


def check_report_target(path: Path) -> None:
    """Refuse a report path that cannot be written, before any work is done."""
    if path.is_dir() or not path.parent.is_dir():
        raise ConfigError(
            f"cannot write the report to {path}: "
            + ("it is a directory" if path.is_dir() else "its directory does not exist"),
            hint="give --report a file name in an existing directory",
        )


def render_standalone(report: Report) -> str:
    """The report as one file, its images embedded as data URIs."""
    # matplotlib is imported only when a report is drawn: every command imports this module.
    from preserve.report.figures import make_figures

    return render_html(report, make_figures(report.comparisons), _data_uri)


def write_report(report: Report, path: Path) -> None:
    """Write the standalone report to ``path`` (atomically)."""
    from preserve.crate.io import write_atomic

    try:
        write_atomic(path, render_standalone(report))
    except OSError as exc:
        raise DataError(
            f"cannot write the report to {path}: {exc}",
            hint="give --report a file in a directory you can write to",
        ) from exc


def _data_uri(figure: Figure) -> str:
    return "data:image/png;base64," + base64.b64encode(figure.png).decode("ascii")
