"""Plug-ins through entry points; the built-ins are registered the same way.

Every plug-in is a class registered in one entry-point group and constructed
one way, by :func:`create`::

    options = PluginClass.options.model_validate(<the [SECTION.NAME] config table>)
    plugin = PluginClass.from_settings(options, settings)

``options`` is the plug-in's own pydantic model of its config section
(``[doi.datacite]``, ``[runners.podman]``, ...), so a plug-in validates its own
settings and an error names the section and the key. A plug-in without
settings uses :class:`NoOptions`. The core never tests a plug-in's name: what
it needs to know about one is a class attribute of its interface.

=========================  ==============  =========================================
entry-point group          config section  interface
=========================  ==============  =========================================
``preserve.builders``      ``builders``    :class:`preserve.builders.base.Builder`
``preserve.resolvers``     ``resolvers``   :class:`preserve.data.base.DataResolver`
``preserve.stores``        ``stores``      :class:`preserve.oci.stores.OciStore`
``preserve.doi_providers`` ``doi``         :class:`preserve.doi.providers.DoiProvider`
``preserve.runners``       ``runners``     :class:`preserve.runners.base.Runner`
``preserve.targets``       ``targets``     :class:`preserve.targets.base.Target`
``preserve.sources``       ``sources``     :class:`preserve.events.sources.base.Source`
=========================  ==============  =========================================

``preserve.catalogue_stores`` (:class:`preserve.catalogue.stores.CatalogueStore`)
registers the catalogue's databases by URL scheme; they are made from a URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from preserve.errors import ConfigError, PluginNotFound

if TYPE_CHECKING:
    from preserve.settings import Settings


@dataclass(frozen=True)
class Group:
    """One kind of plug-in."""

    entry_points: str  # the entry-point group
    section: str  # plug-in NAME is configured in the config table [section.NAME]
    kind: str  # what one plug-in is called in messages

    def env_prefix(self, name: str) -> str:
        """``PRESERVE_<SECTION>_<NAME>_``: the environment variables of one plug-in."""
        return f"PRESERVE_{self.section}_{name}_".upper().replace("-", "_")


BUILDERS = Group("preserve.builders", "builders", "builder")
RESOLVERS = Group("preserve.resolvers", "resolvers", "data resolver")
STORES = Group("preserve.stores", "stores", "OCI store")
DOI_PROVIDERS = Group("preserve.doi_providers", "doi", "DOI provider")
RUNNERS = Group("preserve.runners", "runners", "runner")
TARGETS = Group("preserve.targets", "targets", "function target")
SOURCES = Group("preserve.sources", "sources", "event source")
GROUPS = (BUILDERS, RESOLVERS, STORES, DOI_PROVIDERS, RUNNERS, TARGETS, SOURCES)
# Catalogue databases are made from a database URL (``sqlite://``, ``postgresql://``), by
# URL scheme, not from a [section.NAME] table: loaded through their group, not in GROUPS.
CATALOGUE_STORES = Group("preserve.catalogue_stores", "catalogue", "catalogue database")


class NoOptions(BaseModel):
    """The options of a plug-in that has none: its section must be empty."""

    model_config = ConfigDict(extra="forbid")


class PluginOptions(BaseModel):
    """Base of a plug-in's options: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Plugin(Protocol):
    """How every plug-in class is constructed."""

    options: ClassVar[type[BaseModel]]

    @classmethod
    def from_settings(cls, options: Any, settings: Settings, /, **context: Any) -> Self:
        """A configured instance from its validated section and the global settings."""


@cache
def _group(group: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=group)}


def available(group: Group) -> list[str]:
    """Names registered in ``group``, sorted (reads metadata only, imports nothing)."""
    return sorted(_group(group.entry_points))


def builtin(group: Group) -> list[str]:
    """Names ``preserve`` itself registers in ``group``."""
    eps = _group(group.entry_points).values()
    return sorted(ep.name for ep in eps if ep.dist is not None and ep.dist.name == "preserve")


@dataclass(frozen=True)
class Installed:
    """One registered plug-in, as ``preserve plugins`` lists it."""

    group: Group
    name: str
    target: str  # module:Class
    distribution: str | None  # the package that registers it, with its version

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group.entry_points,
            "section": f"{self.group.section}.{self.name}",
            "name": self.name,
            "target": self.target,
            "distribution": self.distribution,
        }


def installed() -> list[Installed]:
    """Every registered plug-in of every group (metadata only, nothing imported)."""
    out = []
    for group in GROUPS:
        for name, ep in sorted(_group(group.entry_points).items()):
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else None
            out.append(Installed(group, name, ep.value, dist))
    return out


def check_name(group: Group, name: str) -> None:
    """PluginNotFound, listing what is installed, unless ``name`` is registered."""
    if name not in _group(group.entry_points):
        names = ", ".join(available(group)) or "none"
        raise PluginNotFound(
            f"no {group.kind} named {name!r} is installed (available: {names})",
            hint="check the spelling, or install the package that provides it",
        )


def load(group: Group, name: str) -> Any:
    """The class registered as ``name`` in ``group``."""
    check_name(group, name)
    ep = _group(group.entry_points)[name]
    try:
        return ep.load()
    except (ImportError, AttributeError) as exc:
        raise PluginNotFound(
            f"the {group.kind} {name!r} is installed but cannot be loaded ({ep.value}): {exc}",
            hint="reinstall the package that provides it",
        ) from exc


def options_model(group: Group, name: str) -> type[BaseModel]:
    model: type[BaseModel] = getattr(load(group, name), "options", NoOptions)
    return model


def options_for(group: Group, name: str, settings: Settings) -> BaseModel:
    """The plug-in's validated ``[section.NAME]`` table (ConfigError naming section and key)."""
    raw = settings.section(group, name)
    try:
        return options_model(group, name).model_validate(raw)
    except ValidationError as exc:
        where = f"[{group.section}.{name}]"
        raise ConfigError(
            f"invalid configuration in {where}: {describe_errors(exc)}",
            hint=f"fix the {where} table of {settings.config_file or 'the config file'} "
            f"or the {group.env_prefix(name)}<KEY> environment variables",
        ) from exc


def create(group: Group, name: str, settings: Settings, **context: Any) -> Any:
    """The plug-in ``name`` of ``group``, constructed from its section of ``settings``.

    ``context`` is what a group's interface adds (a store is made for a ``ref``).
    """
    cls = load(group, name)
    return cls.from_settings(options_for(group, name, settings), settings, **context)


def describe_errors(exc: ValidationError) -> str:
    """Every error of ``exc`` as ``key.path: message``, joined by ``;``."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(table)"
        message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{where}: {message}")
    return "; ".join(parts)
