"""The builder interface (entry-point group ``preserve.builders``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from preserve import plugins
from preserve.manifest import Manifest
from preserve.progress import Progress


@dataclass(frozen=True)
class BuiltImage:
    """An image in the Docker Engine, ready to run the analysis."""

    image_id: str  # sha256:<hex> of the image config
    tag: str | None  # local name:tag
    repo_digests: tuple[str, ...]  # registry/repo@sha256:... known to the engine
    builder: str  # "repo2docker" or "image"
    builder_version: str | None = None
    buildpack: str | None = None  # repo2docker buildpack that was picked
    reused: bool = False  # an existing image matched the content; nothing was built


class Builder(Protocol):
    name: str

    def build(self, directory: Path, manifest: Manifest, *, progress: Progress) -> BuiltImage:
        """Build (or find) the image the analysis runs in."""


def open_builder(name: str) -> Builder:
    builder: Builder = plugins.load(plugins.BUILDERS, name)()
    return builder
