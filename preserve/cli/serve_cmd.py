"""``preserve serve``."""

from __future__ import annotations

import click

from preserve.cli._context import AppContext


@click.command()
@click.option(
    "--bind",
    metavar="HOST:PORT",
    help="Address to listen on. Default: catalogue.bind (127.0.0.1:8470).",
)
@click.option(
    "--database",
    metavar="URL",
    help="sqlite:///PATH (default: catalogue.sqlite in the data directory) or "
    "postgresql://USER@HOST:PORT/DATABASE.",
)
@click.option("--json", "as_json", is_flag=True, help="Errors as JSON (the service logs as usual).")
@click.pass_obj
def serve(app: AppContext, bind: str | None, database: str | None, as_json: bool) -> None:
    """Serve DOI landing pages and the catalogue of published functions.

    Read-only for anonymous users; publishing into it needs catalogue.token
    (PRESERVE_CATALOGUE_TOKEN), which `preserve publish` sends when catalogue.url is set.
    """
    from preserve.serve import serve as run_service

    run_service(app.settings(), bind=bind, database=database)
