"""The pieces of Process Run Crate JSON-LD that every crate preserve writes shares.

Used by the capture/rerun writer (``preserve/crate/jsonld.py``) and by the shim's
invocation crates (``preserve/shim/crate.py``), so that files, checksums, the
environment and resource usage are described one way. Stdlib only, Python >= 3.8.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

RO_CRATE = "https://w3id.org/ro/crate/1.1"
PROCESS_PROFILE = "https://w3id.org/ro/wfrun/process/0.5"
WFRUN = "https://w3id.org/ro/terms/workflow-run#"
DOCKER_IMAGE = f"{WFRUN}DockerImage"
WITHHELD = "<withheld by preserve>"
# The workflow-run terms are spelled out inline with their published IRIs rather
# than by referencing https://w3id.org/ro/terms/workflow-run/context: that context
# itself includes the RO-Crate 1.1 context, which JSON-LD processors such as pyld
# (used by the community validator) reject as a recursive inclusion, and older
# copies of it lack ContainerImage & co.
CONTEXT: list[Any] = [
    f"{RO_CRATE}/context",
    {
        term: f"{WFRUN}{term}"
        for term in (
            "ContainerImage",
            "DockerImage",
            "containerImage",
            "registry",
            "tag",
            "environment",
            "resourceUsage",
            "sha256",
            "md5",
            "sha1",
            "sha512",
        )
    },
]


def iso(moment: datetime) -> str:
    """ISO 8601 with milliseconds and a numeric offset, the form the profile checks for."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def ref(entity_id: str) -> dict[str, str]:
    return {"@id": entity_id}


def one_or_many(refs: list[Any]) -> Any:
    """RO-Crate 1.1 prefers a single value over a one-element list."""
    return refs[0] if len(refs) == 1 else refs


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def file_entity(
    entity_id: str,
    size: int,
    sha256: str,
    media_type: str,
    name: str | None = None,
    description: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "@id": entity_id,
        "@type": "File",
        "name": name or entity_id.rstrip("/").rsplit("/", 1)[-1],
        "contentSize": str(size),
        "encodingFormat": media_type,
        "sha256": sha256,
    }
    if description:
        entity["description"] = description
    entity.update(extra)
    return entity


def add_checksums(
    entity: dict[str, Any],
    name: str,
    checksums: Mapping[str, str],
    extra: list[dict[str, Any]],
) -> None:
    """The storage's checksums beside ``sha256``: md5/sha1/sha512 as properties, the
    others (adler32) as PropertyValues appended to ``extra``."""
    props = []
    for algorithm, value in sorted(checksums.items()):
        if algorithm in ("md5", "sha1", "sha512"):
            entity[algorithm] = value
        elif algorithm != "sha256":
            pv_id = f"#{slug(name)}-{algorithm}"
            props.append(ref(pv_id))
            extra.append(
                {
                    "@id": pv_id,
                    "@type": "PropertyValue",
                    "name": f"{algorithm} checksum reported by the storage",
                    "propertyID": algorithm,
                    "value": value,
                }
            )
    if props:
        entity["additionalProperty"] = one_or_many(props)


def environment(variables: Iterable[tuple[str, str | None, bool]]) -> list[dict[str, Any]]:
    """``(name, value, withheld)`` as PropertyValues; a withheld value is never written."""
    out = []
    for name, value, withheld in variables:
        entity: dict[str, Any] = {
            "@id": f"#env-{name}",
            "@type": "PropertyValue",
            "name": name,
            "value": value or "",
        }
        if withheld:
            entity["value"] = WITHHELD
            entity["description"] = "Value withheld: it looks like a credential."
        elif value is None:
            entity["description"] = "Not set when the analysis ran."
        out.append(entity)
    return out


def resource_usage(
    wall_seconds: float,
    peak_memory: int | None,
    cpu_seconds: float | None,
    *,
    memory_note: str,
    cpu_note: str,
) -> list[dict[str, Any]]:
    out = []
    if peak_memory is not None:
        out.append(
            {
                "@id": "#usage-peak-memory",
                "@type": "PropertyValue",
                "name": "peak memory",
                "propertyID": "peak-memory",
                "value": str(peak_memory),
                "unitCode": "http://qudt.org/vocab/unit/BYTE",
                "description": memory_note,
            }
        )
    if cpu_seconds is not None:
        out.append(
            {
                "@id": "#usage-cpu-time",
                "@type": "PropertyValue",
                "name": "CPU time",
                "propertyID": "cpu-time",
                "value": f"{cpu_seconds:.3f}",
                "unitCode": "http://qudt.org/vocab/unit/SEC",
                "description": cpu_note,
            }
        )
    out.append(
        {
            "@id": "#usage-wall-time",
            "@type": "PropertyValue",
            "name": "wall-clock time",
            "propertyID": "wall-time",
            "value": f"{wall_seconds:.3f}",
            "unitCode": "http://qudt.org/vocab/unit/SEC",
        }
    )
    return out


def head(root: dict[str, Any], metadata: str = "ro-crate-metadata.json") -> list[dict[str, Any]]:
    """The metadata descriptor, the root and the profile: how every crate's graph begins."""
    return [
        {"@id": metadata, "@type": "CreativeWork", "conformsTo": ref(RO_CRATE), "about": ref("./")},
        root,
        {
            "@id": PROCESS_PROFILE,
            "@type": "CreativeWork",
            "name": "Process Run Crate",
            "version": "0.5",
        },
    ]


def document(graph: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The JSON-LD document: one entity per ``@id`` (the first wins), in order."""
    seen: dict[str, dict[str, Any]] = {}
    for entity in graph:
        seen.setdefault(entity["@id"], entity)
    return {"@context": CONTEXT, "@graph": list(seen.values())}
