"""OCI references in DOI metadata, and back.

DataCite has no identifier type for OCI artifacts. The pinned crate reference
goes verbatim into an ``alternateIdentifier`` of type ``OCI``. Every URL in the
metadata must answer a plain GET (a browser follows it); a registry's manifest
URL does not (it needs an OCI ``Accept`` header), so the related identifiers
name *blobs*, which registries serve to anyone who may read the repository:

* the crate's ``ro-crate-metadata.json`` (``HasMetadata``) and the image's
  configuration, whose digest is the image ID (``Requires``):
  ``https://host/v2/repo/blobs/sha256:x`` (``http://`` for loopback hosts);
* in the embedded layout store: ``file://<store_dir>/blobs/sha256/x``.

The image's pinned manifest reference is in the TechnicalInfo description.
:func:`pinned_refs` reads these back, and the manifest URLs of older records
(``https://host/v2/repo/manifests/sha256:x``, ``file://<store>/index.json#repo@x``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from preserve.errors import PreserveError
from preserve.net.hosts import is_loopback
from preserve.oci.refs import LOCAL, InvalidReference, OciRef, check_digest

OCI_ALTERNATE_TYPE = "OCI"
CRATE_RELATION = "IsIdenticalTo"
IMAGE_RELATION = "Requires"
METADATA_RELATION = "HasMetadata"
IMAGE_LINE = "Container image (pinned):"
CRATE_LINE = "Crate artifact (pinned):"


def oci_ref_to_url(ref: OciRef, store_dir: Path | None = None) -> str:
    """The URL of the manifest ``ref`` pins (see the module docstring)."""
    if not ref.digest:
        raise InvalidReference(
            f"{ref} is not pinned by digest", hint="DOI metadata only records pinned references"
        )
    if ref.is_local:
        if store_dir is None:
            raise InvalidReference(
                f"{ref} names the local store, but no store directory was given",
                hint="pass the local OCI layout store directory (settings.store_dir)",
            )
        return f"{Path(store_dir).absolute().as_uri()}/index.json#{ref.repository}@{ref.digest}"
    scheme = "http" if is_loopback(ref.registry) else "https"
    return f"{scheme}://{ref.registry}/v2/{ref.repository}/manifests/{ref.digest}"


def blob_url(ref: OciRef, digest: str, store_dir: Path | None = None) -> str:
    """The URL of a blob of ``ref``'s repository: a plain GET answers with its bytes."""
    hex_digest = check_digest(digest).split(":", 1)[1]
    if ref.is_local:
        if store_dir is None:
            raise InvalidReference(f"{ref} names the local store, but no store directory was given")
        return f"{Path(store_dir).absolute().as_uri()}/blobs/sha256/{hex_digest}"
    scheme = "http" if is_loopback(ref.registry) else "https"
    return f"{scheme}://{ref.registry}/v2/{ref.repository}/blobs/{digest}"


def oci_ref_from_url(url: str) -> OciRef:
    """Parse a URL written by :func:`oci_ref_to_url` back into a pinned reference."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        if not parts.path.endswith("/index.json") or "@" not in parts.fragment:
            raise InvalidReference(f"{url!r} is not a local OCI store URL")
        repo, _, digest = unquote(parts.fragment).partition("@")
        return OciRef.parse(f"{LOCAL}:{repo}@{check_digest(digest)}")
    if parts.scheme in ("http", "https") and "/v2/" in parts.path:
        repo, sep, digest = parts.path.split("/v2/", 1)[1].rpartition("/manifests/")
        if sep and repo:
            return OciRef.parse(f"{parts.netloc}/{repo}@{check_digest(digest)}")
    raise InvalidReference(
        f"{url!r} is not an OCI manifest URL",
        hint="expected https://HOST/v2/REPOSITORY/manifests/sha256:... or a file:// store URL",
    )


def _try(parse: Any, text: object) -> OciRef | None:
    if not isinstance(text, str):
        return None
    try:
        ref: OciRef = parse(text)
    except PreserveError:
        return None
    return ref if ref.digest else None


def _related(attributes: Mapping[str, Any], relation: str) -> Iterable[object]:
    for item in attributes.get("relatedIdentifiers") or []:
        if isinstance(item, Mapping) and item.get("relationType") == relation:
            yield item.get("relatedIdentifier")


def _alternates(attributes: Mapping[str, Any]) -> Iterable[object]:
    # REST API form (alternateIdentifiers) and content-negotiation form (identifiers).
    for item in attributes.get("alternateIdentifiers") or []:
        if isinstance(item, Mapping) and item.get("alternateIdentifierType") == OCI_ALTERNATE_TYPE:
            yield item.get("alternateIdentifier")
    for item in attributes.get("identifiers") or []:
        if isinstance(item, Mapping) and item.get("identifierType") == OCI_ALTERNATE_TYPE:
            yield item.get("identifier")


def pinned_refs(attributes: Mapping[str, Any]) -> tuple[OciRef | None, OciRef | None]:
    """The (crate, image) references pinned in DOI metadata; None where absent."""
    crate = (
        next((r for r in (_try(OciRef.parse, a) for a in _alternates(attributes)) if r), None)
        or next(
            (
                r
                for r in (_try(oci_ref_from_url, u) for u in _related(attributes, CRATE_RELATION))
                if r
            ),
            None,
        )
        or next(
            (r for r in (_try(OciRef.parse, t) for t in _technical(attributes, CRATE_LINE)) if r),
            None,
        )
    )
    image = next(
        (r for r in (_try(oci_ref_from_url, u) for u in _related(attributes, IMAGE_RELATION)) if r),
        None,
    ) or next(
        (r for r in (_try(OciRef.parse, t) for t in _technical(attributes, IMAGE_LINE)) if r), None
    )
    return crate, image


def _technical(attributes: Mapping[str, Any], label: str) -> Iterable[str]:
    """A pinned reference in the TechnicalInfo description (see metadata.py)."""
    for item in attributes.get("descriptions") or []:
        if isinstance(item, Mapping) and item.get("descriptionType") == "TechnicalInfo":
            for line in str(item.get("description", "")).splitlines():
                if line.startswith(label):
                    yield line.removeprefix(label).strip()
