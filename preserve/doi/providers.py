"""The DOI provider interface, shared by the sandbox and the DataCite REST API.

A provider stores DataCite metadata in the REST API's JSON form (the
``attributes`` of a ``dois`` resource) and moves a DOI through DataCite's
states: ``draft`` -> ``registered`` / ``findable`` (``publish``, ``register``,
``hide`` events). Only drafts can be deleted. The rest of the toolkit cannot
tell providers apart: it reads what it needs from the interface
(:attr:`DoiProvider.local_only`, :attr:`DoiProvider.globally_resolvable`), never
a provider's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from preserve import plugins
from preserve.settings import Settings

State = Literal["draft", "registered", "findable"]
Event = Literal["publish", "register", "hide"]


@dataclass(frozen=True)
class DoiRecord:
    """A DOI as its provider knows it."""

    doi: str
    state: State
    url: str | None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    provider: str = ""


class DoiProvider(Protocol):
    name: str
    prefix: str
    # DOIs that exist only on this machine: registered with no agency, resolved by
    # get() before any network lookup, and publishable from the local OCI store.
    local_only: ClassVar[bool]

    @property
    def globally_resolvable(self) -> bool:
        """Whether the DOIs minted here resolve at doi.org."""

    def describe(self) -> str:
        """One line: which provider, prefix and endpoint, or raise ConfigError."""

    def get(self, doi: str) -> DoiRecord | None:
        """The DOI's record, or None when the provider does not know it."""

    def create_draft(self, doi: str, attributes: Mapping[str, Any]) -> DoiRecord:
        """Create ``doi`` as a draft with DataCite JSON ``attributes``."""

    def update(self, doi: str, attributes: Mapping[str, Any]) -> DoiRecord:
        """Replace the metadata of an existing DOI."""

    def transition(self, doi: str, event: Event, url: str | None = None) -> DoiRecord:
        """Apply a state event; ``publish``/``register`` need a landing ``url``."""

    def delete_draft(self, doi: str) -> None:
        """Delete a draft DOI (DoiError for registered or findable ones)."""


def open_provider(settings: Settings, name: str | None = None) -> DoiProvider:
    """The provider ``name`` (default: ``doi_provider``), configured from ``[doi.NAME]``."""
    provider: DoiProvider = plugins.create(
        plugins.DOI_PROVIDERS, name or settings.doi_provider, settings
    )
    return provider


def local_providers(settings: Settings) -> list[DoiProvider]:
    """Every installed provider that keeps its DOIs on this machine (``local_only``)."""
    group = plugins.DOI_PROVIDERS
    return [
        plugins.create(group, name, settings)
        for name in plugins.available(group)
        if getattr(plugins.load(group, name), "local_only", False)
    ]
