"""What a rerun needs, read from a crate: image, command, inputs, expected outputs.

Works on crates written by preserve (``preserve-run.json`` beside the JSON-LD)
and explains precisely what is missing from Process Run Crates made by other
tools that lack a machine-readable recipe.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preserve.crate.graph import Graph
from preserve.crate.io import read_document, read_run_spec
from preserve.crate.model import RUN_SPEC
from preserve.errors import CrateError
from preserve.oci.refs import LOCAL, OciRef


@dataclass(frozen=True)
class PlannedInput:
    name: str
    entity_id: str
    mount: str
    remote: bool
    sha256: str | None
    size: int | None
    is_dir: bool
    entity: dict[str, Any]


@dataclass(frozen=True)
class ExpectedOutput:
    path: str  # relative to {outdir}
    entity_id: str
    sha256: str | None


@dataclass(frozen=True)
class RerunPlan:
    crate_dir: Path
    document: dict[str, Any]
    spec: dict[str, Any]
    image_ref: OciRef | None  # pinned, once the crate was pushed
    image_id: str | None  # the local image ID recorded at capture
    inputs: tuple[PlannedInput, ...]
    outputs: tuple[ExpectedOutput, ...]
    doi: str | None

    @property
    def graph(self) -> Graph:
        return Graph(self.document)


def read_plan(crate_dir: Path) -> RerunPlan:
    document = read_document(crate_dir)
    g = Graph(document)
    action = g.main_action()
    spec = read_run_spec(crate_dir)
    image = g.get(next(iter(g.ids(action.get("containerImage"))), "")) if action else {}
    missing = []
    if action is None:
        missing.append("no run (a CreateAction the root mentions)")
    if not image:
        missing.append("no container image (the action's containerImage)")
    if spec is None:
        missing.append(f"no recorded command ({RUN_SPEC}, the machine-readable recipe)")
    if missing:
        raise CrateError(
            f"the crate in {crate_dir} cannot be rerun: it records " + "; ".join(missing),
            hint="rerun needs a crate written by `preserve capture`; other Process Run Crates "
            "describe a run but not how to repeat it",
        )
    assert spec is not None
    inputs = tuple(_input(g, name, item) for name, item in spec["inputs"].items())
    outputs = tuple(
        ExpectedOutput(p, f"outputs/{p}", g.get(f"outputs/{p}").get("sha256"))
        for p in spec["outputs"]
    )
    root = g.root()
    ident = root.get("identifier")
    doi = (
        ident.removeprefix("https://doi.org/")
        if isinstance(ident, str) and "doi.org/10." in ident
        else None
    )
    return RerunPlan(
        crate_dir=crate_dir,
        document=document,
        spec=spec,
        image_ref=_image_ref(image),
        image_id=image.get("identifier")
        if str(image.get("identifier", "")).startswith("sha256:")
        else None,
        inputs=inputs,
        outputs=outputs,
        doi=doi,
    )


def _input(g: Graph, name: str, item: dict[str, Any]) -> PlannedInput:
    entity = g.get(item["entity"])
    if not entity:
        raise CrateError(
            f"input {name!r} points at {item['entity']}, which the crate does not describe"
        )
    size = entity.get("contentSize")
    return PlannedInput(
        name=name,
        entity_id=item["entity"],
        mount=item["mount"],
        remote=bool(item.get("remote")),
        sha256=entity.get("sha256"),
        size=int(size) if size is not None and str(size).isdigit() else None,
        is_dir="Dataset" in g.types(entity),
        entity=entity,
    )


def _image_ref(image: dict[str, Any]) -> OciRef | None:
    sha, registry, name = image.get("sha256"), image.get("registry"), image.get("name")
    if not (sha and registry and name) or registry == "localhost":
        return None
    prefix = f"{LOCAL}:" if registry == LOCAL else f"{registry}/"
    return OciRef.parse(f"{prefix}{name}@sha256:{sha}")
