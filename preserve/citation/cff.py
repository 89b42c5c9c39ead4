"""``CITATION.cff`` (Citation File Format 1.2.0) from DataCite metadata, validated.

The schema is vendored (``cff-schema-1.2.0.json``: the ``schema.json`` of
citation-file-format/citation-file-format at tag 1.2.0, CC-BY-4.0): cffconvert
2.0, the format's own validator, pins ``jsonschema<4``, which this project
cannot install beside its own. Validation reads the YAML as CFF tools do, with
dates kept as the strings the schema describes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import yaml
from jsonschema import Draft7Validator

from preserve.citation.csl import abstract, title
from preserve.doi.links import pinned_refs
from preserve.errors import CitationError

CFF_VERSION = "1.2.0"
MESSAGE = "If you use this analysis or its results, please cite it using these metadata."


@cache
def cff_validator() -> Draft7Validator:
    text = resources.files("preserve.citation").joinpath("cff-schema-1.2.0.json").read_text()
    schema = json.loads(text)
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


class _CffLoader(yaml.SafeLoader):
    """YAML as CFF reads it: ``2026-01-31`` stays a string (the schema's ``date`` pattern)."""


_CffLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def validate_cff(text: str) -> dict[str, Any]:
    """The parsed ``CITATION.cff``; CitationError listing what the schema refuses."""
    try:
        data = yaml.load(text, Loader=_CffLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise CitationError(f"CITATION.cff is not YAML: {exc}") from exc
    errors = sorted(cff_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
            for e in errors[:5]
        )
        raise CitationError(f"CITATION.cff does not validate against CFF {CFF_VERSION}: {where}")
    return dict(data)


def _author(creator: Mapping[str, Any]) -> dict[str, Any]:
    family, given = creator.get("familyName"), creator.get("givenName")
    name = str(creator.get("name") or "")
    if creator.get("nameType") == "Organizational" or not family:
        out: dict[str, Any] = {"name": name or str(family or "unknown")}
    else:
        out = {"family-names": str(family)}
        if given:
            out["given-names"] = str(given)
    for ident in creator.get("nameIdentifiers") or []:
        value = str(ident.get("nameIdentifier") or "") if isinstance(ident, Mapping) else ""
        if ident.get("nameIdentifierScheme") == "ORCID" and value:
            out["orcid"] = value if value.startswith("https://") else f"https://orcid.org/{value}"
    affiliations = [a for a in creator.get("affiliation") or [] if isinstance(a, Mapping)]
    if affiliations and affiliations[0].get("name"):
        out["affiliation"] = str(affiliations[0]["name"])
    return out


def _date(attributes: Mapping[str, Any]) -> str | None:
    for kind in ("Issued", "Available", "Created"):
        for d in attributes.get("dates") or []:
            if isinstance(d, Mapping) and d.get("dateType") == kind and len(str(d["date"])) >= 10:
                return str(d["date"])[:10]
    return None


def _licence(attributes: Mapping[str, Any]) -> str | None:
    for rights in attributes.get("rightsList") or []:
        if isinstance(rights, Mapping) and rights.get("rightsIdentifierScheme") == "SPDX":
            return str(rights.get("rightsIdentifier") or rights.get("rights"))
    return None


def _identifiers(doi: str, attributes: Mapping[str, Any]) -> list[dict[str, str]]:
    out = [{"type": "doi", "value": doi, "description": "The preserved analysis run"}]
    crate, image = pinned_refs(attributes)
    if crate:
        out.append({"type": "other", "value": str(crate), "description": "RO-Crate (OCI)"})
    if image:
        out.append({"type": "other", "value": str(image), "description": "Container image"})
    for rel in attributes.get("relatedIdentifiers") or []:
        if (
            isinstance(rel, Mapping)
            and rel.get("relationType") == "IsSupplementTo"
            and rel.get("relatedIdentifierType") == "DOI"
        ):
            out.append(
                {
                    "type": "doi",
                    "value": str(rel["relatedIdentifier"]),
                    "description": "The article this analysis is a supplement to",
                }
            )
    return out


def citation_cff(doi: str, attributes: Mapping[str, Any]) -> str:
    """The ``CITATION.cff`` text of ``doi``, validated before it is returned."""
    data: dict[str, Any] = {
        "cff-version": CFF_VERSION,
        "message": MESSAGE,
        "type": "software",
        "title": title(attributes) or doi,
        "authors": [_author(c) for c in attributes.get("creators") or []],
        "doi": doi,
        "identifiers": _identifiers(doi, attributes),
        "version": attributes.get("version"),
        "date-released": _date(attributes),
        "abstract": abstract(attributes),
        "keywords": [
            str(s["subject"])
            for s in attributes.get("subjects") or []
            if isinstance(s, Mapping) and s.get("subject")
        ],
        "license": _licence(attributes),
        "url": f"https://doi.org/{doi}",
    }
    data = {k: v for k, v in data.items() if v not in (None, [], "")}
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    validate_cff(text)
    return text
