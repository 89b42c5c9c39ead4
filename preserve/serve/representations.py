"""The representations of a DOI the service negotiates, each from the catalogue entry.

Citation formats are rendered by :func:`preserve.citation.render` (the CSL
processor for ``text/x-bibliography``, with the ``style`` and ``locale`` the
Accept header names); DataCite XML and JSON from the stored record; the crate's
JSON-LD as it was submitted. The landing page (``text/html``) is the app's.
"""

from __future__ import annotations

from preserve.catalogue.entry import Entry
from preserve.citation import render

HTML = "text/html"
CRATE = "application/ld+json"
FORMATS = {  # media type -> preserve's citation format
    "application/vnd.datacite.datacite+json": "datacite-json",
    "application/vnd.datacite.datacite+xml": "datacite-xml",
    "application/x-bibtex": "bibtex",
    "application/x-research-info-systems": "ris",
    "text/x-bibliography": "text",
    "application/vnd.citationstyles.csl+json": "csl-json",
}
OFFERED = (HTML, CRATE, *FORMATS)  # the server's preference, for */* and wildcards
CHARSET = {
    CRATE,
    "text/x-bibliography",
    "application/x-bibtex",
    "application/x-research-info-systems",
}


def represent(entry: Entry, media_type: str, style: str | None = None) -> str:
    """``entry`` as ``media_type`` (any of :data:`OFFERED` but HTML)."""
    if media_type == CRATE:
        return entry.crate_jsonld or "{}"
    return render(entry.doi, entry.attributes, FORMATS[media_type], style)


def content_type(media_type: str) -> str:
    text_like = media_type.startswith("text/") or media_type.endswith(("+json", "+xml", "/json"))
    return f"{media_type}; charset=utf-8" if text_like or media_type in CHARSET else media_type
