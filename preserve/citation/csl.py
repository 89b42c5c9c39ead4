"""DataCite metadata -> a CSL-JSON item, the one input of every citation preserve renders.

The mapping follows what DataCite's own content negotiation does (bolognese's
``citeproc`` writer): personal creators as ``family``/``given``, organisations
as ``literal``, the publication year as ``issued``, the publisher's name, the
version and the DOI. A preserved run is rerunnable code pinned with its
environment, so ``Software``, ``Workflow`` and ``ComputationalNotebook`` records
are CSL ``software`` (APA: "[Computer software]"); ``Dataset`` stays ``dataset``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CSL_TYPES = {
    "Software": "software",
    "Workflow": "software",
    "ComputationalNotebook": "software",
    "Dataset": "dataset",
    "Collection": "dataset",
    "JournalArticle": "article-journal",
    "Preprint": "article",
    "Report": "report",
    "Text": "report",
    "Image": "graphic",
    "Audiovisual": "motion_picture",
    "Sound": "song",
}


def _texts(items: object, key: str) -> list[str]:
    if not isinstance(items, list):
        return []
    return [str(i[key]) for i in items if isinstance(i, Mapping) and i.get(key)]


def title(attributes: Mapping[str, Any]) -> str | None:
    """The main title (the first without a ``titleType``, else the first)."""
    titles = [t for t in attributes.get("titles") or [] if isinstance(t, Mapping)]
    main = [t for t in titles if not t.get("titleType")] or titles
    return str(main[0]["title"]) if main and main[0].get("title") else None


def abstract(attributes: Mapping[str, Any]) -> str | None:
    found = [
        d
        for d in attributes.get("descriptions") or []
        if isinstance(d, Mapping) and d.get("descriptionType") == "Abstract"
    ]
    return next(iter(_texts(found, "description")), None)


def publisher_name(attributes: Mapping[str, Any]) -> str | None:
    publisher = attributes.get("publisher")
    if isinstance(publisher, Mapping):
        return str(publisher.get("name") or "") or None
    return str(publisher) if publisher else None


def person(creator: Mapping[str, Any]) -> dict[str, str]:
    """A CSL name: family/given for people, literal for organisations and unsplit names."""
    family, given = creator.get("familyName"), creator.get("givenName")
    name = str(creator.get("name") or "").strip()
    if creator.get("nameType") != "Organizational" and not (family and given):
        if "," in name:  # DataCite's "Family, Given"
            family, _, given = (p.strip() for p in name.partition(","))
        elif creator.get("nameType") == "Personal" and " " in name:  # "Given Family"
            given, _, family = name.rpartition(" ")
    if creator.get("nameType") == "Organizational" or not family:
        return {"literal": name or str(family or "")}
    out = {"family": str(family)}
    if given:
        out["given"] = str(given)
    return out


def issued(attributes: Mapping[str, Any]) -> dict[str, Any] | None:
    year = str(attributes.get("publicationYear") or "").strip()
    return {"date-parts": [[int(year)]]} if year.isdigit() else None


def csl_item(doi: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The CSL-JSON item of ``doi`` (https://citeproc-js.readthedocs.io/en/latest/csl-json/)."""
    types = attributes.get("types")
    general = str(types.get("resourceTypeGeneral") or "") if isinstance(types, Mapping) else ""
    item: dict[str, Any] = {
        "id": doi,
        "type": CSL_TYPES.get(general, "document"),
        "DOI": doi,
        "URL": f"https://doi.org/{doi}",
        "title": title(attributes) or doi,
        "author": [person(c) for c in attributes.get("creators") or [] if isinstance(c, Mapping)],
    }
    optional = {
        "issued": issued(attributes),
        "publisher": publisher_name(attributes),
        "version": attributes.get("version"),
        "abstract": abstract(attributes),
        "keyword": ", ".join(_texts(attributes.get("subjects"), "subject")) or None,
    }
    item.update({k: v for k, v in optional.items() if v})
    return item
