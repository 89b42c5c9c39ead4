"""The builder interface (entry-point group ``preserve.builders``).

A builder turns the analysis directory into an image in the Docker Engine;
``environment.builder`` in ``preserve.yaml`` (or ``capture --builder``) names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from preserve import plugins
from preserve.manifest import Manifest
from preserve.progress import Progress

if TYPE_CHECKING:
    from preserve.settings import Settings


@dataclass(frozen=True)
class BuiltImage:
    """An image in the Docker Engine, ready to run the analysis."""

    image_id: str  # sha256:<hex> of the image config
    tag: str | None  # local name:tag
    repo_digests: tuple[str, ...]  # registry/repo@sha256:... known to the engine
    builder: str  # the builder's entry-point name
    builder_version: str | None = None  # set by builders that build (not only name) the image
    buildpack: str | None = None  # repo2docker buildpack that was picked
    reused: bool = False  # an existing image matched the content; nothing was built


class Builder(Protocol):
    name: str

    def build(self, directory: Path, manifest: Manifest, *, progress: Progress) -> BuiltImage:
        """Build (or find) the image the analysis runs in."""


def open_builder(settings: Settings, name: str) -> Builder:
    """The builder ``name``, configured from its ``[builders.NAME]`` table."""
    builder: Builder = plugins.create(plugins.BUILDERS, name, settings)
    return builder
