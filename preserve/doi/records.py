"""Reading DataCite's JSON (REST API resources, content negotiation) into DOI records.

Responses carry more than the metadata that was sent: counters, timestamps,
base64 XML, derived ``types`` (schemaOrg, bibtex ...), ``null`` for absent
values, and a publisher string unless ``?publisher=true`` was asked for. This
module keeps the Metadata Schema 4.5 part, in the form that
:func:`preserve.doi.validation.validate_attributes` accepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from datacite import schema45

from preserve.doi.providers import DoiRecord, State
from preserve.doi.validation import SCHEMA_VERSION

# Metadata properties of the 4.5 JSON Schema, without the API's request-only ones.
METADATA_KEYS = frozenset(schema45.validator.schema["properties"]) - {
    "event",
    "prefix",
    "suffix",
    "url",
    "container",
}
STATES: frozenset[str] = frozenset({"draft", "registered", "findable"})


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value if v is not None]
    return value


def _names(people: Any) -> Any:
    if not isinstance(people, list):
        return people
    out = []
    for person in people:
        if isinstance(person, Mapping) and isinstance(person.get("affiliation"), list):
            affs = [{"name": a} if isinstance(a, str) else a for a in person["affiliation"]]
            person = {**person, "affiliation": affs}
        out.append(person)
    return out


def clean_attributes(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The DataCite metadata in ``raw`` (REST attributes or content-negotiation JSON)."""
    data = cast(dict[str, Any], _drop_nulls(dict(raw)))
    if "publicationYear" not in data and "publication_year" in data:
        data["publicationYear"] = data["publication_year"]
    if "relatedIdentifiers" not in data and "related_identifiers" in data:
        data["relatedIdentifiers"] = data["related_identifiers"]
    if not data.get("alternateIdentifiers") and isinstance(data.get("identifiers"), list):
        # Content negotiation lists alternate identifiers as identifiers/identifierType.
        data["alternateIdentifiers"] = [
            {"alternateIdentifier": i["identifier"], "alternateIdentifierType": i["identifierType"]}
            for i in data["identifiers"]
            if isinstance(i, Mapping)
            and i.get("identifier")
            and i.get("identifierType") not in (None, "DOI")
        ]
    out = {k: v for k, v in data.items() if k in METADATA_KEYS and v not in ([], {}, "")}
    if isinstance(out.get("publisher"), str):
        out["publisher"] = {"name": out["publisher"]}
    if isinstance(out.get("publicationYear"), int):
        out["publicationYear"] = str(out["publicationYear"])
    if isinstance(out.get("types"), Mapping):  # drop derived schemaOrg, citeproc, bibtex, ris
        out["types"] = {
            k: v for k, v in out["types"].items() if k in ("resourceTypeGeneral", "resourceType")
        }
    for key in ("creators", "contributors"):
        if key in out:
            out[key] = _names(out[key])
    if "doi" in out:
        out["doi"] = str(out["doi"]).lower()
    out.setdefault("schemaVersion", SCHEMA_VERSION)
    return out


def record_from_resource(body: Mapping[str, Any], provider: str) -> DoiRecord:
    """A record from a JSON:API ``{"data": {"id", "type": "dois", "attributes"}}`` document."""
    data = body.get("data")
    if not isinstance(data, Mapping) or not isinstance(data.get("attributes"), Mapping):
        raise ValueError("not a JSON:API dois resource")
    raw = data["attributes"]
    doi = str(raw.get("doi") or data.get("id") or "").lower()
    state = str(raw.get("state") or "draft")
    if state not in STATES:
        raise ValueError(f"unknown DOI state {state!r}")
    url = raw.get("url")
    return DoiRecord(
        doi, cast(State, state), str(url) if url else None, clean_attributes(raw), provider
    )


def record_from_datacite_json(body: Mapping[str, Any], provider: str) -> DoiRecord:
    """A record from DOI content negotiation (``application/vnd.datacite.datacite+json``)."""
    doi = str(body.get("doi") or "").lower()
    if not doi:
        raise ValueError("no doi in DataCite JSON")
    state = str(body.get("state") or "findable")  # only findable DOIs are served publicly
    url = body.get("url")
    return DoiRecord(
        doi,
        cast(State, state if state in STATES else "findable"),
        str(url) if url else None,
        clean_attributes(body),
        provider,
    )
