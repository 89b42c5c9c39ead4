"""The crate reader: write -> read -> compare, hostile documents, crate paths kept inside."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from preserve.crate.io import read_run_spec
from preserve.crate.plan import read_plan
from preserve.crate.read import confined_path, load_json, read_crate, view_of
from preserve.errors import CrateError, IntegrityError
from tests.crate.records import COMMIT, DESY, IMAGE_ID, write_sample


def test_write_read_compare(tmp_path: Path) -> None:
    record = write_sample(tmp_path / "crate")
    view = read_crate(tmp_path / "crate")
    m = record.manifest
    root = view.root
    assert (root.name, root.description, root.version) == (m.title, m.description, m.version)
    assert root.date_published == record.date_published
    assert root.keywords == m.keywords
    assert (root.license, root.license_name) == ("https://spdx.org/licenses/MIT", "MIT")
    assert [(a.name, a.orcid, a.given_name, a.family_name) for a in root.authors] == [
        ("Ada Lovelace", "0000-0002-1825-0097", "Ada", "Lovelace"),
        ("Grace Hopper", None, None, None),
    ]
    assert root.authors[0].affiliation is not None and root.authors[0].affiliation.ror == DESY
    assert root.publisher is not None and (root.publisher.name, root.publisher.ror) == (
        "DESY",
        DESY,
    )
    assert root.funding == m.funding
    assert (root.supplement_to, root.cites) == (m.supplement_to, m.cites)
    assert "https://w3id.org/ro/wfrun/process/0.5" in root.conforms_to

    assert view.action is not None and view.action.id == record.run.id
    assert view.action.status == "http://schema.org/CompletedActionStatus"
    assert view.action.start == "2026-03-14T10:00:00.000+00:00"
    software = view.instrument
    assert software is not None
    # A local remote is no address; the manifest's url is, but never with a commit path.
    assert software.id == software.url == m.url
    assert (software.version, software.code_repository) == (m.version, m.url)
    assert (view.source.commit, view.source.dirty) == (COMMIT, True)

    frames, mask, scan, config = view.inputs
    assert frames.remote and (frames.size, frames.sha256) == (756641, "e2" * 32)
    assert frames.checksums == {"md5": "ab" * 16, "adler32": "0a0b0c0d"}
    assert frames.doi == "10.5281/zenodo.1"
    assert frames.sd_date_published == "2026-03-14T09:59:00.000+00:00"
    assert not mask.remote and mask.id == "analysis/data/mask.h5" and not mask.is_dir
    assert scan.is_dir and scan.checksum_manifest == "checksums/scan.sha256"
    assert config.id == "analysis/config.json"
    [out] = view.outputs
    assert (out.id, out.size, out.encoding_format) == ("outputs/profile.csv", 8, "text/csv")
    assert out.sha256 == record.outputs[0].sha256

    image = view.image
    assert image is not None and image.image_id == IMAGE_ID and image.ref is None
    assert (image.registry, image.name, image.tag) == ("localhost", "preserve-azint", "abc123")
    assert [(e.name, e.value, e.withheld) for e in view.environment] == [
        ("OMP_NUM_THREADS", "4", False),
        ("API_TOKEN", None, True),
        ("UNSET", None, False),
    ]
    assert {u.property_id for u in view.usage} == {"peak-memory", "cpu-time", "wall-time"}
    assert view.doi is None
    # Every file written is a data entity, the recipe included.
    ids = {f.id for f in view.files}
    assert {"preserve-run.json", "analysis/run.py", "analysis/config.json"} <= ids


def test_the_recipe_is_derived_from_the_same_record_and_pinned(tmp_path: Path) -> None:
    record = write_sample(tmp_path / "crate")
    view = read_crate(tmp_path / "crate")
    spec = read_run_spec(view)
    assert spec is not None and spec["action"] == record.run.id
    assert spec["tolerance"] == {"rtol": 0.0, "atol": 1e-6}
    plan = read_plan(tmp_path / "crate")
    # The analysis as the crate describes it; the crate has no preserve.yaml to read.
    assert not (tmp_path / "crate" / "analysis" / "preserve.yaml").exists()
    m, described = record.manifest, plan.manifest
    for key in ("name", "title", "command", "outputs", "version", "license", "url", "keywords"):
        assert getattr(described, key) == getattr(m, key), key
    for key in ("workdir", "memory", "cpus", "timeout", "rtol", "atol", "funding", "cites"):
        assert getattr(described, key) == getattr(m, key), key
    assert described.authors == m.authors
    assert [i.name for i in plan.inputs] == ["frames", "mask", "scan"]
    assert plan.inputs[1].path == (tmp_path / "crate" / "analysis/data/mask.h5").resolve()

    spec_path = tmp_path / "crate" / "preserve-run.json"
    spec_path.write_text(spec_path.read_text().replace('"network": false', '"network": true'))
    with pytest.raises(IntegrityError, match="does not match the sha256"):
        read_plan(tmp_path / "crate")


def metadata(crate: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((crate / "ro-crate-metadata.json").read_text())
    return data


def entity(doc: dict[str, Any], eid: str) -> dict[str, Any]:
    found: dict[str, Any] = next(e for e in doc["@graph"] if e["@id"] == eid)
    return found


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "is a JSON list, not an object"),
        ('"crate"', "is a JSON string"),
        ("{", "is not valid UTF-8 JSON"),
        ('{"@graph": {}}', "has no @graph list"),
        ('{"@graph": [3]}', "@graph[0] is a number, not an entity"),
        ('{"@graph": [{"@type": "File"}]}', "@graph[0] has no string @id"),
        ('{"@graph": [{"@id": "a", "@type": "File"}, {"@id": "a", "@type": "File"}]}', "two"),
        ('{"@graph": [{"@id": "a"}]}', "entity 'a' has no @type"),
        ('{"@graph": [{"@id": "./", "@type": "Dataset"}]}', "not a readable RO-Crate"),
        ("[" * 100_000 + "]" * 100_000, "is not valid UTF-8 JSON"),
    ],
)
def test_malformed_documents_are_crate_errors(tmp_path: Path, text: str, message: str) -> None:
    crate = tmp_path / "crate"
    crate.mkdir()
    (crate / "ro-crate-metadata.json").write_text(text)
    with pytest.raises(CrateError, match=r"ro-crate-metadata\.json") as exc:
        read_crate(crate)
    assert message in exc.value.message


def test_not_utf8_and_too_large(tmp_path: Path) -> None:
    crate = tmp_path / "crate"
    crate.mkdir()
    (crate / "ro-crate-metadata.json").write_bytes(b'{"@graph": "\xff"}')
    with pytest.raises(CrateError, match="not valid UTF-8 JSON"):
        read_crate(crate)
    (crate / "big.json").write_text(" " * 2000 + "{}")
    with pytest.raises(CrateError, match="larger than"):
        load_json(crate / "big.json", limit=1000)
    with pytest.raises(CrateError, match=r"no ro-crate-metadata\.json"):
        read_crate(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: entity(d, "#run-1").update(instrument={"@id": "#gone"}), "'#gone', which"),
        (lambda d: entity(d, "#run-1").update(containerImage=[7]), "hold a number"),
        (lambda d: entity(d, "./").update(name={"x": 1}), "name of './' holds a nested object"),
        (lambda d: entity(d, "./").update(name=True), "name of './' should be text"),
        (lambda d: entity(d, "#container-image").update(sha256=["a", "b"]), "should be text"),
        (lambda d: entity(d, "#run-1").update(object={"@id": "analysis/nowhere"}), "nowhere"),
        (lambda d: entity(d, "./").update(hasPart=["analysis/"]), "not a readable RO-Crate"),
        (lambda d: entity(d, "#run-1").update(environment="#env-X"), "'#env-X', which the crate"),
        (lambda d: entity(d, "./").update(author=[3]), "should refer to entities"),
    ],
)
def test_wrong_shapes_and_missing_entities_name_what(
    tmp_path: Path, change: Any, message: str
) -> None:
    crate = tmp_path / "crate"
    write_sample(crate)
    doc = metadata(crate)
    change(doc)
    (crate / "ro-crate-metadata.json").write_text(json.dumps(doc))
    with pytest.raises(CrateError) as exc:
        read_plan(crate)
    assert message in exc.value.message


@pytest.mark.parametrize(
    "eid", ["/etc/passwd", "../outside.txt", "analysis/../../x", "file:///etc/passwd", "a\\b"]
)
def test_crate_paths_outside_are_refused_naming_the_entity(tmp_path: Path, eid: str) -> None:
    with pytest.raises(CrateError) as exc:
        confined_path(tmp_path, eid)
    assert repr(eid) in exc.value.message


def test_symlinks_out_of_the_crate_are_refused(tmp_path: Path) -> None:
    crate = tmp_path / "crate"
    record = write_sample(crate)
    (tmp_path / "secret.h5").write_bytes(b"host file")
    inside = crate / "analysis" / "data" / "mask.h5"
    os.unlink(inside)
    os.symlink(tmp_path / "secret.h5", inside)
    with pytest.raises(CrateError, match=r"'analysis/data/mask\.h5' leads outside the crate"):
        read_plan(crate)
    os.unlink(inside)
    os.symlink("../../analysis/run.py", inside)  # a link that stays inside is followed
    assert confined_path(crate, record.inputs[1].id) == (crate / "analysis/run.py").resolve()


@pytest.mark.parametrize("eid", ["/etc/passwd", "../../../etc/passwd", "analysis/../../x"])
def test_a_recipe_naming_a_path_outside_is_refused(tmp_path: Path, eid: str) -> None:
    crate = tmp_path / "crate"
    write_sample(crate)
    doc = metadata(crate)
    # A consistent forgery: the JSON-LD describes the entity and the recipe names it.
    entity(doc, "analysis/data/mask.h5")["@id"] = eid
    for e in doc["@graph"]:
        for key, value in e.items():
            if value == {"@id": "analysis/data/mask.h5"}:
                e[key] = {"@id": eid}
            elif isinstance(value, list):
                e[key] = [
                    {"@id": eid} if v == {"@id": "analysis/data/mask.h5"} else v for v in value
                ]
    spec = json.loads((crate / "preserve-run.json").read_text())
    spec["inputs"]["mask"]["entity"] = eid
    (crate / "preserve-run.json").write_text(json.dumps(spec))
    entity(doc, "preserve-run.json").pop("sha256")
    (crate / "ro-crate-metadata.json").write_text(json.dumps(doc))
    with pytest.raises(CrateError) as exc:
        read_plan(crate)
    assert repr(eid) in exc.value.message


def test_doi_forms_and_other_tools_identifiers(tmp_path: Path) -> None:
    write_sample(tmp_path / "crate")
    doc = metadata(tmp_path / "crate")
    entity(doc, "./")["identifier"] = "https://doi.org/10.5072/preserve.abc"
    assert view_of(doc).doi == "10.5072/preserve.abc"
    entity(doc, "./")["identifier"] = {"@id": "#pid"}  # RO-Crate 1.2: a PropertyValue
    doc["@graph"].append(
        {
            "@id": "#pid",
            "@type": "PropertyValue",
            "propertyID": "doi",
            "value": "doi:10.5281/zenodo.1",
        }
    )
    assert view_of(doc).doi == "10.5281/zenodo.1"
    entity(doc, "./")["identifier"] = "https://example.org/not-a-doi"
    assert view_of(doc).doi is None
    # Other tools name people and licences by URL without describing them: read as such.
    entity(doc, "./").update(author={"@id": "https://orcid.org/0000-0002-1694-233X"})
    entity(doc, "./").update(license={"@id": "https://spdx.org/licenses/Apache-2.0"})
    root = view_of(doc).root
    assert [(a.name, a.orcid) for a in root.authors] == [
        ("https://orcid.org/0000-0002-1694-233X", "0000-0002-1694-233X")
    ]
    assert (root.license, root.license_name) == ("https://spdx.org/licenses/Apache-2.0", None)
