"""A function's definition, read from its published crate: what the shim is given.

A DOI or an OCI reference resolves (``rerun/locate.py``) to the published crate,
which the one crate reader turns into a plan (``crate/plan.py``). The definition
(``function.json`` in the function image) says everything the shim needs and
nothing it could get wrong by itself: the recorded command, mounts, outputs,
environment policy and limits; each input (its recorded URI and checksums, or
the crate's own copy, which the image carries, verified here); the
configuration; and the published crate's entities an invocation crate carries
word for word (the analysis code, its image pinned by digest, authors, licence).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preserve import __version__
from preserve.crate.plan import RerunPlan, read_plan
from preserve.crate.read import CrateView, types_of
from preserve.errors import CrateError, IntegrityError
from preserve.hashing import hash_files
from preserve.progress import Progress
from preserve.rerun.fetch import verify_local
from preserve.rerun.locate import Origin, locate
from preserve.rerun.record import origin_link
from preserve.settings import Settings
from preserve.shim import SHIM_VERSION
from preserve.shim.mediatypes import guess

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,37}[a-z0-9])?$")  # OSCAR allows 39 characters
# Entities an invocation crate writes itself; everything else reachable is carried.
_OWN_TYPES = {"File", "Dataset", "CreateAction"}


@dataclass(frozen=True)
class Definition:
    origin: Origin
    plan: RerunPlan
    spec: dict[str, Any]  # function.json
    files: dict[str, Path]  # crate path -> the verified file the image carries


@dataclass(frozen=True)
class EventBinding:
    """How a raw storage event becomes a call (all optional)."""

    input: str | None = None  # the input it is bound to (default: the only one)
    base: str | None = None  # the URI event names are relative to
    output_to: str | None = None  # the folder that receives one sub-folder per call


def define(
    target: str,
    settings: Settings,
    progress: Progress,
    *,
    name: str | None = None,
    events: EventBinding = EventBinding(),
) -> Definition:
    """The definition of the function published as ``target`` (DOI or reference)."""
    origin = locate(target, settings, progress)
    plan = read_plan(origin.crate_dir)
    view = plan.view
    function = origin.doi or plan.doi or (str(origin.crate_ref) if origin.crate_ref else None)
    if function is None:
        raise CrateError(
            f"{target} is a crate on disk, not a published analysis",
            hint="deploy a DOI, or the crate's OCI reference after `preserve push`",
        )
    if view.instrument is None or view.image is None:
        raise CrateError(f"the crate of {function} names no analysis code or image")
    files: dict[str, Path] = {}
    spec: dict[str, Any] = {
        "format": 1,
        "shim_version": SHIM_VERSION,
        "preserve_version": __version__,
        "name": function_name(name or plan.manifest.name),
        "function": function,
        "doi": origin.doi or plan.doi,
        "crate_ref": str(origin.crate_ref) if origin.crate_ref else None,
        "based_on": origin_link(origin, plan, settings) or function,
        "published": _published(view, plan),
        "instrument_id": view.instrument.id,
        "image_entity_id": view.image.id,
        "image": {
            "id": plan.image_id,
            "reference": str(plan.image_ref) if plan.image_ref else None,
            "digest": plan.image_ref.digest if plan.image_ref else None,
        },
        "entities": carried(view, [view.instrument.id, view.image.id, *_root_refs(view)]),
        "agent_id": None,
        "command": list(plan.spec["command"]),
        "workdir": plan.spec.get("workdir"),
        "outputs": list(plan.spec["outputs"]),
        "env": list(plan.spec["env"]),
        "network": bool(plan.spec["network"]),
        "resources": dict(plan.spec.get("resources") or {}),
        "tolerance": dict(plan.spec.get("tolerance") or {}),
        "inputs": {i.name: _input(plan, i, files) for i in plan.inputs},
        "config": _config(plan, function, files),
        "events": {"input": events.input, "base": events.base, "output_to": events.output_to},
    }
    _agent(spec, view, settings)
    if events.input is not None and events.input not in spec["inputs"]:
        raise CrateError(
            f"--event-input {events.input}: {function} has no such input",
            hint=f"its inputs are {', '.join(spec['inputs']) or 'none'}",
        )
    return Definition(origin, plan, spec, files)


def function_name(text: str) -> str:
    """A name every platform accepts: lower-case letters, digits and dashes, 39 at most."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:39].strip("-")
    if not _NAME.match(name):
        raise CrateError(
            f"{text!r} cannot name a function",
            hint="give --name with lower-case letters, digits and dashes (39 at most)",
        )
    return name


def _agent(spec: dict[str, Any], view: CrateView, settings: Settings) -> None:
    """Who runs the function: the configured publisher (the facility), else the published
    analysis' publisher, else its first author."""
    if settings.publisher is not None:
        pub = settings.publisher
        org = {"@id": pub.ror or f"#org-{re.sub(r'[^a-z0-9]+', '-', pub.name.lower())}"}
        org.update({"@type": "Organization", "name": pub.name})
        if pub.ror:
            org["url"] = pub.ror
        spec["entities"].append(org)
        spec["agent_id"] = org["@id"]
    elif view.root.publisher is not None:
        spec["agent_id"] = view.root.publisher.id
    elif view.root.authors:
        spec["agent_id"] = view.root.authors[0].id


def _published(view: CrateView, plan: RerunPlan) -> dict[str, Any]:
    root = view.entity(view.root.id) or {}
    out: dict[str, Any] = {
        "title": view.root.name or plan.manifest.title,
        "name": plan.manifest.name,
        "description": view.root.description,
        "version": view.root.version,
    }
    for key in ("license", "author", "publisher", "keywords"):
        if root.get(key):
            out[key] = root[key]
    return out


def _root_refs(view: CrateView) -> list[str]:
    root = view.entity(view.root.id) or {}
    return [r for key in ("license", "author", "publisher") for r in _ids(root.get(key))]


def _ids(value: Any) -> Iterable[str]:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("@id"), str):
            yield item["@id"]


def carried(view: CrateView, start: Iterable[str]) -> list[dict[str, Any]]:
    """The contextual entities reachable from ``start``, raw, in a stable order."""
    out: dict[str, dict[str, Any]] = {}
    queue = deque(start)
    while queue:
        entity_id = queue.popleft()
        entity = view.entity(entity_id)
        if entity_id in out or entity is None or _OWN_TYPES & set(types_of(entity)):
            continue
        out[entity_id] = entity
        for key, value in entity.items():
            if not key.startswith("@"):
                queue.extend(_ids(value))
    return list(out.values())


def _confined(mount: str, folder: str, what: str) -> str:
    """A recorded mount the shim will write: only where capture puts them."""
    parts = mount.split("/")
    if not mount.startswith(f"{folder}/") or ".." in parts or len(parts) < 4:
        raise CrateError(
            f"the crate mounts {what} at {mount}, outside {folder}/",
            hint="preserve captures mount inputs under /preserve/inputs/ and the "
            "configuration under /preserve/config/; this crate was not written by it",
        )
    return mount


def _input(plan: RerunPlan, item: Any, files: dict[str, Path]) -> dict[str, Any]:
    _confined(item.mount, "/preserve/inputs", f"input {item.name!r}")
    data = item.data
    if item.is_dir:
        raise CrateError(
            f"input {item.name!r} is a folder; functions take file inputs",
            hint="publish the analysis with a file (an HDF5/NeXus container) for this input",
        )
    common = {
        "mount": item.mount,
        "remote": item.remote,
        "sha256": item.sha256,
        "size": item.size,
        "media_type": data.encoding_format or guess(item.entity_id),
        "description": data.description,
    }
    if item.remote:
        return {**common, "uri": item.entity_id}
    assert item.path is not None
    verify_local(plan, item, item.path)
    files[item.entity_id] = item.path
    return {**common, "bundled": item.entity_id}


def _config(plan: RerunPlan, function: str, files: dict[str, Path]) -> dict[str, Any] | None:
    config = plan.spec.get("config")
    if not config or plan.config_path is None:
        return None
    if config.get("withheld_keys"):
        raise CrateError(
            f"the configuration of {function} had values withheld when it was published "
            f"({', '.join(config['withheld_keys'])})",
            hint="functions cannot supply withheld configuration values yet; publish the "
            "analysis with credentials in its environment instead",
        )
    data = plan.view.data(config["entity"])
    digest = hash_files([plan.config_path])[plan.config_path].sha256
    if data is None or data.sha256 != digest:
        raise IntegrityError(
            f"the configuration of {function} does not match the crate's record of it",
            hint="the crate was changed after it was written; do not deploy it",
        )
    files[config["entity"]] = plan.config_path
    _confined(config["mount"], "/preserve/config", "its configuration")
    return {
        "bundled": config["entity"],
        "mount": config["mount"],
        "sha256": data.sha256,
        "size": data.size,
        "media_type": data.encoding_format or guess(config["entity"]),
        "withheld_keys": [],
    }
