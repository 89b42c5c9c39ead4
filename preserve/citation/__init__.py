"""Citations of a preserved analysis: ``preserve cite DOI``.

Every format comes from the DOI's DataCite metadata. Formatted citations are
rendered by citeproc-py with the published CSL styles (:mod:`.styles`), from the
CSL-JSON item DataCite's own mapping would give (:mod:`.csl`). For a DataCite
DOI, what DataCite's content negotiation returns is preferred when it answers;
sandbox DOIs, and DataCite DOIs while DataCite is unreachable, are rendered
locally, offline.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from preserve.citation.bibtex import bibtex, ris
from preserve.citation.cff import citation_cff
from preserve.citation.csl import csl_item
from preserve.citation.negotiate import negotiate
from preserve.citation.styles import DEFAULT_STYLE, formatted
from preserve.doi.resolve import ResolvedDoi, resolve
from preserve.doi.validation import to_xml
from preserve.errors import CitationError
from preserve.settings import Settings

# format -> media type (DOI content negotiation's names); cff has none.
MEDIA_TYPES = {
    "text": "text/x-bibliography",
    "bibtex": "application/x-bibtex",
    "ris": "application/x-research-info-systems",
    "csl-json": "application/vnd.citationstyles.csl+json",
    "datacite-xml": "application/vnd.datacite.datacite+xml",
    "datacite-json": "application/vnd.datacite.datacite+json",
    "cff": "application/x-yaml",
}
FORMATS = ("apa", *MEDIA_TYPES)
Source = Literal["datacite", "preserve"]


@dataclass(frozen=True)
class CitationText:
    doi: str
    format: str
    style: str | None
    media_type: str
    text: str
    source: Source  # who rendered it: DataCite's content negotiation or preserve, offline

    def to_json(self) -> dict[str, Any]:
        return {
            "doi": self.doi,
            "format": self.format,
            "style": self.style,
            "media_type": self.media_type,
            "source": self.source,
            "citation": self.text,
        }


def render(doi: str, attributes: Mapping[str, Any], fmt: str, style: str | None = None) -> str:
    """``doi`` as ``fmt``, rendered here (no network)."""
    item = csl_item(doi, attributes)
    if fmt == "text":
        return formatted(item, style or DEFAULT_STYLE)
    if fmt == "bibtex":
        return bibtex(item)
    if fmt == "ris":
        return ris(item)
    if fmt == "csl-json":
        return json.dumps([item], indent=2, ensure_ascii=False) + "\n"
    if fmt == "datacite-xml":
        return to_xml({**attributes, "doi": doi})
    if fmt == "datacite-json":
        return json.dumps({**attributes, "doi": doi}, indent=2, ensure_ascii=False) + "\n"
    if fmt == "cff":
        return citation_cff(doi, attributes)
    raise CitationError(f"unknown citation format {fmt!r}", hint=f"one of {', '.join(FORMATS)}")


def cite(
    doi: str,
    *,
    settings: Settings,
    fmt: str = "apa",
    style: str | None = None,
    remote: bool = True,
) -> CitationText:
    """The citation of ``doi`` as ``fmt`` (``apa`` is ``text`` in the APA style)."""
    if fmt == "apa":
        fmt, style = "text", style or "apa"
    elif style and fmt != "text":
        raise CitationError(
            f"--style applies to formatted text, not to {fmt}",
            hint="use --format text --style STYLE (or --format apa)",
        )
    if fmt not in MEDIA_TYPES:
        raise CitationError(f"unknown citation format {fmt!r}", hint=f"one of {', '.join(FORMATS)}")
    style = (style or DEFAULT_STYLE) if fmt == "text" else None
    resolved = resolve(doi, settings)
    return cite_resolved(resolved, settings=settings, fmt=fmt, style=style, remote=remote)


def cite_resolved(
    resolved: ResolvedDoi,
    *,
    settings: Settings,
    fmt: str,
    style: str | None,
    remote: bool = True,
) -> CitationText:
    media_type = MEDIA_TYPES[fmt]
    if remote and fmt != "cff":
        answer = negotiate(resolved, media_type, settings, style=style)
        if answer is not None:
            return CitationText(resolved.doi, fmt, style, media_type, answer.text, "datacite")
    text = render(resolved.doi, resolved.attributes, fmt, style)
    return CitationText(resolved.doi, fmt, style, media_type, text, "preserve")
