"""The OCI store interface and how a store is chosen for a reference.

Two stores ship: the local OCI image layout (``local:`` references, the embedded
default) and registries speaking the OCI distribution API. Both are registered
in the ``preserve.stores`` entry-point group; each says which references it
holds (:meth:`OciStore.accepts`), and the one that does is constructed from its
``[stores.NAME]`` table. A store hands images to runners as
:class:`~preserve.runners.base.ImageSource` values, so images travel between any
store and any runner without going through one engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from preserve import plugins
from preserve.errors import PluginNotFound
from preserve.oci.refs import LOCAL, OciRef
from preserve.progress import Progress
from preserve.runners.base import ImageSource
from preserve.settings import Settings

# Media types of the crate artifact (see README, "Artifact format").
CRATE_ARTIFACT_TYPE = "application/vnd.preserve.rocrate.v1"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
TITLE = "org.opencontainers.image.title"


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor."""

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    artifact_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Descriptor:
        return cls(
            media_type=str(data["mediaType"]),
            digest=str(data["digest"]),
            size=int(data["size"]),
            annotations=dict(data.get("annotations") or {}),
            artifact_type=data.get("artifactType"),
        )


@dataclass(frozen=True)
class PulledCrate:
    ref: OciRef  # pinned by digest
    manifest: Mapping[str, Any]
    directory: Path


class OciStore(Protocol):
    """Where images and crate artifacts are pushed to and pulled from."""

    @classmethod
    def accepts(cls, ref: OciRef) -> bool:
        """Whether ``ref`` names something in a store of this kind."""

    # Constructed by plugins.create for the reference it is asked about:
    # ``from_settings(options, settings, *, ref)``.

    def ping(self) -> str:
        """One line saying the store answers, or raise a PreserveError."""

    def resolve(self, ref: OciRef) -> str:
        """The manifest digest ``ref`` points at (RegistryError if absent)."""

    def push_image(self, image: str, target: OciRef, *, progress: Progress) -> OciRef:
        """Push a local Docker Engine image; return ``target`` pinned by manifest digest."""

    def image(self, ref: OciRef) -> ImageSource:
        """The image ``ref`` names, pinned by digest, for a runner to take."""

    def push_crate(
        self,
        crate_dir: Path,
        target: OciRef,
        *,
        subject: OciRef | None,
        annotations: Mapping[str, str],
        progress: Progress,
    ) -> OciRef:
        """Push a crate directory as an artifact; return ``target`` pinned by digest."""

    def pull_crate(self, ref: OciRef, dest: Path, *, progress: Progress) -> PulledCrate:
        """Fetch and verify a crate artifact into the new directory ``dest``."""

    def referrers(self, subject: OciRef, artifact_type: str | None = None) -> list[Descriptor]:
        """Manifests whose ``subject`` is ``subject`` (API or tag-schema fallback)."""


def default_target(settings: Settings, name: str = "preserve") -> OciRef:
    """Where an analysis called ``name`` is pushed when no ``--to`` is given."""
    if settings.registry:
        return OciRef.parse(f"{settings.registry.rstrip('/')}/{name}")
    return OciRef(registry=LOCAL, repository=name)


def store_for(ref: OciRef) -> str:
    """The name of the installed store that accepts ``ref``."""
    group = plugins.STORES
    names = [n for n in plugins.available(group) if plugins.load(group, n).accepts(ref)]
    if not names:
        raise PluginNotFound(
            f"no installed OCI store accepts {ref} "
            f"(installed: {', '.join(plugins.available(group)) or 'none'})",
            hint="use local:REPOSITORY or REGISTRY/REPOSITORY, or install a store plug-in",
        )
    return names[0]


def open_store(settings: Settings, ref: OciRef) -> OciStore:
    """The store that holds ``ref`` (the layout for ``local:``, else a registry)."""
    store: OciStore = plugins.create(plugins.STORES, store_for(ref), settings, ref=ref)
    return store
