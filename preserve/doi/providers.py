"""The DOI provider interface, shared by the sandbox and the DataCite REST API.

A provider stores DataCite metadata in the REST API's JSON form (the
``attributes`` of a ``dois`` resource) and moves a DOI through DataCite's
states: ``draft`` -> ``registered`` / ``findable`` (``publish``, ``register``,
``hide`` events). Only drafts can be deleted. The rest of the toolkit cannot
tell providers apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

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
    factory = plugins.load(plugins.DOI_PROVIDERS, name or settings.doi_provider)
    provider: DoiProvider = factory.from_settings(settings)
    return provider
