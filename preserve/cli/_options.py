"""Options whose choices are the installed plug-ins (entry points), read when the CLI starts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from preserve import plugins

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def plugin_option(flag: str, group: plugins.Group, help_text: str) -> Decorator:
    """``--FLAG NAME`` with the names registered in ``group`` as its choices."""
    return click.option(
        flag,
        type=click.Choice(plugins.available(group)),
        help=help_text,
    )


def json_option() -> Decorator:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def to_option(help_text: str) -> Decorator:
    stores = ", ".join(plugins.available(plugins.STORES))
    return click.option(
        "--to",
        "to",
        metavar="REGISTRY/REPOSITORY[:TAG]",
        help=f"{help_text} local:REPOSITORY is the local store (OCI stores installed: {stores}).",
    )
