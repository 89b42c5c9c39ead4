"""One Process Run Crate per invocation, written by the shim (or by the host, for a call
that never reached the shim): the one writer of invocation crates.

The crate is the folder the outputs go to::

    ro-crate-metadata.json   RO-Crate 1.1, Process Run Crate 0.5
    ro-crate-preview.html
    preserve-run.json        the recipe (schemas/run.schema.json): ``preserve rerun`` takes it
    outputs/...              the declared outputs, each with its SHA-256
    logs/stdout.txt, logs/stderr.txt
    analysis/...             the configuration used and the inputs the published crate held

The run is a ``CreateAction`` whose ``instrument`` is the published analysis' code
and whose ``containerImage`` is its image pinned by digest, both carried word for
word from the published crate; the function image (that image plus the shim
layer) is described beside it. New inputs are absolute URIs with their size,
SHA-256 and the checksums the storage reported; the trigger (a CloudEvent, a
storage event) is described when there was one; the root ``isBasedOn`` the
published crate (its DOI). A failed call is ``FailedActionStatus`` with the error.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from preserve.shim.documents import Trigger
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
)

CRATE_METADATA = "ro-crate-metadata.json"
CRATE_PREVIEW = "ro-crate-preview.html"
RUN_SPEC = "preserve-run.json"
OUTDIR = "/preserve/outputs"
COMPLETED = "http://schema.org/CompletedActionStatus"
FAILED = "http://schema.org/FailedActionStatus"
FUNCTION_IMAGE_ID = "#function-image"
TRIGGER_ID = "#trigger"
_ref, _one_or_many = ref, one_or_many


@dataclass(frozen=True)
class FileFact:
    """A file of the crate (relative id) or an input on the web (absolute URI id)."""

    id: str
    size: int
    sha256: str
    media_type: str
    name: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class InputFact:
    name: str
    file: FileFact
    mount: str
    remote: bool
    checksums: dict[str, str] = field(default_factory=dict)  # the storage's, beside sha256
    accessed: str | None = None  # ISO 8601: when a remote input was read


@dataclass(frozen=True)
class Invocation:
    """What one call did, for its crate."""

    invocation_id: str
    key: str | None
    inputs: Sequence[InputFact]
    config: FileFact | None
    outputs: Sequence[FileFact]
    logs: Sequence[FileFact]
    command: Sequence[str]
    start: datetime
    end: datetime
    error: str | None = None
    trigger: Trigger | None = None
    function_image: Mapping[str, Any] = field(default_factory=dict)  # id, digest, reference
    target: str | None = None
    cpu_seconds: float | None = None
    peak_memory: int | None = None

    @property
    def action_id(self) -> str:
        return f"#invocation-{self.invocation_id}"

    @property
    def status(self) -> str:
        return FAILED if self.error else COMPLETED


def now() -> datetime:
    return datetime.now(timezone.utc)


def dumps(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def run_spec(spec: Mapping[str, Any], call: Invocation) -> dict[str, Any]:
    """The recipe ``preserve rerun`` follows (schemas/run.schema.json)."""
    by_name = {i.name: i for i in call.inputs}
    config = spec.get("config")
    return {
        "format": 1,
        "preserve_version": spec.get("preserve_version"),
        "action": call.action_id,
        "command": list(spec["command"]),
        "workdir": spec.get("workdir"),
        "outdir": OUTDIR,
        "outputs": list(spec["outputs"]),
        "inputs": {
            name: {
                "entity": by_name[name].file.id,
                "mount": by_name[name].mount,
                "remote": by_name[name].remote,
            }
            for name in spec["inputs"]
            if name in by_name
        },
        "config": {
            "entity": call.config.id,
            "mount": config["mount"],
            "withheld_keys": list(config.get("withheld_keys") or []),
        }
        if config and call.config
        else None,
        "env": [
            {"name": e["name"], "withheld": True}
            if e.get("withheld")
            else {"name": e["name"], "value": e.get("value")}
            for e in spec.get("env") or []
        ],
        "network": bool(spec.get("network")),
        "resources": dict(spec.get("resources") or {}),
        "tolerance": dict(spec.get("tolerance") or {}),
    }


def write(folder: str, spec: Mapping[str, Any], call: Invocation) -> list[str]:
    """Write the recipe, the metadata and the preview into ``folder`` (which already holds
    the crate's files); return the three paths, the metadata last."""
    recipe = dumps(run_spec(spec, call)).encode()
    with open(os.path.join(folder, RUN_SPEC), "wb") as fh:
        fh.write(recipe)
    recipe_file = FileFact(
        RUN_SPEC,
        len(recipe),
        hashlib.sha256(recipe).hexdigest(),
        "application/json",
        description="How to run this invocation again (preserve's run recipe).",
    )
    document = graph(spec, call, recipe_file)
    with open(os.path.join(folder, CRATE_PREVIEW), "w", encoding="utf-8") as fh:
        fh.write(preview(spec, call))
    with open(os.path.join(folder, CRATE_METADATA), "w", encoding="utf-8") as fh:
        fh.write(dumps(document))
    return [RUN_SPEC, CRATE_PREVIEW, CRATE_METADATA]


def _file(f: FileFact, **extra: Any) -> dict[str, Any]:
    return file_entity(f.id, f.size, f.sha256, f.media_type, f.name, f.description, **extra)


def _input(item: InputFact, extra: list[dict[str, Any]]) -> dict[str, Any]:
    f = item.file
    about = f.description or f"Input '{item.name}', at {item.mount} during the invocation."
    entity = file_entity(f.id, f.size, f.sha256, f.media_type, item.name, about)
    if item.accessed:
        entity["sdDatePublished"] = item.accessed
    add_checksums(entity, item.name, item.checksums, extra)
    return entity


def graph(spec: Mapping[str, Any], call: Invocation, recipe: FileFact) -> dict[str, Any]:
    """The complete ``ro-crate-metadata.json`` of one invocation."""
    published = spec["published"]
    extra: list[dict[str, Any]] = []
    inputs = [_input(i, extra) for i in call.inputs]
    local = [i.file.id for i in call.inputs if not i.remote]
    local += [call.config.id] if call.config else []
    files = [_file(call.config)] if call.config else []
    outputs = [_file(o) for o in call.outputs]
    logs = [_file(f, about=_ref(call.action_id)) for f in (*call.logs, recipe)]
    env = _environment(spec)
    usage = _usage(call)
    action = _action(spec, call, inputs, env, usage)
    mentions = [_ref(call.action_id), _ref(FUNCTION_IMAGE_ID)]
    if call.trigger is not None:
        mentions.append(_ref(TRIGGER_ID))
    remote = [i["@id"] for i in inputs if i["@id"] not in local]
    root: dict[str, Any] = {
        "@id": "./",
        "@type": "Dataset",
        "name": f"Invocation of {published['title']}",
        "description": f"One invocation of the published analysis {spec['function']} "
        f"on new data, run as a function by preserve. {published.get('description') or ''}".strip(),
        "datePublished": iso(call.end),
        "conformsTo": _ref(PROCESS_PROFILE),
        "hasPart": [_ref(p) for p in [*(["analysis/"] if local else []), *remote]]
        + [_ref(f["@id"]) for f in (*outputs, *logs)],
        "mentions": mentions,
        "isBasedOn": _ref(spec["based_on"]),
    }
    derived = _derived_from(call)
    if derived:  # a chain: the crate whose output this call's input is
        root["isBasedOn"] = [_ref(spec["based_on"]), _ref(derived["@id"])]
    for key in ("license", "author", "publisher", "keywords", "version"):
        if published.get(key):
            root[key] = published[key]
    folder = {
        "@id": "analysis/",
        "@type": "Dataset",
        "name": "Configuration and inputs of the published analysis",
        "description": "The configuration this invocation used and the inputs it took "
        "from the published crate.",
    }
    if local:
        folder["hasPart"] = _one_or_many([_ref(i) for i in local])
    entities: list[dict[str, Any]] = [
        *head(root),
        *([folder] if local else []),
        *files,
        *inputs,
        *outputs,
        *logs,
        action,
        _function_image(spec, call),
        *env,
        *usage,
        *extra,
        {
            "@id": spec["based_on"],
            "@type": "CreativeWork",
            "name": "The published analysis this function runs",
        },
        *[dict(e) for e in spec["entities"]],
    ]
    if call.trigger is not None:
        entities.append(_trigger(call.trigger))
    if derived:
        entities.append(derived)
    return document(entities)


def _derived_from(call: Invocation) -> dict[str, Any] | None:
    """The invocation crate a chained call's input came from (a watcher says which)."""
    uri = call.trigger.attributes.get("derived_from") if call.trigger else None
    if not uri:
        return None
    return {
        "@id": uri,
        "@type": "CreativeWork",
        "name": "The invocation crate this invocation's input came from",
        "description": "An earlier invocation wrote the input of this one into watched "
        "storage; its crate records how that input was made.",
    }


def _action(
    spec: Mapping[str, Any],
    call: Invocation,
    inputs: list[dict[str, Any]],
    env: list[dict[str, Any]],
    usage: list[dict[str, Any]],
) -> dict[str, Any]:
    published = spec["published"]
    name = published["name"] + (f" {published['version']}" if published.get("version") else "")
    objects = [_ref(i["@id"]) for i in inputs] + ([_ref(call.config.id)] if call.config else [])
    action: dict[str, Any] = {
        "@id": call.action_id,
        "@type": "CreateAction",
        "name": f"Invocation of {name}",
        "description": f"Command: {shlex.join(call.command)}" if call.command else "Not run.",
        "instrument": _ref(spec["instrument_id"]),
        "startTime": iso(call.start),
        "endTime": iso(call.end),
        "actionStatus": call.status,
        "containerImage": _ref(spec["image_entity_id"]),
    }
    if spec.get("agent_id"):
        action["agent"] = _ref(spec["agent_id"])
    if call.key:
        action["identifier"] = call.key
    if objects:
        action["object"] = _one_or_many(objects)
    if call.outputs:
        action["result"] = _one_or_many([_ref(o.id) for o in call.outputs])
    if env:
        action["environment"] = _one_or_many([_ref(e["@id"]) for e in env])
    if usage:
        action["resourceUsage"] = _one_or_many([_ref(u["@id"]) for u in usage])
    if call.error:
        action["error"] = call.error
    return action


def _function_image(spec: Mapping[str, Any], call: Invocation) -> dict[str, Any]:
    image = call.function_image
    entity: dict[str, Any] = {
        "@id": FUNCTION_IMAGE_ID,
        "@type": "ContainerImage",
        "additionalType": _ref(DOCKER_IMAGE),
        "name": image.get("name") or f"preserve function {spec['name']}",
        "description": "The function image the invocation ran in: the analysis image "
        f"({spec['image_entity_id']}) plus preserve's shim layer, which adds no software "
        "to the analysis' environment."
        + (f" Run by the target {call.target}." if call.target else ""),
    }
    if image.get("id"):
        entity["identifier"] = image["id"]
    # Until pushed, the image lives in the local engine: "localhost", as capture says.
    entity["registry"] = image.get("registry") or "localhost"
    if image.get("tag"):
        entity["tag"] = image["tag"]
    if image.get("digest"):
        entity["sha256"] = str(image["digest"]).split(":", 1)[-1]
    return entity


def _trigger(trigger: Trigger) -> dict[str, Any]:
    attrs = trigger.attributes
    entity: dict[str, Any] = {
        "@id": TRIGGER_ID,
        "@type": "Event",
        "name": f"{trigger.kind} {attrs.get('type', '')}".strip(),
        "description": "What started this invocation: "
        + ", ".join(f"{k} {v}" for k, v in sorted(attrs.items())),
    }
    if attrs.get("id"):
        entity["identifier"] = attrs["id"]
    if attrs.get("time"):
        entity["startDate"] = attrs["time"]
    if attrs.get("derived_from"):
        entity["about"] = _ref(attrs["derived_from"])
    return entity


def _environment(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    return environment(
        (e["name"], e.get("value"), bool(e.get("withheld"))) for e in spec.get("env") or []
    )


def _usage(call: Invocation) -> list[dict[str, Any]]:
    return resource_usage(
        (call.end - call.start).total_seconds(),
        call.peak_memory,
        call.cpu_seconds,
        memory_note="Largest resident set of the command's processes.",
        cpu_note="User and system CPU time of the command's processes.",
    )


def preview(spec: Mapping[str, Any], call: Invocation) -> str:
    """The crate for a person: what ran, on what, with what result."""
    e = html.escape
    rows = "".join(
        f"<tr><td><code>{e(f.id)}</code></td><td>{f.size}</td><td><code>{e(f.sha256)}</code></td></tr>"
        for f in [*(i.file for i in call.inputs), *call.outputs]
    )
    status = "failed: " + e(call.error) if call.error else "completed"
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>Invocation of {e(spec['published']['title'])}</title></head><body>"
        f"<h1>Invocation of {e(spec['published']['title'])}</h1>"
        f'<p>Function <a href="{e(spec["based_on"])}">{e(spec["function"])}</a>, '
        f"invocation {e(call.invocation_id)}, key <code>{e(call.key or '-')}</code>: {status}.</p>"
        f"<p>Command: <code>{e(shlex.join(call.command))}</code></p>"
        f"<table><tr><th>Entity</th><th>Size</th><th>SHA-256</th></tr>{rows}</table>"
        "</body></html>\n"
    )
