"""DataCite metadata for a preserved analysis run.

:func:`build_attributes` turns a :class:`PublicationInfo` (which the publish step
fills from a crate) into the ``attributes`` of a DataCite REST API ``dois``
resource, Metadata Schema 4.5. The metadata pins the crate and the image by
digest, so the DOI alone is enough to fetch and rerun exactly what was
published.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preserve.doi.links import (
    CRATE_LINE,
    IMAGE_LINE,
    IMAGE_RELATION,
    METADATA_RELATION,
    OCI_ALTERNATE_TYPE,
    blob_url,
    oci_ref_from_url,
    oci_ref_to_url,
)
from preserve.doi.validation import SCHEMA_VERSION, to_xml, validate_attributes
from preserve.manifest import Funding  # the manifest's funding, as DataCite takes it
from preserve.oci.refs import OciRef, check_digest

__all__ = [
    "NOT_RESOLVABLE",
    "Funding",
    "InputData",
    "Person",
    "PublicationInfo",
    "build_attributes",
    "oci_ref_from_url",
    "oci_ref_to_url",
    "suffix_for",
    "to_xml",
    "validate_attributes",
]

NOT_RESOLVABLE = (
    "Sandbox DOI minted by preserve under the test prefix 10.5072: "
    "not registered with DataCite and not globally resolvable."
)
# Why "Workflow": DataCite defines it as "a structured series of steps which can
# be executed to produce a final outcome, allowing users to enact their work
# reproducibly" -- exactly what a preserved, rerunnable analysis run is (image +
# command + pinned inputs). "Dataset" would describe only the outputs and
# "Software" only the code; the free-text resourceType names the RO-Crate profile.
RESOURCE_TYPE_GENERAL = "Workflow"
RESOURCE_TYPE = "Process Run Crate"
ROR_SCHEME_URI = "https://ror.org/"
SPDX_SCHEME_URI = "https://spdx.org/licenses/"
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


@dataclass(frozen=True)
class Person:
    name: str
    given_name: str | None = None
    family_name: str | None = None
    orcid: str | None = None  # bare form, 0000-0002-1825-0097
    affiliation: str | None = None
    affiliation_ror: str | None = None


@dataclass(frozen=True)
class InputData:
    name: str
    uri: str
    doi: str | None = None


@dataclass(frozen=True)
class PublicationInfo:
    doi: str
    title: str
    description: str | None
    version: str | None
    license: str | None  # SPDX identifier
    keywords: Sequence[str]
    creators: Sequence[Person]
    publisher_name: str
    publisher_ror: str | None
    publication_year: int
    created: str | None  # ISO date of the run
    crate_ref: OciRef  # pinned by digest; may be local:
    image_ref: OciRef  # pinned by digest; may be local:
    metadata_digest: str | None  # the crate's ro-crate-metadata.json blob
    image_id: str | None  # the image's config digest (its blob answers a plain GET)
    crate_size: int | None
    formats: Sequence[str]
    inputs: Sequence[InputData]
    source_url: str | None  # the crate's link to the code (crate/jsonld.py builds it)
    source_commit: str | None
    supplement_to: Sequence[str]
    cites: Sequence[str]
    funding: Sequence[Funding]
    sandbox: bool
    store_dir: Path | None  # the local layout store, for local: references


def suffix_for(crate_digest: str) -> str:
    """A deterministic, opaque DOI suffix: the same crate always gets the same DOI.

    ``preserve.`` + 10 lower-case Crockford base32 characters (50 bits) of the
    crate manifest digest.
    """
    bits = int(check_digest(crate_digest).split(":", 1)[1][:13], 16) >> 2
    chars = [_CROCKFORD[(bits >> shift) & 31] for shift in range(45, -1, -5)]
    return "preserve." + "".join(chars)


def bare_doi(text: str) -> str:
    """``10.x/y`` from ``10.x/y``, ``doi:10.x/y`` or ``https://doi.org/10.x/y``."""
    text = text.strip()
    text = re.sub(r"^(?:doi:|https?://(?:dx\.)?doi\.org/)", "", text, flags=re.IGNORECASE)
    return text


def _ror_url(value: str) -> str:
    value = value.strip()
    return value if value.startswith("https://") else f"https://ror.org/{value.rsplit('/', 1)[-1]}"


def _creator(p: Person) -> dict[str, Any]:
    name = f"{p.family_name}, {p.given_name}" if p.family_name and p.given_name else p.name
    out: dict[str, Any] = {"name": name, "nameType": "Personal"}
    if p.given_name:
        out["givenName"] = p.given_name
    if p.family_name:
        out["familyName"] = p.family_name
    if p.orcid:
        orcid = p.orcid.strip().removeprefix("https://orcid.org/")
        out["nameIdentifiers"] = [
            {
                "nameIdentifier": f"https://orcid.org/{orcid}",
                "nameIdentifierScheme": "ORCID",
                "schemeUri": "https://orcid.org",
            }
        ]
    if p.affiliation:
        aff: dict[str, Any] = {"name": p.affiliation}
        if p.affiliation_ror:
            aff.update(
                affiliationIdentifier=_ror_url(p.affiliation_ror),
                affiliationIdentifierScheme="ROR",
                schemeUri=ROR_SCHEME_URI,
            )
        out["affiliation"] = [aff]
    return out


def _publisher(info: PublicationInfo) -> dict[str, Any]:
    out: dict[str, Any] = {"name": info.publisher_name}
    if info.publisher_ror:
        out.update(
            publisherIdentifier=_ror_url(info.publisher_ror),
            publisherIdentifierScheme="ROR",
            schemeUri=ROR_SCHEME_URI,
        )
    return out


def _rights(spdx: str) -> dict[str, Any]:
    return {
        "rights": spdx,
        "rightsUri": f"https://spdx.org/licenses/{spdx}.html",
        "rightsIdentifier": spdx,
        "rightsIdentifierScheme": "SPDX",
        "schemeUri": SPDX_SCHEME_URI,
    }


def _technical_info(info: PublicationInfo) -> str:
    lines = [
        "Preserved analysis run (RO-Crate, Process Run Crate profile).",
        f"{CRATE_LINE} {info.crate_ref}",
        f"{IMAGE_LINE} {info.image_ref}",
    ]
    if info.source_url or info.source_commit:
        at = f" at commit {info.source_commit}" if info.source_commit else ""
        lines.append(f"Source: {info.source_url or 'in the crate'}{at}")
    lines.append(f"Rerun and compare the outputs with: preserve rerun {info.doi}")
    return "\n".join(lines)


def _descriptions(info: PublicationInfo) -> list[dict[str, str]]:
    out = []
    if info.description:
        out.append({"description": info.description, "descriptionType": "Abstract"})
    out.append({"description": _technical_info(info), "descriptionType": "TechnicalInfo"})
    if info.sandbox:
        out.append({"description": NOT_RESOLVABLE, "descriptionType": "Other"})
    return out


def _rel(identifier: str, id_type: str, relation: str, rtg: str | None) -> dict[str, str]:
    out = {
        "relatedIdentifier": identifier,
        "relatedIdentifierType": id_type,
        "relationType": relation,
    }
    if rtg:
        out["resourceTypeGeneral"] = rtg
    return out


def _related(info: PublicationInfo) -> list[dict[str, str]]:
    """Related identifiers; every URL among them answers a plain GET (see links.py)."""
    store = info.store_dir
    out = []
    if info.metadata_digest:
        out.append(
            {
                **_rel(
                    blob_url(info.crate_ref, info.metadata_digest, store),
                    "URL",
                    METADATA_RELATION,
                    None,
                ),
                "relatedMetadataScheme": "RO-Crate",
                "schemeUri": "https://w3id.org/ro/crate/1.1",
            }
        )
    if info.image_id:
        image = blob_url(info.image_ref, info.image_id, store)
        out.append(_rel(image, "URL", IMAGE_RELATION, "Software"))
    for data in info.inputs:
        if data.doi:
            out.append(_rel(bare_doi(data.doi), "DOI", "IsDerivedFrom", "Dataset"))
        elif web := _web(data.uri):
            out.append(_rel(web, "URL", "IsDerivedFrom", "Dataset"))
    if info.source_url and _web(info.source_url):
        out.append(_rel(info.source_url, "URL", "IsDerivedFrom", "Software"))
    for paper in info.supplement_to:
        out.append(_rel(bare_doi(paper), "DOI", "IsSupplementTo", "JournalArticle"))
    out += [_rel(bare_doi(d), "DOI", "Cites", None) for d in info.cites]
    unique: list[dict[str, str]] = []
    for item in out:  # the same input may be listed twice; DataCite wants no duplicates
        if item not in unique:
            unique.append(item)
    return unique


def _web(uri: str) -> str | None:
    """A URL a browser can GET for a data URI: WebDAV doors serve GET on the same path;
    a ``file://`` path on the capturing machine is no link."""
    scheme, sep, rest = uri.partition("://")
    scheme = {"dav": "http", "davs": "https"}.get(scheme.lower(), scheme.lower())
    return f"{scheme}{sep}{rest}" if sep and scheme in ("http", "https") else None


def _funding(f: Funding) -> dict[str, str]:
    out = {"funderName": f.funder}
    if f.funder_ror:
        out.update(funderIdentifier=_ror_url(f.funder_ror), funderIdentifierType="ROR")
    if f.award:
        out["awardNumber"] = f.award
    return out


def build_attributes(info: PublicationInfo) -> dict[str, Any]:
    """DataCite REST API attributes (Metadata Schema 4.5) for ``info``.

    Not validated here: call :func:`validate_attributes` (providers do so before
    sending anything).
    """
    attrs: dict[str, Any] = {
        "doi": bare_doi(info.doi).lower(),
        "creators": [_creator(p) for p in info.creators],
        "titles": [{"title": info.title}],
        "publisher": _publisher(info),
        "publicationYear": str(info.publication_year),
        "types": {"resourceTypeGeneral": RESOURCE_TYPE_GENERAL, "resourceType": RESOURCE_TYPE},
        "subjects": [{"subject": k} for k in dict.fromkeys(info.keywords)],
        "descriptions": _descriptions(info),
        "relatedIdentifiers": _related(info),
        "alternateIdentifiers": [
            {
                "alternateIdentifier": str(info.crate_ref),
                "alternateIdentifierType": OCI_ALTERNATE_TYPE,
            }
        ],
        "formats": list(dict.fromkeys(info.formats)),
        "fundingReferences": [_funding(f) for f in info.funding],
        "schemaVersion": SCHEMA_VERSION,
    }
    if info.license:
        attrs["rightsList"] = [_rights(info.license)]
    if info.version:
        attrs["version"] = info.version
    if info.crate_size is not None:
        attrs["sizes"] = [f"{info.crate_size} bytes"]
    if info.created:
        attrs["dates"] = [{"date": info.created, "dateType": "Created"}]
    return {k: v for k, v in attrs.items() if v != []}
