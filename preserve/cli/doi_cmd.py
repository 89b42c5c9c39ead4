"""``preserve publish`` and ``preserve resolve``."""

from __future__ import annotations

import click
from rich.markup import escape

from preserve.cli._context import AppContext
from preserve.cli._render import out_console, print_json, progress_for


@click.command()
@click.argument("target", metavar="CRATE_DIR|REF")
@click.option(
    "--provider",
    type=click.Choice(["sandbox", "datacite"]),
    help="DOI provider. Default: the configured one (sandbox).",
)
@click.option("--to", metavar="REGISTRY/REPOSITORY[:TAG]", help="Where to push first.")
@click.option(
    "--supplement-to",
    "supplement_to",
    multiple=True,
    metavar="DOI",
    help="The publication this analysis supplements (IsSupplementTo).",
)
@click.option("--cites", multiple=True, metavar="DOI", help="A work this analysis cites.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def publish(
    app: AppContext,
    target: str,
    provider: str | None,
    to: str | None,
    supplement_to: tuple[str, ...],
    cites: tuple[str, ...],
    as_json: bool,
) -> None:
    """Push the crate and image if needed, then register a DOI pinning their digests."""
    from preserve.publish import publish as do_publish

    settings = app.settings(doi_provider=provider)
    settings = _with_password(app, settings, provider or settings.doi_provider, as_json)
    result = do_publish(
        target,
        settings=settings,
        to=to,
        supplement_to=supplement_to,
        cites=cites,
        progress=progress_for(as_json),
    )
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
            "  [yellow]sandbox DOI: not registered with DataCite, not globally resolvable[/]",
            highlight=False,
        )


def _with_password(app: AppContext, settings, provider: str, as_json: bool):  # type: ignore[no-untyped-def]
    """Prompt for the DataCite password when it is configured nowhere (never echoed)."""
    import sys

    if provider != "datacite" or settings.datacite.password or not settings.datacite.repository_id:
        return settings
    if not sys.stdin.isatty():
        return settings
    password = click.prompt(
        f"DataCite password for {settings.datacite.repository_id}", hide_input=True, err=True
    )
    return app.settings(doi_provider=provider, datacite={"password": password})


@click.command()
@click.argument("doi")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def resolve(app: AppContext, doi: str, as_json: bool) -> None:
    """Show a DOI's record: title, creators, version, year, pinned crate and image."""
    from preserve.doi.resolve import resolve as do_resolve

    r = do_resolve(doi, app.settings())
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
        console.print("[yellow]this DOI is not globally resolvable (sandbox)[/]")
