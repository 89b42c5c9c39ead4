"""The referrers tag schema: the client-kept fallback when a registry has no referrers API.

distribution-spec 1.1: when a manifest with a ``subject`` is pushed and the
response lacks ``OCI-Subject``, the client keeps an image index at the tag
``<alg>-<hex>`` of the subject digest, listing the referrers' descriptors
(``artifactType`` + ``annotations``). Debian's registry 2.8 needs this.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from preserve.errors import RegistryError
from preserve.oci.stores import INDEX_MEDIA_TYPE, Descriptor

DOI_ANNOTATION = "org.preserve.doi"
CREATED = "org.opencontainers.image.created"


def fallback_tag(subject_digest: str) -> str:
    alg, _, ref = subject_digest.partition(":")
    return f"{alg}-{ref[:64]}"


def empty_index() -> dict[str, Any]:
    return {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": []}


def add_referrer(index: dict[str, Any], desc: Descriptor, where: str) -> bool:
    """Append ``desc`` unless listed already; say whether the index changed."""
    if index.get("mediaType", INDEX_MEDIA_TYPE) != INDEX_MEDIA_TYPE:
        raise RegistryError(
            f"{where} is not an image index, so it cannot list referrers",
            hint="the tag is reserved for the referrers fallback; delete what was pushed there",
        )
    manifests = index.setdefault("manifests", [])
    if any(m.get("digest") == desc.digest for m in manifests):
        return False
    manifests.append(desc.to_json())
    return True


def listed(index: Mapping[str, Any], artifact_type: str | None) -> list[Descriptor]:
    """The descriptors an index lists (of ``artifact_type``); a malformed one is an error."""
    try:
        descs = [Descriptor.from_json(m) for m in index.get("manifests") or []]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RegistryError(
            f"a referrers index lists a malformed descriptor ({type(exc).__name__}: {exc})",
            hint="the registry's referrers list is broken or hostile; nothing of it was used",
        ) from exc
    if artifact_type is None:
        return descs
    return [d for d in descs if d.artifact_type == artifact_type]


def select_crate(crates: list[Descriptor]) -> Descriptor:
    """The crate to use among several referring to one image.

    The published crate (annotated with its DOI) wins over the pre-publication one
    that publish replaced (both carry the capture time as ``created``); then the
    newest ``created``; then the one listed last (pushed last, in the tag schema
    and the layout index alike).
    """
    ranked = sorted(
        enumerate(crates),
        key=lambda ic: (
            bool(ic[1].annotations.get(DOI_ANNOTATION)),
            ic[1].annotations.get(CREATED, ""),
            ic[0],
        ),
    )
    return ranked[-1][1]
