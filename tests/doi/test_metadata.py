"""DataCite metadata: content, validation (JSON Schema and DataCite's XSDs), OCI links."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from datacite import schema45
from lxml import etree

from preserve.doi.links import oci_ref_from_url, oci_ref_to_url, pinned_refs
from preserve.doi.metadata import (
    NOT_RESOLVABLE,
    InputData,
    Person,
    build_attributes,
    suffix_for,
    to_xml,
    validate_attributes,
)
from preserve.doi.validation import orcid_checksum_ok
from preserve.errors import MetadataError
from preserve.oci.refs import InvalidReference, OciRef
from tests.doi.samples import (
    CRATE_DIGEST,
    IMAGE_DIGEST,
    IMAGE_ID,
    METADATA_DIGEST,
    ORCID,
    local_info,
    sample_info,
)

XSD_DIR = Path(__file__).parent / "fixtures" / "datacite-xsd"


def related(attrs: dict[str, Any], relation: str) -> list[dict[str, str]]:
    return [r for r in attrs["relatedIdentifiers"] if r["relationType"] == relation]


def description(attrs: dict[str, Any], kind: str) -> str:
    return str(
        next(d["description"] for d in attrs["descriptions"] if d["descriptionType"] == kind)
    )


def test_creators_publisher_types_rights() -> None:
    attrs = build_attributes(sample_info())
    ada, grace = attrs["creators"]
    assert ada["name"] == "Lovelace, Ada" and ada["nameType"] == "Personal"
    assert (ada["givenName"], ada["familyName"]) == ("Ada", "Lovelace")
    assert ada["nameIdentifiers"] == [
        {
            "nameIdentifier": f"https://orcid.org/{ORCID}",
            "nameIdentifierScheme": "ORCID",
            "schemeUri": "https://orcid.org",
        }
    ]
    assert ada["affiliation"] == [
        {
            "name": "DESY",
            "affiliationIdentifier": "https://ror.org/01js2sh04",
            "affiliationIdentifierScheme": "ROR",
            "schemeUri": "https://ror.org/",
        }
    ]
    assert grace == {"name": "Grace Hopper", "nameType": "Personal"}
    assert attrs["publisher"]["publisherIdentifier"] == "https://ror.org/01js2sh04"
    assert attrs["publisher"]["publisherIdentifierScheme"] == "ROR"
    assert attrs["publicationYear"] == "2026"
    assert attrs["types"] == {
        "resourceTypeGeneral": "Workflow",
        "resourceType": "Process Run Crate",
    }
    assert attrs["subjects"] == [{"subject": "powder diffraction"}, {"subject": "pyFAI"}]
    assert attrs["rightsList"] == [
        {
            "rights": "MIT",
            "rightsUri": "https://spdx.org/licenses/MIT.html",
            "rightsIdentifier": "MIT",
            "rightsIdentifierScheme": "SPDX",
            "schemeUri": "https://spdx.org/licenses/",
        }
    ]
    assert attrs["version"] == "1.2.0"
    assert attrs["sizes"] == ["48213 bytes"]
    assert attrs["dates"] == [{"date": "2026-03-14", "dateType": "Created"}]
    assert attrs["fundingReferences"] == [
        {
            "funderName": "Bundesministerium für Bildung und Forschung",
            "funderIdentifier": "https://ror.org/04pz7b180",
            "funderIdentifierType": "ROR",
            "awardNumber": "05K22CB1",
        }
    ]


def test_descriptions_name_the_pinned_refs_and_the_rerun() -> None:
    info = sample_info()
    attrs = build_attributes(info)
    assert description(attrs, "Abstract") == info.description
    tech = description(attrs, "TechnicalInfo")
    assert str(info.crate_ref) in tech and str(info.image_ref) in tech
    assert f"preserve rerun {info.doi}" in tech
    assert info.source_commit is not None and info.source_commit in tech
    assert description(attrs, "Other") == NOT_RESOLVABLE
    real = build_attributes(sample_info(prefix="10.82247"))
    assert "Other" not in [d["descriptionType"] for d in real["descriptions"]]


def test_related_identifiers_pin_crate_image_inputs_and_source() -> None:
    info = sample_info()
    attrs = build_attributes(info)
    # No registry *manifest* URL (a plain GET of it fails without an OCI Accept header):
    # the crate's metadata and the image's configuration are blobs, which any GET fetches.
    assert related(attrs, "IsIdenticalTo") == []
    assert not any("/manifests/" in r["relatedIdentifier"] for r in attrs["relatedIdentifiers"])
    [crate] = related(attrs, "HasMetadata")
    assert crate == {
        "relatedIdentifier": "https://registry.example.org/v2/lab/integrate-crate/blobs/"
        + METADATA_DIGEST,
        "relatedIdentifierType": "URL",
        "relationType": "HasMetadata",
        "relatedMetadataScheme": "RO-Crate",
        "schemeUri": "https://w3id.org/ro/crate/1.1",
    }
    [image] = related(attrs, "Requires")
    assert image["relatedIdentifier"] == (
        f"https://registry.example.org/v2/lab/integrate/blobs/{IMAGE_ID}"
    )
    assert (image["relatedIdentifierType"], image["resourceTypeGeneral"]) == ("URL", "Software")
    derived = {r["relatedIdentifier"]: r for r in related(attrs, "IsDerivedFrom")}
    frames = derived["https://dcache.example.org/pnfs/lab/run42/frames.h5"]  # GET on the door
    assert (frames["relatedIdentifierType"], frames["resourceTypeGeneral"]) == ("URL", "Dataset")
    assert derived["10.5281/zenodo.1"]["relatedIdentifierType"] == "DOI"  # DOI wins over URL
    source = derived[f"https://github.com/example-lab/integrate/tree/{info.source_commit}"]
    assert source["resourceTypeGeneral"] == "Software"
    [paper] = related(attrs, "IsSupplementTo")
    assert paper["relatedIdentifier"] == "10.1107/S1600576715004306"
    assert (paper["relatedIdentifierType"], paper["resourceTypeGeneral"]) == (
        "DOI",
        "JournalArticle",
    )
    [cited] = related(attrs, "Cites")
    assert "resourceTypeGeneral" not in cited and cited["relatedIdentifierType"] == "DOI"
    assert attrs["alternateIdentifiers"] == [
        {"alternateIdentifier": str(info.crate_ref), "alternateIdentifierType": "OCI"}
    ]


def test_valid_for_the_datacite_package_schema() -> None:
    for info in (sample_info(), sample_info(prefix="10.82247"), local_info(Path("/srv/store"))):
        attrs = build_attributes(info)
        assert schema45.validate(attrs)
        validate_attributes(attrs)


def minimal_info() -> Any:
    return sample_info(
        description=None,
        version=None,
        license=None,
        keywords=[],
        creators=[Person("Ada Lovelace")],
        publisher_ror=None,
        created=None,
        crate_size=None,
        formats=[],
        inputs=[],
        source_url=None,
        source_commit=None,
        supplement_to=[],
        cites=[],
        funding=[],
        sandbox=False,
    )


@pytest.mark.parametrize("kernel", ["kernel-4.5", "kernel-4.6"])
@pytest.mark.parametrize("variant", ["full", "minimal", "local"])
def test_xml_validates_against_datacite_xsd(kernel: str, variant: str, tmp_path: Path) -> None:
    info = {"full": sample_info(), "minimal": minimal_info(), "local": local_info(tmp_path)}[
        variant
    ]
    xml = to_xml(build_attributes(info))
    schema = etree.XMLSchema(etree.parse(str(XSD_DIR / kernel / "metadata.xsd")))
    doc = etree.fromstring(xml.encode())
    assert schema.validate(doc), schema.error_log
    ns = {"d": "http://datacite.org/schema/kernel-4"}
    assert doc.findtext("d:identifier", namespaces=ns) == info.doi
    rtype = doc.find("d:resourceType", ns)
    assert rtype is not None and rtype.get("resourceTypeGeneral") == "Workflow"


def field_error(attrs: dict[str, Any]) -> str:
    with pytest.raises(MetadataError) as exc:
        validate_attributes(attrs)
    return exc.value.message


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"creators": [Person("Ada Lovelace", orcid="0000-0002-1825-0098")]},
            "creators[0].nameIdentifiers[0].nameIdentifier",
        ),
        ({"creators": [Person("Ada Lovelace", orcid="1825-0097")]}, "creators[0].nameIdentifiers"),
        ({"title": ""}, "titles[0].title"),
        ({"title": "   "}, "titles[0].title"),
        ({"publication_year": 99}, "publicationYear"),
        ({"publication_year": 20260}, "publicationYear"),
        ({"creators": []}, "creators"),
        ({"creators": [Person("")]}, "creators[0].name"),
        ({"publisher_name": ""}, "publisher.name"),
        ({"publisher_ror": "https://ror.org/not-a-ror"}, "publisher.publisherIdentifier"),
        ({"created": "14.03.2026"}, "dates[0].date"),
        ({"cites": ["not-a-doi"]}, "relatedIdentifiers[6].relatedIdentifier"),
        ({"license": "MIT License"}, "rightsList[0].rightsIdentifier"),
        ({"doi": "doi-less"}, "doi"),
    ],
)
def test_invalid_metadata_names_the_field(change: dict[str, Any], field: str) -> None:
    message = field_error(build_attributes(sample_info(**change)))
    assert field in message, message


def test_schema_errors_name_nested_paths() -> None:
    attrs = build_attributes(sample_info())
    attrs["types"] = {"resourceTypeGeneral": "Analysis"}
    attrs["relatedIdentifiers"][1]["relationType"] = "IsSameAs"
    message = field_error(attrs)
    assert "types.resourceTypeGeneral: 'Analysis' is not one of" in message
    assert "relatedIdentifiers[1]" in message
    assert message.startswith("DOI metadata is not valid DataCite Metadata Schema 4.5 (2 problems)")


def test_orcid_checksum() -> None:
    assert orcid_checksum_ok("0000-0002-1825-0097")
    assert orcid_checksum_ok("0000-0002-1694-233X")
    assert not orcid_checksum_ok("0000-0002-1694-2330")


@pytest.mark.parametrize(
    ("ref", "url"),
    [
        (
            f"registry.example.org/lab/crate@{CRATE_DIGEST}",
            f"https://registry.example.org/v2/lab/crate/manifests/{CRATE_DIGEST}",
        ),
        (
            f"registry.example.org:8443/a/b/c@{CRATE_DIGEST}",
            f"https://registry.example.org:8443/v2/a/b/c/manifests/{CRATE_DIGEST}",
        ),
        (
            f"127.0.0.1:5000/lab/crate@{CRATE_DIGEST}",
            f"http://127.0.0.1:5000/v2/lab/crate/manifests/{CRATE_DIGEST}",
        ),
        (
            f"localhost:5000/lab/crate@{CRATE_DIGEST}",
            f"http://localhost:5000/v2/lab/crate/manifests/{CRATE_DIGEST}",
        ),
        (
            f"[::1]:5000/lab/crate@{CRATE_DIGEST}",
            f"http://[::1]:5000/v2/lab/crate/manifests/{CRATE_DIGEST}",
        ),
        (
            f"local:lab/crate@{CRATE_DIGEST}",
            f"file:///srv/preserve/oci-layout/index.json#lab/crate@{CRATE_DIGEST}",
        ),
    ],
)
def test_oci_ref_url_both_ways(ref: str, url: str) -> None:
    parsed = OciRef.parse(ref)
    assert oci_ref_to_url(parsed, Path("/srv/preserve/oci-layout")) == url
    assert oci_ref_from_url(url) == parsed


def test_oci_ref_url_refusals() -> None:
    with pytest.raises(InvalidReference, match="not pinned"):
        oci_ref_to_url(OciRef.parse("registry.example.org/lab/crate:1.0"))
    with pytest.raises(InvalidReference, match="store directory"):
        oci_ref_to_url(OciRef.parse(f"local:lab/crate@{CRATE_DIGEST}"))
    for bad in (
        "https://example.org/lab/crate",
        f"https://r.example.org/v2/lab/crate/manifests/sha256:{'0' * 10}",
        "file:///srv/store/blobs/sha256/x",
        "ftp://r.example.org/v2/a/manifests/" + CRATE_DIGEST,
    ):
        with pytest.raises(InvalidReference):
            oci_ref_from_url(bad)


def test_pinned_refs_read_back(tmp_path: Path) -> None:
    for info in (sample_info(), local_info(tmp_path)):
        attrs = build_attributes(info)
        assert pinned_refs(attrs) == (info.crate_ref, info.image_ref)
        del attrs["alternateIdentifiers"]  # the technical description alone is enough
        assert pinned_refs(attrs) == (info.crate_ref, info.image_ref)
        old = {  # records written before the blob URLs: manifest URLs
            "relatedIdentifiers": [
                {"relationType": "IsIdenticalTo", "relatedIdentifier": oci_ref_to_url(r, tmp_path)}
                if i == 0
                else {"relationType": "Requires", "relatedIdentifier": oci_ref_to_url(r, tmp_path)}
                for i, r in enumerate((info.crate_ref, info.image_ref))
            ]
        }
        assert pinned_refs(old) == (info.crate_ref, info.image_ref)
    assert pinned_refs({"relatedIdentifiers": [{"relationType": "Requires"}]}) == (None, None)


def test_suffix_is_deterministic_and_opaque() -> None:
    suffix = suffix_for(CRATE_DIGEST)
    assert re.fullmatch(r"preserve\.[0-9abcdefghjkmnpqrstvwxyz]{10}", suffix)
    assert suffix == suffix_for(CRATE_DIGEST)
    assert suffix != suffix_for(IMAGE_DIGEST)
    assert CRATE_DIGEST[7:17] not in suffix
    # 10 characters carry 50 bits: distinct for digests that differ early on
    many = {suffix_for("sha256:" + f"{i:04x}" + "0" * 60) for i in range(4096)}
    assert len(many) == 4096
    with pytest.raises(InvalidReference):
        suffix_for("sha256:xyz")


def test_duplicate_inputs_are_listed_once() -> None:
    twice = [InputData("a", "https://d.example.org/a"), InputData("a2", "https://d.example.org/a")]
    attrs = build_attributes(sample_info(inputs=twice))
    assert len(related(attrs, "IsDerivedFrom")) == 2  # one input + the source repository
    validate_attributes(attrs)
    assert replace(sample_info(), inputs=[]).inputs == []
