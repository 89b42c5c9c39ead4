"""Bring a DOI to a target state with given metadata, whatever state it is in now.

Safe to run again after an interruption: an existing draft is updated rather
than created twice, and a DOI already in the target state is only updated.
Because DOI suffixes derive from the crate digest
(:func:`preserve.doi.metadata.suffix_for`), publishing the same crate again
lands on the same DOI.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from preserve.doi.providers import DoiProvider, DoiRecord
from preserve.doi.states import TARGET
from preserve.doi.validation import validate_attributes
from preserve.progress import QUIET, Progress


def mint(
    provider: DoiProvider,
    doi: str,
    attributes: Mapping[str, Any],
    *,
    url: str | None = None,
    event: Literal["publish", "register"] = "publish",
    progress: Progress = QUIET,
) -> DoiRecord:
    """Create or update ``doi`` with ``attributes``, then ``publish`` (or ``register``) it."""
    validate_attributes({**attributes, "doi": doi.lower()})  # before any request
    record = provider.get(doi)
    if record is None:
        progress.step(f"creating draft DOI {doi} ({provider.name})")
        record = provider.create_draft(doi, attributes)
    else:
        progress.step(f"updating {record.state} DOI {doi} ({provider.name})")
        record = provider.update(doi, attributes)
    if record.state != TARGET[event] or (url is not None and url != record.url):
        progress.step(f"{event}ing DOI {doi}")
        record = provider.transition(doi, event, url)
    return record
