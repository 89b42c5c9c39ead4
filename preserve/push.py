"""``preserve push`` / ``pull``: a crate and its image as linked, digest-pinned OCI artifacts.

The image is pushed first; the crate then records the image's manifest digest
and is pushed as an artifact whose ``subject`` is that image, so the crate is
found from the image through the referrers API (or its tag fallback).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preserve.crate.graph import Graph
from preserve.crate.io import read_document
from preserve.crate.update import container_image, pin_image
from preserve.errors import CrateError, PreserveError
from preserve.oci.refs import LOCAL, OciRef
from preserve.oci.stores import (
    CRATE_ARTIFACT_TYPE,
    OciStore,
    PulledCrate,
    default_target,
    open_store,
)
from preserve.progress import QUIET, Progress
from preserve.settings import Settings

CRATE_TAG_SUFFIX = "-crate"


@dataclass(frozen=True)
class PushResult:
    crate_ref: OciRef
    image_ref: OciRef

    def to_json(self) -> dict[str, Any]:
        return {
            "crate_ref": str(self.crate_ref),
            "crate_digest": self.crate_ref.digest,
            "image_ref": str(self.image_ref),
            "image_digest": self.image_ref.digest,
        }


def crate_annotations(document: dict[str, Any]) -> dict[str, str]:
    """Manifest annotations from the crate; deterministic (``created`` is the capture time)."""
    g = Graph(document)
    root = g.root()
    action = g.main_action() or {}
    software = g.get(next(iter(g.ids(action.get("instrument"))), ""))
    commit = g.get("#git-commit").get("value")
    licence = g.get(next(iter(g.ids(root.get("license"))), ""))
    out = {
        "org.opencontainers.image.created": str(root.get("datePublished", "")),
        "org.opencontainers.image.title": str(root.get("name", "")),
        "org.opencontainers.image.description": str(root.get("description", "")),
        "org.opencontainers.image.licenses": str(licence.get("identifier", "")),
        "org.opencontainers.image.source": str(software.get("codeRepository", "")),
        "org.opencontainers.image.revision": str(commit or ""),
        "org.opencontainers.image.version": str(root.get("version", "")),
    }
    ident = root.get("identifier")
    if isinstance(ident, str) and ident.startswith("https://doi.org/"):
        out["org.preserve.doi"] = ident.removeprefix("https://doi.org/")
    return {k: v for k, v in out.items() if v}


def target_for(crate_dir: Path, settings: Settings, to: str | None) -> OciRef:
    """``--to``, else the configured registry or the local store; named for the analysis."""
    document = read_document(crate_dir)
    g = Graph(document)
    image = container_image(g)
    version = g.root().get("version")
    ref = OciRef.parse(to) if to else default_target(settings, _analysis_name(g))
    if ref.digest:
        raise CrateError(f"--to {to} names a digest; give REGISTRY/REPOSITORY[:TAG]")
    return ref.with_tag(ref.tag or str(version or image.get("tag") or "latest"))


def _analysis_name(g: Graph) -> str:
    action = g.main_action() or {}
    software = g.get(next(iter(g.ids(action.get("instrument"))), ""))
    name = str(software.get("name") or container_image(g).get("name") or "analysis")
    return name.split(" (")[0]


def push(
    crate_dir: Path, *, settings: Settings, to: str | None = None, progress: Progress = QUIET
) -> PushResult:
    target = target_for(crate_dir, settings, to)
    store = open_store(settings, target)
    image_ref = _already_there(crate_dir, target, store)
    if image_ref is None:
        image = container_image(Graph(read_document(crate_dir)))
        image_id = str(image.get("identifier", ""))
        if not image_id.startswith("sha256:"):
            raise CrateError("the crate's container image has no local image ID (identifier)")
        progress.step(f"pushing image {image_id[:19]} to {target}")
        image_ref = store.push_image(image_id, target, progress=progress)
    pin_image(crate_dir, image_ref)
    document = read_document(crate_dir)
    crate_target = target.with_tag(f"{target.tag}{CRATE_TAG_SUFFIX}")
    progress.step(f"pushing the crate to {crate_target}")
    crate_ref = store.push_crate(
        crate_dir,
        crate_target,
        subject=image_ref,
        annotations=crate_annotations(document),
        progress=progress,
    )
    return PushResult(crate_ref=crate_ref.pinned(), image_ref=image_ref.pinned())


def _already_there(crate_dir: Path, target: OciRef, store: OciStore) -> OciRef | None:
    """The image's pinned reference when the crate records it in ``target``'s repository
    and the store has it: then nothing needs pushing (nor the image to be local)."""
    recorded = image_ref_of(crate_dir)
    if recorded is None or (recorded.registry, recorded.repository) != (
        target.registry,
        target.repository,
    ):
        return None
    try:
        store.resolve(recorded)
    except PreserveError:
        return None
    return recorded.with_tag(target.tag)


def pull(
    ref_text: str, dest: Path, *, settings: Settings, progress: Progress = QUIET
) -> PulledCrate:
    """Fetch a crate by its reference, or by the reference of the image it ran in."""
    ref = OciRef.parse(ref_text)
    store = open_store(settings, ref)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise CrateError(f"{dest} already exists and is not empty", hint="choose another -o")
    try:
        return store.pull_crate(ref, dest, progress=progress)
    except CrateError:
        pinned = ref.with_digest(store.resolve(ref))
        crates = store.referrers(pinned, CRATE_ARTIFACT_TYPE)
        if not crates:
            raise
    newest = max(crates, key=lambda d: d.annotations.get("org.opencontainers.image.created", ""))
    progress.step(f"{ref} is an image; pulling its crate {newest.digest[:19]}")
    return store.pull_crate(ref.with_tag(None).with_digest(newest.digest), dest, progress=progress)


def image_ref_of(crate_dir: Path) -> OciRef | None:
    """The pinned image reference a pushed crate records, or None before a push."""
    image = container_image(Graph(read_document(crate_dir)))
    sha = image.get("sha256")
    registry = image.get("registry")
    if not sha or not registry or registry == "localhost":
        return None
    prefix = f"{LOCAL}:" if registry == LOCAL else f"{registry}/"
    return OciRef.parse(f"{prefix}{image['name']}@sha256:{sha}")
