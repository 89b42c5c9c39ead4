"""``preserve publish`` and ``preserve resolve``."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.markup import escape

from preserve import plugins
from preserve.cli._context import AppContext
from preserve.cli._options import json_option, plugin_option, to_option
from preserve.cli._render import out_console, print_json, progress_for
from preserve.errors import MissingSecret


@click.command()
@click.argument("target", metavar="CRATE_DIR|REF")
@plugin_option("--provider", plugins.DOI_PROVIDERS, "DOI provider (default: the configured one).")
@to_option("Where to push first.")
@click.option(
    "--supplement-to",
    "supplement_to",
    multiple=True,
    metavar="DOI",
    help="The publication this analysis supplements (IsSupplementTo).",
)
@click.option("--cites", multiple=True, metavar="DOI", help="A work this analysis cites.")
@click.option(
    "--allow-failed-run",
    "allow_failed",
    is_flag=True,
    help="Publish a crate whose run failed; the DOI metadata says so.",
)
@json_option()
@click.pass_obj
def publish(
    app: AppContext,
    target: str,
    provider: str | None,
    to: str | None,
    supplement_to: tuple[str, ...],
    cites: tuple[str, ...],
    allow_failed: bool,
    as_json: bool,
) -> None:
    """Push the crate and image if needed, then register a DOI pinning their digests."""
    from preserve import api

    secrets: dict[str, Any] = {}
    while True:
        try:
            result = api.publish(
                target,
                settings=app.settings(**secrets),
                provider=provider,
                to=to,
                supplement_to=supplement_to,
                cites=cites,
                progress=progress_for(as_json),
                allow_failed=allow_failed,
            )
            break
        except MissingSecret as exc:
            if not sys.stdin.isatty() or _given(secrets, exc):
                raise
            _ask(secrets, exc)
    if as_json:
        print_json(result.to_json())
        return
    console = out_console()
    console.print(f"[green]{result.state}[/] {result.doi}", highlight=False)
    console.print(f"  landing page  {escape(str(result.url))}", highlight=False)
    console.print(f"  crate         {result.crate_ref}", highlight=False)
    console.print(f"  image         {result.image_ref}", highlight=False)
    if not result.globally_resolvable:
        console.print(
            f"  [yellow]{result.provider} DOI: not registered with a DOI agency for doi.org, "
            "not globally resolvable[/]",
            highlight=False,
        )


def _table(secrets: dict[str, Any], exc: MissingSecret) -> dict[str, Any]:
    table = secrets
    for part in exc.section.split("."):
        table = table.setdefault(part, {})
    return table


def _given(secrets: dict[str, Any], exc: MissingSecret) -> bool:
    return exc.key in _table(secrets, exc)


def _ask(secrets: dict[str, Any], exc: MissingSecret) -> None:
    """Ask on the terminal for what a plug-in lacks (never echoed, never stored)."""
    _table(secrets, exc)[exc.key] = click.prompt(exc.prompt, hide_input=True, err=True)


@click.command()
@click.argument("doi")
@json_option()
@click.pass_obj
def resolve(app: AppContext, doi: str, as_json: bool) -> None:
    """Show a DOI's record: title, creators, version, year, pinned crate and image."""
    from preserve import api

    r = api.resolve(doi, settings=app.settings())
    attrs = r.attributes
    creators = [c.get("name", "") for c in attrs.get("creators", [])]
    title = next((t.get("title") for t in attrs.get("titles", [])), None)
    data = {
        "doi": r.doi,
        "state": r.state,
        "url": r.url,
        "title": title,
        "creators": creators,
        "version": attrs.get("version"),
        "publication_year": attrs.get("publicationYear"),
        "crate_ref": str(r.crate_ref) if r.crate_ref else None,
        "image_ref": str(r.image_ref) if r.image_ref else None,
        "source": r.source,
        "globally_resolvable": r.resolvable,
    }
    if as_json:
        print_json(data)
        return
    console = out_console()
    for key in (
        "doi",
        "title",
        "creators",
        "version",
        "publication_year",
        "state",
        "url",
        "crate_ref",
        "image_ref",
        "source",
    ):
        value = ", ".join(creators) if key == "creators" else data[key]
        console.print(f"{key.replace('_', ' '):<17} {escape(str(value))}", highlight=False)
    if not r.resolvable:
        console.print(f"[yellow]this DOI is not globally resolvable ({r.source})[/]")
