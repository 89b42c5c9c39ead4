"""What the crate says about the analysis beyond the run: warnings, publisher, image."""

from __future__ import annotations

from preserve.builders.base import BuiltImage
from preserve.crate.model import (
    ImageRecord,
)
from preserve.manifest import Manifest
from preserve.settings import Publisher
from preserve.source import SourceInfo


def metadata_warnings(manifest: Manifest, source: SourceInfo) -> list[str]:
    """What the crate will lack for a fully valid Process Run Crate, said up front."""
    out = []
    if not manifest.license:
        out.append(
            "no 'license' in preserve.yaml: RO-Crate 1.1 requires one on the crate's "
            "root, so the crate will not validate"
        )
    if not manifest.authors:
        out.append(
            "no 'authors' in preserve.yaml: the crate has no author or agent, and "
            "a DOI cannot be published for it"
        )
    elif not any(a.affiliation for a in manifest.authors):
        out.append("no author has an 'affiliation': RO-Crate recommends one")
    if not manifest.url and not (source.remote or "").startswith(("https://", "http://", "git@")):
        out.append(
            "no 'url' in preserve.yaml and no web git remote: the analysis code gets "
            "no absolute URI, which the Process Run Crate profile recommends"
        )
    return out


def first_affiliation(manifest: Manifest) -> Publisher | None:
    for author in manifest.authors:
        if author.affiliation:
            return Publisher(name=author.affiliation.name, ror=author.affiliation.ror)
    return None


def image_record(image: BuiltImage, manifest: Manifest) -> ImageRecord:
    ref = image.tag or (manifest.image or "")
    name, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "")
    registry = "localhost"
    if "/" in name:  # a registry reference (a prebuilt image), not a local build's tag
        first = name.split("/", 1)[0]
        if "." in first or ":" in first:
            registry, name = first, name.split("/", 1)[1]
    return ImageRecord(
        image_id=image.image_id,
        name=name or f"preserve-{manifest.name}",
        tag=tag or None,
        registry=registry,
        builder=image.builder,
        builder_version=image.builder_version,
        buildpack=image.buildpack,
    )
