"""FAIR Signposting (https://signposting.org/FAIR/) for a landing page, level 1.

``cite-as`` the DOI; ``describedby`` the DataCite XML and JSON and the crate's
JSON-LD; ``item`` the crate's files in the registry (blobs that answer a plain
GET); ``type``; ``author`` the creators' ORCIDs; ``license``. The same links go
into the ``Link`` header and the page's ``<link>`` elements. Targets come from
catalogue entries, which others submitted: they are percent-encoded so that no
character can end a link or add a parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from preserve.catalogue.entry import Entry
from preserve.doi.links import METADATA_RELATION, blob_url
from preserve.errors import PreserveError
from preserve.oci.refs import OciRef

ROCRATE_PROFILE = "https://w3id.org/ro/crate"
_SAFE = ":/?#[]@!$&'()*+;=%~.-_"  # RFC 3986 characters, less the comma
_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9][\w.+-]{0,63}/[A-Za-z0-9][\w.+-]{0,126}$")


@dataclass(frozen=True)
class Link:
    href: str
    rel: str
    type: str | None = None
    profile: str | None = None

    def header(self) -> str:
        out = f'<{self.href}>; rel="{self.rel}"'
        if self.type:
            out += f'; type="{self.type}"'
        if self.profile:
            out += f'; profile="{self.profile}"'
        return out


def safe_url(url: str) -> str | None:
    """``url`` percent-encoded for a Link header, or None if it is not http(s)."""
    text = url.strip()
    if not text.lower().startswith(("https://", "http://")):
        return None
    return quote(text, safe=_SAFE)


def meta_url(base: str, media_type: str, doi: str) -> str:
    """Where the service serves one representation of ``doi`` (DataCite's link form)."""
    return f"{base}/meta/{media_type}/{quote(doi, safe='/')}"


def _orcids(attributes: Mapping[str, Any]) -> list[str]:
    out = []
    for creator in attributes.get("creators") or []:
        for ident in (creator.get("nameIdentifiers") or []) if isinstance(creator, Mapping) else []:
            if isinstance(ident, Mapping) and ident.get("nameIdentifierScheme") == "ORCID":
                value = str(ident.get("nameIdentifier") or "")
                out.append(value if value.startswith("http") else f"https://orcid.org/{value}")
    return out


def _items(entry: Entry) -> list[Link]:
    out = []
    for rel in entry.attributes.get("relatedIdentifiers") or []:
        if isinstance(rel, Mapping) and rel.get("relationType") == METADATA_RELATION:
            out.append(Link(str(rel.get("relatedIdentifier")), "item", "application/ld+json"))
    try:
        crate = OciRef.parse(entry.crate_ref) if entry.crate_ref else None
    except PreserveError:
        crate = None
    if crate is not None and not crate.is_local:
        for output in entry.details.get("outputs") or []:
            digest = output.get("sha256") if isinstance(output, Mapping) else None
            if isinstance(digest, str) and len(digest) == 64:
                try:
                    url = blob_url(crate, f"sha256:{digest}")
                except PreserveError:
                    continue
                out.append(Link(url, "item", str(output.get("format") or "") or None))
    return out


def links(entry: Entry, base: str) -> list[Link]:
    """Every signposting link of the landing page of ``entry``, targets made safe."""
    doi = entry.doi
    candidates = [
        Link(f"https://doi.org/{doi}", "cite-as"),
        Link(
            meta_url(base, "application/vnd.datacite.datacite+xml", doi),
            "describedby",
            "application/vnd.datacite.datacite+xml",
        ),
        Link(
            meta_url(base, "application/vnd.datacite.datacite+json", doi),
            "describedby",
            "application/vnd.datacite.datacite+json",
        ),
        Link(
            meta_url(base, "application/ld+json", doi),
            "describedby",
            "application/ld+json",
            ROCRATE_PROFILE,
        ),
        *_items(entry),
        Link("https://schema.org/AboutPage", "type"),
        Link("https://schema.org/Dataset", "type"),
        *(Link(orcid, "author") for orcid in _orcids(entry.attributes)),
        *(
            Link(str(r["rightsUri"]), "license")
            for r in entry.attributes.get("rightsList") or []
            if isinstance(r, Mapping) and r.get("rightsUri")
        ),
    ]
    out = []
    for link in candidates:
        href = safe_url(link.href)
        kind = link.type if link.type and _MEDIA_TYPE.match(link.type) else None
        if href:
            out.append(Link(href, link.rel, kind, link.profile))
    return out


def link_header(items: list[Link]) -> str:
    return ", ".join(link.header() for link in items)
