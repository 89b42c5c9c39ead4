"""``preserve cite``, ``preserve attach`` and ``preserve serve``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.markup import escape

from preserve.cli._context import AppContext
from preserve.cli._render import out_console, print_json, progress_for

CITE_FORMATS = ["apa", "text", "bibtex", "ris", "csl-json", "datacite-xml", "datacite-json", "cff"]


@click.command()
@click.argument("doi")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(CITE_FORMATS),
    default="apa",
    show_default=True,
    help="Citation format; 'text' is a formatted citation in --style.",
)
@click.option(
    "--style", metavar="CSL_STYLE", help="CSL style name for text (apa, ieee, nature...)."
)
@click.option("--offline", is_flag=True, help="Render locally; never ask DataCite.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def cite(
    app: AppContext, doi: str, fmt: str, style: str | None, offline: bool, as_json: bool
) -> None:
    """Cite a DOI: formatted by a CSL processor, or as BibTeX, RIS, CSL-JSON, DataCite, CFF.

    For DataCite DOIs, DataCite's content negotiation is preferred when it answers.
    """
    from preserve.citation import cite as do_cite

    if style and fmt == "apa":
        fmt = "text"
    result = do_cite(doi, settings=app.settings(), fmt=fmt, style=style, remote=not offline)
    if as_json:
        print_json(result.to_json())
        return
    text = result.text
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


@click.command()
@click.argument("doi")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="The bundle: a new folder, or FILE.zip.",
)
@click.option(
    "--for",
    "journal",
    type=click.Choice(["generic", "nature", "iucr", "elsevier"]),
    default="generic",
    show_default=True,
    help="Journal family of the availability statement.",
)
@click.option(
    "--supplement-to",
    "papers",
    multiple=True,
    metavar="DOI",
    help="The article; must agree with the DOI's IsSupplementTo (publish --supplement-to).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing bundle at -o.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def attach(
    app: AppContext,
    doi: str,
    output: Path,
    journal: str,
    papers: tuple[str, ...],
    overwrite: bool,
    as_json: bool,
) -> None:
    """Write the supplement bundle of a DOI for a journal: crate ZIP, rerun.sh, statements,
    CITATION.cff, BibTeX, badge, SHA256SUMS."""
    from preserve.attach import attach as do_attach

    result = do_attach(
        doi,
        settings=app.settings(),
        output=output,
        journal=journal,
        papers=papers,
        overwrite=overwrite,
        progress=progress_for(as_json),
    )
    if as_json:
        print_json(result.to_json())
        return
    console = out_console()
    console.print(f"[green]bundle[/] {escape(str(result.output))}", highlight=False)
    for name in result.files:
        console.print(f"  {name}", highlight=False, markup=False)
