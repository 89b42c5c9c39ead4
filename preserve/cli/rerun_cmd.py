"""``preserve rerun``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

from preserve import plugins
from preserve.cli._context import AppContext
from preserve.cli._options import (
    input_option,
    json_option,
    plugin_option,
    report_option,
    tolerance_options,
)
from preserve.cli._render import err_console, out_console, print_json, progress_for
from preserve.cli._verdicts import not_reproduced, print_verdicts
from preserve.crate.model import REPORT_PAGE
from preserve.errors import NotReproduced, PreserveError
from preserve.settings import Settings

if TYPE_CHECKING:
    from preserve.rerun import RerunResult


def _env_pairs(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str | None]:
    pairs: dict[str, str | None] = {}
    for value in values:
        name, sep, given = value.partition("=")
        if not name:
            raise click.BadParameter(f"{value!r} is not NAME or NAME=VALUE")
        pairs[name] = given if sep else None
    return pairs


@click.command()
@click.argument("target", metavar="DOI|REF|CRATE_DIR|CRATE_URI")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory for the rerun's crate. Default: ./NAME-rerun.",
)
@plugin_option("--runner", plugins.RUNNERS, "Container runner (default: the configured one).")
@input_option(
    "Run on new data for input NAME (no comparison, unless its SHA-256 is the "
    "recorded input's). Repeatable."
)
@click.option(
    "--env",
    "env",
    multiple=True,
    metavar="NAME[=VALUE]",
    callback=_env_pairs,
    help="Pass variable NAME (your value, or VALUE) to the run; nothing else of your "
    "environment reaches it. Repeatable.",
)
@click.option(
    "--allow-network",
    is_flag=True,
    help="Give the run a network when the crate asks for one (recorded in the rerun crate).",
)
@click.option(
    "--allow-unverified-input",
    "allow_unverified",
    multiple=True,
    metavar="NAME",
    help="Use input NAME although the crate records no checksum for it (recorded). Repeatable.",
)
@tolerance_options
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop the run after this many seconds.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing rerun crate at -o.")
@report_option()
@json_option()
@click.pass_obj
def rerun(
    app: AppContext,
    target: str,
    output: Path | None,
    runner: str | None,
    inputs: dict[str, str],
    env: dict[str, str | None],
    allow_network: bool,
    allow_unverified: tuple[str, ...],
    rtol: float | None,
    atol: float | None,
    timeout: float | None,
    overwrite: bool,
    report: Path | None,
    as_json: bool,
) -> None:
    """Fetch, verify and rerun a preserved analysis; report whether it reproduced.

    Exit codes: 0 reproduced, 3 not reproduced, 1 could not rerun.
    """
    from preserve import api

    settings = app.settings()
    result = api.rerun(
        target,
        settings=settings,
        runner=runner,
        output=output,
        inputs=inputs,
        env=env,
        allow_network=allow_network,
        allow_unverified=allow_unverified,
        rtol=rtol,
        atol=atol,
        timeout=timeout,
        overwrite=overwrite,
        report=report,
        progress=progress_for(as_json),
    )
    _report_to_catalogue(settings, result.to_json())
    if as_json:  # the report is the one JSON document on stdout
        print_json(result.to_json())
    else:
        _render(result, target, report)
    if result.reproduced is False:
        raise NotReproduced(
            f"not reproduced: {not_reproduced(result.comparisons)}",
            hint=f"see {result.rerun_dir} for the rerun's outputs and logs",
        )
    if result.reproduced and not as_json:
        out_console().print(
            f"[green]reproduced[/] (rtol {result.rtol:g}, atol {result.atol:g})", highlight=False
        )


def _render(result: RerunResult, target: str, report: Path | None) -> None:
    console = out_console()
    if result.new_data:
        console.print(
            f"[green]ran on new data[/]: crate {escape(str(result.rerun_dir))}", highlight=False
        )
        return
    title = f"rerun of {result.origin.doi or result.origin.crate_ref or target}"
    print_verdicts(title, result.comparisons)
    console.print(f"rerun crate: {escape(str(result.rerun_dir))}", highlight=False)
    if result.report is not None:
        console.print(
            f"report: {escape(str(result.rerun_dir / REPORT_PAGE))}"
            + (f" and {escape(str(report))}" if report else ""),
            highlight=False,
        )


def _report_to_catalogue(settings: Settings, report: dict[str, Any]) -> None:
    """A configured catalogue learns the verdict of a DOI's rerun; failing to tell it does
    not fail the rerun."""
    from preserve.catalogue.client import report_rerun

    if not (report.get("doi") and settings.catalogue.url and settings.catalogue.token):
        return
    try:
        report_rerun(settings, report)
    except PreserveError as exc:
        err_console().print(f"[yellow]warning:[/] {escape(exc.message)}", highlight=False)
