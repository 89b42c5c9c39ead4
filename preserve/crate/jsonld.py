"""A :class:`CrateRecord` as an RO-Crate 1.1 JSON-LD graph (Process Run Crate 0.5).

The graph is written by hand rather than through ro-crate-py: it must be
deterministic (a crate's bytes feed its OCI digest), stream-friendly for
folders of 100,000 detector frames, and exactly shaped for the profile
(ContainerImage with an IRI ``additionalType``, ISO 8601 times with offsets).
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from preserve.crate.model import (
    ANALYSIS_DIR,
    OUTPUTS_DIR,
    CrateRecord,
    FileRecord,
    InputRecord,
)
from preserve.manifest import Author
from preserve.shim.jsonld import (
    DOCKER_IMAGE,
    PROCESS_PROFILE,
    add_checksums,
    document,
    environment,
    file_entity,
    head,
    iso,
    one_or_many,
    ref,
    resource_usage,
    slug,
)
from preserve.source import source_link, web_url

IMAGE_ID = "#container-image"
SOFTWARE_ID = "#analysis-code"  # the analysis code, until it has a web address
_ref, _slug = ref, slug


def _person_id(author: Author) -> str:
    return f"https://orcid.org/{author.orcid}" if author.orcid else f"#person-{_slug(author.name)}"


def _people(record: CrateRecord) -> list[dict[str, Any]]:
    entities: dict[str, dict[str, Any]] = {}
    for author in record.manifest.authors:
        person: dict[str, Any] = {"@id": _person_id(author), "@type": "Person", "name": author.name}
        if author.given_name:
            person["givenName"] = author.given_name
        if author.family_name:
            person["familyName"] = author.family_name
        if author.affiliation:
            aff = author.affiliation
            org_id = aff.ror or f"#org-{_slug(aff.name)}"
            person["affiliation"] = _ref(org_id)
            org: dict[str, Any] = {"@id": org_id, "@type": "Organization", "name": aff.name}
            if aff.ror:
                org["url"] = aff.ror
            entities.setdefault(org_id, org)
        entities[person["@id"]] = person
    return list(entities.values())


def record_entity(f: FileRecord, **extra: Any) -> dict[str, Any]:
    return file_entity(f.id, f.size, f.sha256, f.encoding_format, f.name, f.description, **extra)


def _input(inp: InputRecord, extra: list[dict[str, Any]]) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "@id": inp.id,
        "@type": "Dataset" if inp.is_dir else "File",
        "name": inp.name,
        "contentSize": str(inp.size),
        "description": inp.description
        or f"Input '{inp.name}', mounted read-only at {inp.mount} during the run.",
    }
    if inp.encoding_format:
        entity["encodingFormat"] = inp.encoding_format
    if inp.sha256:
        entity["sha256"] = inp.sha256
    if inp.sd_date_published:
        entity["sdDatePublished"] = inp.sd_date_published
    if inp.doi:
        entity["identifier"] = f"https://doi.org/{inp.doi}"
    add_checksums(entity, inp.name, inp.checksums, extra)
    if inp.checksum_manifest:
        entity["subjectOf"] = _ref(inp.checksum_manifest)
    return entity


def instrument_id(record: CrateRecord) -> str:
    """An absolute URI for the analysis code when one is known, else a local id.

    Publishing gives a local id an address under the DOI (``crate/update.py``).
    """
    if record.instrument_id:
        return record.instrument_id
    link = source_link(record.source.remote, record.source.commit)
    return link or record.manifest.url or SOFTWARE_ID


def _code_entities(record: CrateRecord, local_inputs: set[str]) -> list[dict[str, Any]]:
    """The analysis folder (a data entity) and the software it realises (the instrument).

    Two entities even when the code has no web address, so that readers such as
    ro-crate-py see the folder as a plain Dataset and every file in it as a data entity.
    """
    m = record.manifest
    parts = [_ref(f.id) for f in record.analysis_files]
    if record.config:
        parts.append(_ref(record.config.file.id))
    parts += [_ref(i) for i in sorted(local_inputs)]
    folder: dict[str, Any] = {
        "@id": f"{ANALYSIS_DIR}/",
        "@type": "Dataset",
        "name": f"{m.name} (analysis directory)",
        "description": f"The analysis code, environment files and local inputs of '{m.title}'.",
        "hasPart": one_or_many(parts),
    }
    software: dict[str, Any] = {
        "@id": instrument_id(record),
        "@type": "SoftwareSourceCode",
        "name": m.name,
        "description": m.description or m.title,
        "version": m.version or (record.source.commit or "unversioned")[:12],
    }
    url = source_link(record.source.remote, record.source.commit) or m.url
    if url:
        software["url"] = url
    repository = web_url(record.source.remote) or m.url
    if repository:
        software["codeRepository"] = repository
    if m.license:
        software["license"] = _ref(_license_id(m.license))
    extra: list[dict[str, Any]] = []
    if record.source.commit:
        extra = [
            {
                "@id": "#git-commit",
                "@type": "PropertyValue",
                "name": "git commit",
                "propertyID": "git-commit",
                "value": record.source.commit,
            },
            {
                "@id": "#git-dirty",
                "@type": "PropertyValue",
                "name": "uncommitted changes",
                "propertyID": "git-dirty",
                "value": str(record.source.dirty).lower(),
            },
        ]
        software["additionalProperty"] = [_ref(e["@id"]) for e in extra]
    software["workExample"] = _ref(folder["@id"])
    folder["exampleOfWork"] = _ref(software["@id"])
    return [folder, software, *extra]


def _publisher(record: CrateRecord) -> list[dict[str, Any]]:
    pub = record.publisher
    if pub is None:
        return []
    entity: dict[str, Any] = {
        "@id": pub.ror or f"#org-{_slug(pub.name)}",
        "@type": "Organization",
        "name": pub.name,
    }
    if pub.ror:
        entity["url"] = pub.ror
    return [entity]


def _container(record: CrateRecord) -> dict[str, Any]:
    image = record.image
    container: dict[str, Any] = {
        "@id": IMAGE_ID,
        "@type": "ContainerImage",
        "additionalType": _ref(DOCKER_IMAGE),
        "name": image.name,
        "registry": image.registry,
        "identifier": image.image_id,
        "description": _image_description(record),
    }
    if image.tag:
        container["tag"] = image.tag
    if image.digest:
        container["sha256"] = image.digest.removeprefix("sha256:")
    return container


def _environment(record: CrateRecord) -> list[dict[str, Any]]:
    return environment((e.name, e.value, e.withheld) for e in record.env)


def _action(
    record: CrateRecord,
    inputs: list[dict[str, Any]],
    env: list[dict[str, Any]],
    usage: list[dict[str, Any]],
) -> dict[str, Any]:
    m, run = record.manifest, record.run
    objects = [_ref(i["@id"]) for i in inputs]
    if record.config:
        objects.append(_ref(record.config.file.id))
    action: dict[str, Any] = {
        "@id": run.id,
        "@type": "CreateAction",
        "name": f"Run of {m.name}" + (f" {m.version}" if m.version else ""),
        "description": f"Command: {shlex.join(run.command)}",
        "instrument": _ref(instrument_id(record)),
        "startTime": iso(run.start),
        "endTime": iso(run.end),
        # The profile's validator expects the status IRI as a plain string.
        "actionStatus": run.status,
        "containerImage": _ref(IMAGE_ID),
    }
    if objects:
        action["object"] = one_or_many(objects)
    if record.outputs:
        action["result"] = one_or_many([_ref(o.id) for o in record.outputs])
    if record.manifest.authors:
        action["agent"] = _ref(_person_id(record.manifest.authors[0]))
    if env:
        action["environment"] = one_or_many([_ref(e["@id"]) for e in env])
    if usage:
        action["resourceUsage"] = one_or_many([_ref(u["@id"]) for u in usage])
    if run.error:
        action["error"] = run.error
    return action


def _verdicts(record: CrateRecord, outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    entities = []
    by_id = {o["@id"]: o for o in outputs}
    for v in record.verdicts:
        vid = f"#verdict-{_slug(v.path)}"
        entities.append(
            {
                "@id": vid,
                "@type": "PropertyValue",
                "name": f"reproduction verdict for {v.path}",
                "propertyID": "reproduction-verdict",
                "value": v.verdict,
                "description": v.summary,
            }
        )
        output = by_id.get(f"{OUTPUTS_DIR}/{v.path}")
        if output is not None:
            output["additionalProperty"] = _ref(vid)
    return entities


def _root(record: CrateRecord, parts: list[str]) -> dict[str, Any]:
    m = record.manifest
    root: dict[str, Any] = {
        "@id": "./",
        "@type": "Dataset",
        "name": m.title,
        "description": m.description or m.title,
        "datePublished": record.date_published,
        "conformsTo": _ref(PROCESS_PROFILE),
        "hasPart": [_ref(p) for p in parts],
        "mentions": _ref(record.run.id),
    }
    if m.license:
        root["license"] = _ref(_license_id(m.license))
    if m.authors:
        root["author"] = one_or_many([_ref(_person_id(a)) for a in m.authors])
    if record.publisher:
        root["publisher"] = _ref(record.publisher.ror or f"#org-{_slug(record.publisher.name)}")
    if m.keywords:
        root["keywords"] = ", ".join(m.keywords)
    if m.version:
        root["version"] = m.version
    if record.doi:
        root["identifier"] = f"https://doi.org/{record.doi}"
        root["cite-as"] = f"https://doi.org/{record.doi}"
    if record.based_on:
        root["isBasedOn"] = _ref(record.based_on)
    grants, funders = _funding_refs(record)
    if grants:
        root["funding"] = one_or_many(grants)
        root["funder"] = one_or_many(funders)
    # The DataCite relations, in schema.org terms: an article describing this run
    # (it is a supplement to it) is the root's subjectOf; works it cites, citation.
    if m.supplement_to:
        root["subjectOf"] = one_or_many([_ref(_doi_url(d)) for d in m.supplement_to])
    if m.cites:
        root["citation"] = one_or_many([_ref(_doi_url(d)) for d in m.cites])
    return root


def _doi_url(doi: str) -> str:
    bare = re.sub(r"^(?:doi:|https?://(?:dx\.)?doi\.org/)", "", doi.strip(), flags=re.I)
    return f"https://doi.org/{bare}"


def _funding_refs(record: CrateRecord) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    grants = [_ref(f"#funding-{i}") for i, _ in enumerate(record.manifest.funding, 1)]
    funders = [_ref(f.funder_ror or f"#org-{_slug(f.funder)}") for f in record.manifest.funding]
    return grants, funders


def _funding(record: CrateRecord) -> list[dict[str, Any]]:
    """A schema.org Grant per funding entry, each naming its funder Organization."""
    out: list[dict[str, Any]] = []
    for i, f in enumerate(record.manifest.funding, 1):
        org_id = f.funder_ror or f"#org-{_slug(f.funder)}"
        grant: dict[str, Any] = {
            "@id": f"#funding-{i}",
            "@type": "Grant",
            "name": f"{f.funder} {f.award}" if f.award else f.funder,
            "funder": _ref(org_id),
        }
        if f.award:
            grant["identifier"] = f.award
        org: dict[str, Any] = {"@id": org_id, "@type": "Organization", "name": f.funder}
        if f.funder_ror:
            org["url"] = f.funder_ror
        out += [grant, org]
    return out


def _related(record: CrateRecord) -> list[dict[str, Any]]:
    m = record.manifest
    articles = [
        {"@id": _doi_url(d), "@type": "ScholarlyArticle", "name": f"Article {d}"}
        for d in m.supplement_to
    ]
    cited = [
        {"@id": _doi_url(d), "@type": "CreativeWork", "name": f"Cited work {d}"} for d in m.cites
    ]
    return articles + cited


def build_graph(record: CrateRecord) -> dict[str, Any]:
    """The complete ``ro-crate-metadata.json`` document."""
    m = record.manifest
    extra: list[dict[str, Any]] = []
    inputs = [_input(i, extra) for i in record.inputs]
    local_inputs = {i.id for i in record.inputs if not i.remote}
    env = _environment(record)
    usage = _resource_usage(record)
    outputs = [record_entity(o) for o in record.outputs]
    verdicts = _verdicts(record, outputs)
    extras = [record_entity(f, about=_ref(_about(f, record.run.id))) for f in record.extra_files]
    files = [record_entity(f) for f in record.analysis_files]
    if record.config:
        files.append(record_entity(record.config.file))
    root = _root(
        record,
        [f"{ANALYSIS_DIR}/"]
        + [i["@id"] for i in inputs if i["@id"] not in local_inputs]
        + [o["@id"] for o in outputs]
        + [e["@id"] for e in extras],
    )
    graph: list[dict[str, Any]] = [
        *head(root),
        *_code_entities(record, local_inputs),
        *files,
        *inputs,
        *outputs,
        *extras,
        _action(record, inputs, env, usage),
        _container(record),
        *env,
        *usage,
        *verdicts,
        *_people(record),
        *_publisher(record),
        *_funding(record),
        *_related(record),
        *extra,
    ]
    if record.based_on:
        graph.append(
            {
                "@id": record.based_on,
                "@type": "CreativeWork",
                "name": "The preserved run this run reproduces",
            }
        )
    if m.license:
        graph.append(
            {
                "@id": _license_id(m.license),
                "@type": "CreativeWork",
                "name": m.license,
                "identifier": m.license,
            }
        )
    return document(graph)


def _license_id(spdx: str) -> str:
    return f"https://spdx.org/licenses/{spdx}"


def _about(f: FileRecord, run_id: str) -> str:
    if f.id.startswith("environment/"):
        return IMAGE_ID
    if f.id.startswith("checksums/"):
        return "./"
    return run_id


def _image_description(record: CrateRecord) -> str:
    image = record.image
    how = (  # a builder that reports a version built the image; otherwise it was named
        f"Built by {image.builder} {image.builder_version}"
        + (f" ({image.buildpack})" if image.buildpack else "")
        + " from analysis/"
        if image.builder_version
        else "Prebuilt image named in preserve.yaml"
    )
    pin = (
        f"; sha256 is the image manifest digest in {image.registry}"
        if image.digest
        else "; not pushed yet: identifier is the local image ID (config digest)"
    )
    return how + pin + "."


def _resource_usage(record: CrateRecord) -> list[dict[str, Any]]:
    run = record.run
    return resource_usage(
        (run.end - run.start).total_seconds(),
        run.peak_memory,
        run.cpu_seconds,
        memory_note="High-water mark of the container's memory cgroup.",
        cpu_note="User and system CPU time of the container, sampled every 50 ms.",
    )
