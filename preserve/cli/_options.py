"""Options shared by commands; plug-in choices are the installed entry points, read at start."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
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


def report_option() -> Decorator:
    return click.option(
        "--report",
        type=click.Path(path_type=Path, dir_okay=False),
        metavar="FILE",
        help="Also write the comparison report (self-contained HTML, with plots) to FILE.",
    )


def tolerance_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--rtol and --atol; unset ones come from the author's manifest, else the defaults."""
    func = click.option(
        "--atol", type=click.FloatRange(min=0), help="Absolute tolerance for numbers."
    )(func)
    return click.option(
        "--rtol", type=click.FloatRange(min=0), help="Relative tolerance for numbers."
    )(func)
