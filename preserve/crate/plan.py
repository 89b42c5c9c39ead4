"""What a rerun needs, read from a crate: image, command, inputs, expected outputs.

Works on crates written by preserve: the JSON-LD says what was run on what, and
``preserve-run.json`` (pinned by its sha256 in the JSON-LD) says how to run it
again. Other tools' Process Run Crates describe a run but not how to repeat it;
:func:`missing_parts` says precisely what they lack. Every crate path the plan
names is checked to stay inside the crate before anything runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preserve.crate.io import read_run_spec
from preserve.crate.model import OUTPUTS_DIR, RUN_SPEC
from preserve.crate.read import CrateView, Data, Person, read_crate
from preserve.errors import CrateError
from preserve.manifest import Affiliation, Author, Manifest
from preserve.oci.refs import OciRef


@dataclass(frozen=True)
class PlannedInput:
    name: str
    entity_id: str
    mount: str
    remote: bool
    sha256: str | None
    size: int | None
    is_dir: bool
    data: Data
    path: Path | None  # the confined path of an input inside the crate; None when remote


@dataclass(frozen=True)
class ExpectedOutput:
    path: str  # relative to {outdir}
    entity_id: str
    sha256: str | None
    published: Path  # the confined path of the published output in the crate


@dataclass(frozen=True)
class RerunPlan:
    crate_dir: Path
    view: CrateView
    spec: dict[str, Any]
    manifest: Manifest  # the analysis as the crate describes it (never its preserve.yaml)
    image_ref: OciRef | None  # pinned, once the crate was pushed
    image_id: str | None  # the local image ID recorded at capture
    inputs: tuple[PlannedInput, ...]
    outputs: tuple[ExpectedOutput, ...]
    config_path: Path | None  # the confined path of the configuration file
    doi: str | None


def missing_parts(view: CrateView) -> list[str]:
    """What a crate lacks to be one preserve wrote (and can push or rerun); [] if nothing."""
    missing = []
    if view.action is None:
        missing.append("a run (a CreateAction the root mentions)")
    if view.image is None:
        missing.append("a container image (the run's containerImage)")
    elif not (view.image.ref or str(view.image.image_id or "").startswith("sha256:")):
        missing.append("the container image's ID or registry digest")
    if view.directory is None or not view.path(RUN_SPEC).is_file():
        missing.append(f"preserve's run recipe ({RUN_SPEC}: the command, mounts and limits)")
    return missing


def read_plan(crate_dir: Path) -> RerunPlan:
    view = read_crate(crate_dir)
    missing = missing_parts(view)
    if missing:
        raise CrateError(
            f"the crate in {crate_dir} cannot be rerun: it lacks " + "; ".join(missing),
            hint="rerun needs a crate written by `preserve capture`; other Process Run Crates "
            "describe a run but not how to repeat it",
        )
    spec = read_run_spec(view)
    assert spec is not None and view.action is not None and view.image is not None
    if spec["action"] != view.action.id:
        raise CrateError(
            f"{RUN_SPEC} is the recipe of run {spec['action']!r}, "
            f"but the crate records run {view.action.id!r}"
        )
    config = spec.get("config")
    return RerunPlan(
        crate_dir=crate_dir,
        view=view,
        spec=spec,
        manifest=described_manifest(view, spec),
        image_ref=view.image.ref,
        image_id=view.image.image_id if (view.image.image_id or "").startswith("sha256:") else None,
        inputs=tuple(_input(view, name, item) for name, item in spec["inputs"].items()),
        outputs=tuple(_output(view, p) for p in spec["outputs"]),
        config_path=_local(view, config["entity"], "the configuration") if config else None,
        doi=view.doi,
    )


def _local(view: CrateView, entity_id: str, what: str) -> Path:
    """The confined path of a crate file the recipe names, which the JSON-LD must describe."""
    if view.data(entity_id) is None:
        raise CrateError(
            f"{RUN_SPEC} names {entity_id} as {what}, which the crate does not describe"
        )
    return view.path(entity_id)


def _input(view: CrateView, name: str, item: dict[str, Any]) -> PlannedInput:
    data = view.data(item["entity"])
    if data is None:
        raise CrateError(
            f"input {name!r} points at {item['entity']}, which the crate does not describe"
        )
    remote = bool(item.get("remote"))
    if remote != data.remote:
        raise CrateError(
            f"input {name!r}: {RUN_SPEC} says it is {'remote' if remote else 'in the crate'}, "
            f"but its entity {data.id!r} is {'a URI' if data.remote else 'a crate path'}"
        )
    return PlannedInput(
        name=name,
        entity_id=data.id,
        mount=item["mount"],
        remote=remote,
        sha256=data.sha256,
        size=data.size,
        is_dir=data.is_dir,
        data=data,
        path=None if remote else _local(view, data.id, f"input {name!r}"),
    )


def _output(view: CrateView, path: str) -> ExpectedOutput:
    entity_id = f"{OUTPUTS_DIR}/{path}"
    published = view.path(entity_id)
    if view.path(OUTPUTS_DIR) not in published.parents:
        raise CrateError(f"output {path!r} is not a file inside {OUTPUTS_DIR}/")
    data = view.data(entity_id)
    return ExpectedOutput(path, entity_id, data.sha256 if data else None, published)


def described_manifest(view: CrateView, spec: dict[str, Any]) -> Manifest:
    """The analysis as the JSON-LD (and the recipe it pins) describes it."""
    root, software = view.root, view.instrument
    name = (software.name if software else None) or root.name or "analysis"
    resources = spec.get("resources") or {}
    tolerance = spec.get("tolerance") or {}
    return Manifest(
        name=re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "analysis",
        title=root.name or name,
        command=tuple(spec["command"]),
        outputs=tuple(spec["outputs"]),
        description=root.description,
        version=root.version,
        license=root.license_name,
        url=software.url if software else None,
        authors=tuple(_author(p) for p in root.authors),
        keywords=root.keywords,
        workdir=spec.get("workdir"),
        network=bool(spec["network"]),
        memory=resources.get("memory"),
        cpus=resources.get("cpus"),
        timeout=resources.get("timeout"),
        rtol=tolerance.get("rtol"),
        atol=tolerance.get("atol"),
        supplement_to=root.supplement_to,
        cites=root.cites,
        funding=root.funding,
    )


def _author(p: Person) -> Author:
    org = p.affiliation
    return Author(
        name=p.name,
        orcid=p.orcid,
        affiliation=Affiliation(org.name, org.ror) if org else None,
        given_name=p.given_name,
        family_name=p.family_name,
    )
