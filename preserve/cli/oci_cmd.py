"""``preserve push`` and ``preserve pull``."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from preserve.cli._context import AppContext
from preserve.cli._render import out_console, print_json, progress_for


@click.command()
@click.argument("crate_dir", type=click.Path(path_type=Path, exists=True))
@click.option(
    "--to",
    "to",
    metavar="REGISTRY/REPOSITORY[:TAG]",
    help="Target. Default: the configured registry, else the local OCI store.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def push(app: AppContext, crate_dir: Path, to: str | None, as_json: bool) -> None:
    """Push the image a crate (folder or .zip) ran in, and the crate as an OCI artifact
    linked to it."""
    from preserve.push import push as do_push

    result = do_push(crate_dir, settings=app.settings(), to=to, progress=progress_for(as_json))
    if as_json:
        print_json(result.to_json())
        return
    console = out_console()
    console.print(f"image  {result.image_ref}", highlight=False)
    console.print(str(result.crate_ref), highlight=False)


@click.command()
@click.argument("ref")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory to write the crate to. Default: ./NAME-crate.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def pull(app: AppContext, ref: str, output: Path | None, as_json: bool) -> None:
    """Fetch a crate artifact by REF (tag or digest; an image's REF finds its crate)."""
    from preserve.oci.refs import OciRef
    from preserve.push import pull as do_pull

    dest = output or Path.cwd() / f"{OciRef.parse(ref).repository.rsplit('/', 1)[-1]}-crate"
    pulled = do_pull(ref, dest, settings=app.settings(), progress=progress_for(as_json))
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
