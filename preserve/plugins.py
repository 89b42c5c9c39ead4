"""Plug-ins through entry points; the built-ins are registered the same way.

Groups (see ``pyproject.toml``):

``preserve.builders``       environment builders (:class:`preserve.builders.base.Builder`)
``preserve.resolvers``      data resolvers, one entry per URI scheme
``preserve.stores``         OCI stores (local layout, registry)
``preserve.doi_providers``  DOI providers
``preserve.runners``        container runners
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from preserve.errors import PluginNotFound

BUILDERS = "preserve.builders"
RESOLVERS = "preserve.resolvers"
STORES = "preserve.stores"
DOI_PROVIDERS = "preserve.doi_providers"
RUNNERS = "preserve.runners"


@cache
def _group(group: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=group)}


def available(group: str) -> list[str]:
    """Names registered in ``group``, sorted."""
    return sorted(_group(group))


def load(group: str, name: str) -> Any:
    """The object registered as ``name`` in ``group``."""
    eps = _group(group)
    if name not in eps:
        kind = group.rsplit(".", 1)[-1].rstrip("s").replace("_", " ")
        names = ", ".join(sorted(eps)) or "none"
        raise PluginNotFound(
            f"no {kind} named {name!r} is installed (available: {names})",
            hint="check the spelling, or install the package that provides it",
        )
    return eps[name].load()
