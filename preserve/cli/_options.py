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


def _input_pairs(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, uri = value.partition("=")
        if not sep or not name or not uri:
            raise click.BadParameter(f"{value!r} is not NAME=URI")
        pairs[name] = uri
    return pairs


def input_option(help_text: str) -> Decorator:
    """``--input NAME=URI``, repeatable, as a dict."""
    return click.option(
        "--input",
        "inputs",
        multiple=True,
        metavar="NAME=URI",
        callback=_input_pairs,
        help=help_text,
    )
