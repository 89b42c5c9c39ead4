"""HTML pages from Jinja2 templates, autoescaped: catalogue text is others' text."""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2

from preserve.catalogue.entry import commands


def _size(value: object) -> str:
    if not isinstance(value, int):
        return "–"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(value)


def _is_web(value: object) -> bool:
    return isinstance(value, str) and value.lower().startswith(("https://", "http://"))


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("preserve.serve", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["size"] = _size
    env.filters["is_web"] = _is_web
    env.globals["commands"] = commands
    env.globals["facet_names"] = {
        "creator": "Creators",
        "format": "Input formats",
        "keyword": "Keywords, instruments, techniques",
    }
    return env


def render(template: str, **values: Any) -> str:
    return environment().get_template(template).render(**values)
