"""A catalogue entry: one published function, as the catalogue lists, searches and shows it.

Built once, when a DOI is submitted, from its DataCite record and the crate's
JSON-LD (read by the one crate reader, :func:`preserve.crate.read.view_of`):
the searchable summary, and the details its landing page shows (inputs and
outputs with checksums, the recorded command). The crate's JSON-LD is kept as
submitted, to be served as ``application/ld+json``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from preserve.citation import render
from preserve.citation.csl import abstract, title
from preserve.crate.read import CrateView, Data, check_document, parse_json, view_of
from preserve.doi.links import METADATA_RELATION, pinned_refs
from preserve.doi.validation import is_doi, validate_attributes
from preserve.errors import PreserveError

MAX_CRATE_BYTES = 32 * 2**20
_DIGEST_IN_URL = re.compile(r"sha256[:/]([0-9a-f]{64})$")


class SubmissionError(PreserveError):
    """A submission to the catalogue is refused (HTTP 422 for the service)."""


@dataclass(frozen=True)
class Entry:
    doi: str
    title: str
    description: str
    version: str | None
    creators: tuple[str, ...]
    keywords: tuple[str, ...]
    formats: tuple[str, ...]  # the inputs' media types
    published: str  # YYYY-MM-DD, or YYYY when only the year is known
    license: str | None
    crate_ref: str | None
    image_ref: str | None
    url: str | None = None  # the landing page registered for the DOI
    state: str = "findable"
    attributes: Mapping[str, Any] = field(default_factory=dict, repr=False)
    details: Mapping[str, Any] = field(default_factory=dict, repr=False)
    crate_jsonld: str | None = field(default=None, repr=False)
    indexed: str = ""

    def summary(self) -> dict[str, Any]:
        """What the JSON API lists for the entry."""
        return {
            "doi": self.doi,
            "title": self.title,
            "description": self.description,
            "version": self.version,
            "creators": list(self.creators),
            "keywords": list(self.keywords),
            "formats": list(self.formats),
            "published": self.published,
            "license": self.license,
            "crate_ref": self.crate_ref,
            "image_ref": self.image_ref,
            "url": self.url,
            "commands": commands(self),
        }


def commands(entry: Entry) -> dict[str, str]:
    """Copyable commands: rerun, deploy as a function (any target; local shown), cite;
    the pinned image's pull only when it lives on a registry."""
    out = {
        "rerun": f"preserve rerun {entry.doi}",
        "deploy": f"preserve deploy {entry.doi} --to local",
        "cite": f"preserve cite {entry.doi}",
    }
    if entry.image_ref and not entry.image_ref.startswith("local:"):
        out["pull"] = f"docker pull {entry.image_ref}"
    return out


def _date(attributes: Mapping[str, Any]) -> str:
    for kind in ("Issued", "Available", "Created"):
        for d in attributes.get("dates") or []:
            if isinstance(d, Mapping) and d.get("dateType") == kind:
                text = str(d.get("date") or "")[:10]
                if re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", text):
                    return text
    return str(attributes.get("publicationYear") or "")[:4]


def _data(d: Data, name: str | None = None) -> dict[str, Any]:
    return {
        "name": name or d.name or d.id,
        "id": d.id,
        "remote": d.remote,
        "sha256": d.sha256,
        "size": d.size,
        "format": d.encoding_format,
        "doi": d.doi,
        "license": d.license,
    }


def details_of(view: CrateView) -> dict[str, Any]:
    action = view.action
    command = (action.description or "").removeprefix("Command: ") if action else ""
    return {
        "inputs": [_data(d) for d in view.inputs],
        "outputs": [_data(d, d.id.removeprefix("outputs/")) for d in view.outputs],
        "command": command,
        "run": {"start": action.start, "end": action.end, "status": action.status}
        if action
        else None,
        "source": {
            "url": view.instrument.url if view.instrument else None,
            "commit": view.source.commit,
        },
    }


def _metadata_digest(attributes: Mapping[str, Any]) -> str | None:
    for rel in attributes.get("relatedIdentifiers") or []:
        if isinstance(rel, Mapping) and rel.get("relationType") == METADATA_RELATION:
            m = _DIGEST_IN_URL.search(str(rel.get("relatedIdentifier") or ""))
            if m:
                return m.group(1)
    return None


def entry_from_submission(body: Mapping[str, Any]) -> Entry:
    """Check a submission (``doi``, ``url``, ``state``, ``attributes``, ``crate``) and build
    its entry; SubmissionError says what is wrong with it."""
    doi = str(body.get("doi") or "").lower()
    if not is_doi(doi):
        raise SubmissionError(f"{doi!r} is not a DOI")
    attributes = body.get("attributes")
    if not isinstance(attributes, Mapping):
        raise SubmissionError("attributes must be the DOI's DataCite metadata (an object)")
    try:
        validate_attributes({**attributes, "doi": doi})
    except PreserveError as exc:
        raise SubmissionError(f"the DataCite metadata of {doi} is invalid: {exc.message}") from exc
    crate_text = body.get("crate")
    if not isinstance(crate_text, str) or len(crate_text.encode()) > MAX_CRATE_BYTES:
        raise SubmissionError("crate must be the text of ro-crate-metadata.json (at most 32 MiB)")
    raw = crate_text.encode()
    pinned = _metadata_digest(attributes)
    if pinned and hashlib.sha256(raw).hexdigest() != pinned:
        raise SubmissionError(
            f"the crate metadata is not the one {doi} pins (sha256:{pinned[:12]}...)"
        )
    try:
        where = "the submitted ro-crate-metadata.json"
        view = view_of(check_document(parse_json(raw, Path(where)), where))
    except PreserveError as exc:
        raise SubmissionError(f"the crate of {doi} is not readable: {exc.message}") from exc
    if view.doi and view.doi.lower() != doi:
        raise SubmissionError(f"the crate names the DOI {view.doi}, not {doi}")
    url = body.get("url")
    crate, image = pinned_refs(attributes)
    creators = [
        str(c.get("name")) for c in attributes.get("creators") or [] if isinstance(c, Mapping)
    ]
    subjects = [
        str(s.get("subject"))
        for s in attributes.get("subjects") or []
        if isinstance(s, Mapping) and s.get("subject")
    ]
    rights = [r for r in attributes.get("rightsList") or [] if isinstance(r, Mapping)]
    return Entry(
        doi=doi,
        title=title(attributes) or doi,
        description=abstract(attributes) or "",
        version=str(attributes["version"]) if attributes.get("version") else None,
        creators=tuple(creators),
        keywords=tuple(dict.fromkeys(subjects)),
        formats=tuple(dict.fromkeys(d.encoding_format for d in view.inputs if d.encoding_format)),
        published=_date(attributes),
        license=str(rights[0].get("rightsIdentifier") or rights[0].get("rights"))
        if rights
        else None,
        crate_ref=str(crate) if crate else None,
        image_ref=str(image) if image else None,
        url=str(url) if isinstance(url, str) and url.startswith(("https://", "http://")) else None,
        state=str(body.get("state") or "findable"),
        attributes=dict(attributes),
        details={**details_of(view), "citation": render(doi, attributes, "text", "apa")},
        crate_jsonld=crate_text,
        indexed=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
