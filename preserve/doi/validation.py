"""Validation of DataCite REST API attributes, before anything is sent.

Two layers: the JSON Schema of Metadata Schema 4.5 shipped with the ``datacite``
package (structure, controlled lists, mandatory properties), then the checks the
JSON Schema leaves to the XML Schema or to DataCite's server (non-empty names
and titles, ISO dates, ORCID checksums, ROR and DOI syntax). DataCite's own
server has let invalid metadata through (datacite/datacite#1893, #1894), so the
toolkit refuses it locally.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import jsonschema
from datacite import schema45

from preserve.errors import MetadataError

SCHEMA_VERSION = "http://datacite.org/schema/kernel-4"
_ORCID = re.compile(r"^(?:https?://orcid\.org/)?(\d{4}-\d{4}-\d{4}-\d{3}[\dX])$")
_ROR = re.compile(r"^https://ror\.org/0[a-hj-km-np-tv-z0-9]{6}\d{2}$")
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
_SPDX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]*$")
_YEAR = re.compile(r"^\d{4}$")
_YEAR_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def is_doi(text: str) -> bool:
    return bool(_DOI.match(text))


def orcid_checksum_ok(orcid: str) -> bool:
    """ISO 7064 MOD 11-2 check digit of a bare ORCID iD (0000-0002-1825-0097)."""
    digits = orcid.replace("-", "")
    total = 0
    for ch in digits[:-1]:
        total = (total + int(ch)) * 2
    check = (12 - total % 11) % 11
    return digits[-1] == ("X" if check == 10 else str(check))


def _path(parts: Sequence[object]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _schema_problems(attrs: Mapping[str, Any]) -> Iterator[str]:
    validator = schema45.validator
    errors = [jsonschema.exceptions.best_match([e]) for e in validator.iter_errors(dict(attrs))]
    paths = [list(e.absolute_path) for e in errors]
    for err, path in sorted(zip(errors, paths, strict=True), key=lambda ep: list(map(str, ep[1]))):
        # "unevaluated properties" is only the echo of an error inside the same object
        echo = err.validator == "unevaluatedProperties" and any(
            len(p) > len(path) and p[: len(path)] == path for p in paths
        )
        if not echo:
            yield f"{_path(path)}: {err.message}"


def _iso_date(text: str) -> bool:
    for part in text.split("/") if "/" in text else [text]:
        if not part:
            continue
        if _YEAR.match(part) or _YEAR_MONTH.match(part):
            continue
        try:
            (datetime if "T" in part else date).fromisoformat(part.replace("Z", "+00:00"))
        except ValueError:
            return False
    return True


def _non_empty(attrs: Mapping[str, Any]) -> Iterator[str]:
    for key, field in (("creators", "name"), ("titles", "title")):
        for i, item in enumerate(attrs.get(key) or []):
            if isinstance(item, Mapping) and not str(item.get(field, "")).strip():
                yield f"{key}[{i}].{field}: must not be empty"
    publisher = attrs.get("publisher")
    if isinstance(publisher, Mapping) and not str(publisher.get("name", "")).strip():
        yield "publisher.name: must not be empty"


def _person_ids(attrs: Mapping[str, Any]) -> Iterator[str]:
    for key in ("creators", "contributors"):
        for i, person in enumerate(attrs.get(key) or []):
            if not isinstance(person, Mapping):
                continue
            for j, nid in enumerate(person.get("nameIdentifiers") or []):
                if isinstance(nid, Mapping) and nid.get("nameIdentifierScheme") == "ORCID":
                    value = str(nid.get("nameIdentifier", ""))
                    m = _ORCID.match(value)
                    if not m or not orcid_checksum_ok(m.group(1)):
                        yield (
                            f"{key}[{i}].nameIdentifiers[{j}].nameIdentifier: {value!r} is not "
                            "a valid ORCID iD (https://orcid.org/0000-0000-0000-0000, checksum)"
                        )
            for j, aff in enumerate(person.get("affiliation") or []):
                if isinstance(aff, Mapping) and aff.get("affiliationIdentifierScheme") == "ROR":
                    yield from _ror(
                        f"{key}[{i}].affiliation[{j}].affiliationIdentifier",
                        aff.get("affiliationIdentifier"),
                    )


def _ror(where: str, value: object) -> Iterator[str]:
    if not (isinstance(value, str) and _ROR.match(value)):
        yield f"{where}: {value!r} is not a ROR ID (https://ror.org/0xxxxxxNN)"


def _other_ids(attrs: Mapping[str, Any]) -> Iterator[str]:
    publisher = attrs.get("publisher")
    if isinstance(publisher, Mapping) and publisher.get("publisherIdentifierScheme") == "ROR":
        yield from _ror("publisher.publisherIdentifier", publisher.get("publisherIdentifier"))
    for i, fund in enumerate(attrs.get("fundingReferences") or []):
        if isinstance(fund, Mapping) and fund.get("funderIdentifierType") == "ROR":
            where = f"fundingReferences[{i}].funderIdentifier"
            yield from _ror(where, fund.get("funderIdentifier"))
    for i, rel in enumerate(attrs.get("relatedIdentifiers") or []):
        if isinstance(rel, Mapping) and rel.get("relatedIdentifierType") == "DOI":
            value = rel.get("relatedIdentifier")
            if not (isinstance(value, str) and _DOI.match(value)):
                yield f"relatedIdentifiers[{i}].relatedIdentifier: {value!r} is not a DOI (10.x/y)"
    for i, r in enumerate(attrs.get("rightsList") or []):
        if isinstance(r, Mapping) and r.get("rightsIdentifierScheme") == "SPDX":
            value = r.get("rightsIdentifier")
            if not (isinstance(value, str) and _SPDX.match(value)):
                yield f"rightsList[{i}].rightsIdentifier: {value!r} is not an SPDX licence ID"
    for i, d in enumerate(attrs.get("dates") or []):
        if isinstance(d, Mapping) and not _iso_date(str(d.get("date", ""))):
            yield f"dates[{i}].date: {d.get('date')!r} is not an ISO 8601 date (YYYY-MM-DD)"


def problems(attrs: Mapping[str, Any]) -> list[str]:
    """Every problem found, each as ``field.path: why``; empty when valid."""
    found = list(_schema_problems(attrs))
    for check in (_non_empty, _person_ids, _other_ids):
        found.extend(p for p in check(attrs) if p not in found)
    return found


def validate_attributes(attrs: Mapping[str, Any]) -> None:
    """Raise :class:`MetadataError` naming each invalid field, or return."""
    found = problems(attrs)
    if found:
        noun = "problem" if len(found) == 1 else "problems"
        raise MetadataError(
            f"DOI metadata is not valid DataCite Metadata Schema 4.5 ({len(found)} {noun}): "
            + "; ".join(found),
            hint="fix the named fields (in the crate or the publish options) and try again",
        )


def to_xml(attrs: Mapping[str, Any]) -> str:
    """DataCite XML (kernel-4.5) for REST API attributes."""
    data = dict(attrs)
    if isinstance(data.get("publicationYear"), int):
        data["publicationYear"] = str(data["publicationYear"])
    if isinstance(data.get("publisher"), str):
        data["publisher"] = {"name": data["publisher"]}
    xml: str = schema45.tostring(data)
    return xml
