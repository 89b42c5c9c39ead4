"""``preserve compare``."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from preserve.cli._context import AppContext
from preserve.cli._options import json_option, report_option, tolerance_options
from preserve.cli._render import out_console, print_json, progress_for
from preserve.cli._verdicts import not_reproduced, print_verdicts
from preserve.errors import NotReproduced


@click.command()
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@tolerance_options
@report_option()
@json_option()
@click.pass_obj
def compare(
    app: AppContext,
    a: str,
    b: str,
    rtol: float | None,
    atol: float | None,
    report: Path | None,
    as_json: bool,
) -> None:
    """Compare the outputs of crate B with those of crate A, running nothing.

    A and B are each a DOI, an OCI reference or a crate directory: a published
    crate, a rerun crate, or two invocations. A is the reference. Verdicts,
    tolerances (default: A's manifest) and report are those of `preserve rerun`.

    Exit codes: 0 reproduced, 3 not reproduced, 1 could not compare.
    """
    from preserve import api

    result = api.compare(
        a,
        b,
        settings=app.settings(),
        rtol=rtol,
        atol=atol,
        report=report,
        progress=progress_for(as_json),
    )
    if as_json:
        print_json(result.to_json())
    else:
        print_verdicts(f"{escape(a)} → {escape(b)}", result.comparisons)
        if report is not None:
            out_console().print(f"report: {escape(str(report))}", highlight=False)
    if not result.reproduced:
        raise NotReproduced(
            f"not reproduced: {not_reproduced(result.comparisons)}",
            hint="--report FILE shows where the outputs differ",
        )
    if not as_json:
        out_console().print(
            f"[green]reproduced[/] ({result.tolerance.describe()})", highlight=False
        )
