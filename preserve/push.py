"""``preserve push`` / ``pull``: a crate and its image as linked, digest-pinned OCI artifacts.

The image is pushed first; the crate then records the image's manifest digest
and is pushed as an artifact whose ``subject`` is that image, so the crate is
found from the image through the referrers API (or its tag fallback).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preserve.crate.archive import crate_folder
from preserve.crate.plan import missing_parts
from preserve.crate.read import CrateView, read_crate
from preserve.crate.update import pin_image
from preserve.errors import CrateError, PreserveError
from preserve.oci.artifact import NotACrate
from preserve.oci.referrers import select_crate
from preserve.oci.refs import OciRef
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
DOI_ANNOTATION = "org.preserve.doi"


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


def crate_annotations(view: CrateView) -> dict[str, str]:
    """Manifest annotations from the crate; deterministic (``created`` is the capture time)."""
    root, software = view.root, view.instrument
    out = {
        "org.opencontainers.image.created": root.date_published or "",
        "org.opencontainers.image.title": root.name or "",
        "org.opencontainers.image.description": root.description or "",
        "org.opencontainers.image.licenses": root.license_name or "",
        "org.opencontainers.image.source": (software.code_repository if software else None) or "",
        "org.opencontainers.image.revision": view.source.commit or "",
        "org.opencontainers.image.version": root.version or "",
        DOI_ANNOTATION: view.doi or "",
    }
    return {k: v for k, v in out.items() if v}


def writable_crate(crate_dir: Path) -> CrateView:
    """The view of a crate preserve wrote; any other crate is refused, saying what it lacks,
    before anything is uploaded or changed."""
    view = read_crate(crate_dir)
    missing = missing_parts(view)
    if missing:
        raise CrateError(
            f"{crate_dir} is not a crate preserve wrote, so it is not pushed or changed: "
            "it lacks " + "; ".join(missing),
            hint="push crates written by `preserve capture` (or pulled with `preserve pull`)",
        )
    return view


def target_for(view: CrateView, settings: Settings, to: str | None) -> OciRef:
    """``--to``; else where the crate's image already is (unless that is the local store
    and a registry is configured); else the configured registry or the local store."""
    image = view.image
    if image is None:
        raise CrateError("the crate's run names no container image (containerImage)")
    recorded = image.ref
    if to:
        ref = OciRef.parse(to)
    elif recorded is not None and not (recorded.is_local and settings.registry):
        ref = OciRef(recorded.registry, recorded.repository, tag=image.tag)  # register it there
    else:
        ref = default_target(settings, _analysis_name(view))
    if ref.digest:
        raise CrateError(f"--to {to} names a digest; give REGISTRY/REPOSITORY[:TAG]")
    return ref.with_tag(ref.tag or str(view.root.version or image.tag or "latest"))


def _analysis_name(view: CrateView) -> str:
    name = (view.instrument.name if view.instrument else None) or (
        view.image.name if view.image else None
    )
    return (name or "analysis").split(" (")[0]


def push(
    crate: Path, *, settings: Settings, to: str | None = None, progress: Progress = QUIET
) -> PushResult:
    """Push a crate folder (or ``.zip``, pushed from an unpacked copy, never changed)."""
    with crate_folder(crate, settings.cache_dir / "tmp") as crate_dir:
        return _push_dir(crate_dir, settings, to, progress)


def _push_dir(
    crate_dir: Path, settings: Settings, to: str | None, progress: Progress
) -> PushResult:
    view = writable_crate(crate_dir)
    # The stores report each step (what they push, and where): no second line here.
    target = target_for(view, settings, to)
    store = open_store(settings, target)
    image_ref = _already_there(view, target, store)
    if image_ref is None:
        image_id = (view.image.image_id if view.image else None) or ""
        if not image_id.startswith("sha256:"):
            raise CrateError("the crate's container image has no local image ID (identifier)")
        image_ref = store.push_image(image_id, target, progress=progress)
    pin_image(crate_dir, image_ref)
    crate_target = target.with_tag(f"{target.tag}{CRATE_TAG_SUFFIX}")
    crate_ref = store.push_crate(
        crate_dir,
        crate_target,
        subject=image_ref,
        annotations=crate_annotations(read_crate(crate_dir)),
        progress=progress,
    )
    return PushResult(crate_ref=crate_ref.pinned(), image_ref=image_ref.pinned())


def _already_there(view: CrateView, target: OciRef, store: OciStore) -> OciRef | None:
    """The image's pinned reference when the crate records it in ``target``'s repository
    and the store has it: then nothing needs pushing (nor the image to be local)."""
    recorded = view.image.ref if view.image else None
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
    return pull_crate(store, crate_ref_for(store, ref, progress), dest, progress)


def crate_ref_for(store: OciStore, ref: OciRef, progress: Progress = QUIET) -> OciRef:
    """``ref`` pinned by digest; when it names an image with crates, the crate's reference
    (the published one first: see :func:`select_crate`)."""
    pinned = ref.with_digest(ref.digest or store.resolve(ref))
    crates = store.referrers(pinned, CRATE_ARTIFACT_TYPE)
    if not crates:
        return pinned
    chosen = select_crate(crates)
    progress.step(f"{ref} is an image; its crate is {chosen.digest[:19]}")
    return pinned.with_tag(None).with_digest(chosen.digest)


def pull_crate(store: OciStore, crate_ref: OciRef, dest: Path, progress: Progress) -> PulledCrate:
    try:
        return store.pull_crate(crate_ref, dest, progress=progress)
    except NotACrate as exc:
        raise CrateError(
            f"{crate_ref} is not a crate (it is an image or another artifact), "
            "and no crate refers to it",
            hint="if it is an image copied from another registry, the copy lacks its "
            "referrers: copy them too (e.g. `oras cp --recursive`, `regctl image copy "
            "--referrers`), or pull the crate by its own reference or DOI",
        ) from exc


def image_ref_of(crate_dir: Path) -> OciRef | None:
    """The pinned image reference a pushed crate records, or None before a push."""
    image = read_crate(crate_dir).image
    return image.ref if image else None
