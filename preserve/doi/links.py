"""OCI references as URLs in DOI metadata, and back.

DataCite has no identifier type for OCI artifacts, so a pinned reference is
written as a ``URL`` related identifier that names its manifest:

* ``host/repo@sha256:x``  ->  ``https://host/v2/repo/manifests/sha256:x``
  (``http://`` for loopback hosts, which registries serve without TLS);
* ``local:repo@sha256:x``  ->  ``file://<store_dir>/index.json#repo@sha256:x``
  (the embedded OCI image layout store on the publishing machine).

The crate reference also goes verbatim into an ``alternateIdentifier`` of type
``OCI``; :func:`pinned_refs` reads both forms back.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from preserve.errors import PreserveError
from preserve.oci.refs import LOCAL, InvalidReference, OciRef, check_digest

OCI_ALTERNATE_TYPE = "OCI"
CRATE_RELATION = "IsIdenticalTo"
IMAGE_RELATION = "Requires"


def _is_loopback(host: str) -> bool:
    # HOST, HOST:PORT, [IPV6] or [IPV6]:PORT
    name = host[1:].split("]", 1)[0] if host.startswith("[") else host.split(":", 1)[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


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
    scheme = "http" if _is_loopback(ref.registry) else "https"
    return f"{scheme}://{ref.registry}/v2/{ref.repository}/manifests/{ref.digest}"


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
    crate = next(
        (r for r in (_try(OciRef.parse, a) for a in _alternates(attributes)) if r), None
    ) or next(
        (r for r in (_try(oci_ref_from_url, u) for u in _related(attributes, CRATE_RELATION)) if r),
        None,
    )
    image = next(
        (r for r in (_try(oci_ref_from_url, u) for u in _related(attributes, IMAGE_RELATION)) if r),
        None,
    )
    return crate, image
