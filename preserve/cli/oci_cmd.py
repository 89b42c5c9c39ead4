"""``preserve push`` and ``preserve pull``."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from preserve.cli._context import AppContext
from preserve.cli._options import json_option, to_option
from preserve.cli._render import out_console, print_json, progress_for


@click.command()
@click.argument("crate_dir", type=click.Path(path_type=Path, exists=True))
@to_option("Target. Default: the configured registry, else the local OCI store.")
@json_option()
@click.pass_obj
def push(app: AppContext, crate_dir: Path, to: str | None, as_json: bool) -> None:
    """Push the image a crate (folder or .zip) ran in, and the crate as an OCI artifact
    linked to it."""
    from preserve import api

    result = api.push(crate_dir, settings=app.settings(), to=to, progress=progress_for(as_json))
    if as_json:
        print_json(result.to_json())
        return
    console = out_console()
    console.print(f"image  {result.image_ref}", highlight=False)
    console.print(f"crate  {result.crate_ref}", highlight=False)


@click.command()
@click.argument("ref")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory to write the crate to. Default: ./NAME-crate.",
)
@json_option()
@click.pass_obj
def pull(app: AppContext, ref: str, output: Path | None, as_json: bool) -> None:
    """Fetch a crate artifact by REF (tag or digest; an image's REF finds its crate)."""
    from preserve import api

    pulled = api.pull(ref, output, settings=app.settings(), progress=progress_for(as_json))
    if as_json:
        print_json(
            {
                "crate": str(pulled.directory),
                "crate_ref": str(pulled.ref),
                "crate_digest": pulled.ref.digest,
            }
        )
        return
    out_console().print(
        f"pulled {pulled.ref} into {escape(str(pulled.directory))}", highlight=False
    )
