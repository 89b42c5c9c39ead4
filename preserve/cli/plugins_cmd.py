"""``preserve plugins``."""

from __future__ import annotations

import click
from rich.markup import escape

from preserve import plugins
from preserve.cli._options import json_option
from preserve.cli._render import out_console, print_json


@click.command("plugins")
@json_option()
def plugins_(as_json: bool) -> None:
    """List the installed builders, data resolvers, stores, DOI providers and runners.

    Each is configured in its own table of the config file, [SECTION.NAME].
    """
    found = plugins.installed()
    if as_json:
        print_json([p.to_json() for p in found])
        return
    console = out_console()
    for p in found:
        line = (
            f"{p.group.kind:<14} {p.name:<12} {f'[{p.group.section}.{p.name}]':<22} "
            f"{p.target}  ({p.distribution or 'unknown'})"
        )
        console.print(escape(line), highlight=False)
