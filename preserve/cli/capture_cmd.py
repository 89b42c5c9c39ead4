"""``preserve capture``."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from preserve import plugins
from preserve.cli._context import AppContext
from preserve.cli._options import json_option, plugin_option
from preserve.cli._render import out_console, print_json, progress_for


@click.command()
@click.argument(
    "directory", default=".", type=click.Path(path_type=Path, file_okay=False, exists=True)
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=True, file_okay=False),
    help="Crate directory to write. Default: ./NAME-crate.",
)
@click.option(
    "--allow-dirty", is_flag=True, help="Accept uncommitted changes; the diff is recorded."
)
@click.option("--overwrite", is_flag=True, help="Replace an existing crate at the output path.")
@plugin_option("--builder", plugins.BUILDERS, "Environment builder (default: preserve.yaml's).")
@plugin_option("--runner", plugins.RUNNERS, "Container runner (default: the configured one).")
@json_option()
@click.pass_obj
def capture(
    app: AppContext,
    directory: Path,
    output: Path | None,
    allow_dirty: bool,
    overwrite: bool,
    builder: str | None,
    runner: str | None,
    as_json: bool,
) -> None:
    """Run the analysis in DIRECTORY (its preserve.yaml) and record it as an RO-Crate."""
    from preserve import api

    result = api.capture(
        directory,
        settings=app.settings(),
        output=output,
        allow_dirty=allow_dirty,
        overwrite=overwrite,
        builder=builder,
        runner=runner,
        progress=progress_for(as_json),
    )
    if as_json:
        print_json(result.to_json())
        return
    console = out_console()
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    run = result.record.run
    console.print(f"[green]captured[/] {escape(str(result.crate_dir))}", highlight=False)
    console.print(f"  image   {result.image.tag or result.image.image_id}", highlight=False)
    console.print(
        f"  run     {(run.end - run.start).total_seconds():.1f} s, exit {run.exit_code}",
        highlight=False,
    )
    for out in result.record.outputs:
        console.print(f"  output  {escape(out.id)}  sha256:{out.sha256[:16]}…", highlight=False)
