"""The rerun's own Process Run Crate, linked to the original, with the verdicts."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from preserve import __version__
from preserve.compare import OutputComparison, reproduced
from preserve.crate.graph import Graph
from preserve.crate.io import write_document, write_metadata
from preserve.crate.jsonld import IMAGE_ID, iso
from preserve.crate.model import (
    ANALYSIS_DIR,
    LOGS_DIR,
    OUTPUTS_DIR,
    ConfigRecord,
    CrateRecord,
    EnvRecord,
    FileRecord,
    ImageRecord,
    RunRecord,
    Verdict,
)
from preserve.crate.plan import RerunPlan
from preserve.hashing import hash_files
from preserve.manifest import Manifest
from preserve.mediatypes import guess
from preserve.rerun.fetch import StagedInput
from preserve.rerun.locate import Origin
from preserve.settings import Publisher, Settings
from preserve.source import SourceInfo


def write_rerun_crate(
    plan: RerunPlan,
    origin: Origin,
    manifest: Manifest,
    staged: Mapping[str, StagedInput],
    env: list[EnvRecord],
    run: RunRecord,
    comparisons: tuple[OutputComparison, ...],
    staging: Path,
    settings: Settings,
) -> None:
    g = plan.graph
    shutil.copytree(plan.crate_dir / ANALYSIS_DIR, staging / ANALYSIS_DIR)
    carried = carry_files(plan, staging, ("environment/", "checksums/", "analysis.diff"))
    outdir = staging / OUTPUTS_DIR
    present = [o for o in plan.outputs if (outdir / o.path).is_file()]
    digests = hash_files([outdir / o.path for o in present])
    outputs = tuple(
        FileRecord(
            id=f"{OUTPUTS_DIR}/{o.path}",
            size=digests[outdir / o.path].size,
            sha256=digests[outdir / o.path].sha256,
            encoding_format=guess(o.path),
            name=o.path,
        )
        for o in present
    )
    logs = []
    for name, what in (("stdout.txt", "Standard output"), ("stderr.txt", "Standard error")):
        path = staging / LOGS_DIR / name
        d = hash_files([path])[path]
        logs.append(
            FileRecord(
                f"{LOGS_DIR}/{name}",
                d.size,
                d.sha256,
                "text/plain",
                description=f"{what} of the rerun.",
            )
        )
    based_on = origin_link(origin, plan, settings)
    record = CrateRecord(
        manifest=manifest,
        source=source_of(g),
        image=image_record(g),
        run=run,
        inputs=tuple(staged[i.name].record for i in plan.inputs),
        outputs=outputs,
        env=tuple(env),
        config=config_record(plan),
        analysis_files=tuple(analysis_files(plan)),
        extra_files=tuple(carried + logs),
        date_published=iso(datetime.now(UTC)),
        preserve_version=__version__,
        publisher=publisher_of(g),
        based_on=based_on,
        verdicts=tuple(Verdict(c.path, c.verdict, c.summary) for c in comparisons),
        reproduced=reproduced(comparisons) if comparisons else None,
    )
    document = write_metadata(record, staging)
    # The image entity is the original's, word for word: it is the same image.
    original_image = g.get(next(iter(g.ids((g.main_action() or {}).get("containerImage"))), ""))
    new_graph = Graph(document)
    new_graph.get(IMAGE_ID).clear()
    new_graph.get(IMAGE_ID).update({**original_image, "@id": IMAGE_ID})
    action = new_graph.get(run.id)
    what = (
        "Rerun on new data"
        if record.reproduced is None
        else ("Rerun: reproduced" if record.reproduced else "Rerun: NOT reproduced")
    )
    action["name"] = f"{what} — {manifest.name}"
    if based_on:
        action["description"] += f". Rerun of {based_on}."
    write_document(staging, document)


def carry_files(plan: RerunPlan, staging: Path, prefixes: tuple[str, ...]) -> list[FileRecord]:
    out = []
    for entity in plan.graph.by_id.values():
        eid = entity["@id"]
        if "File" not in Graph.types(entity) or not eid.startswith(prefixes):
            continue
        src = plan.crate_dir / eid
        if not src.is_file():
            continue
        (staging / eid).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, staging / eid)
        out.append(file_record(entity))
    return out


def file_record(e: dict[str, Any]) -> FileRecord:
    return FileRecord(
        id=e["@id"],
        size=int(e.get("contentSize", 0)),
        sha256=str(e.get("sha256", "")),
        encoding_format=str(e.get("encodingFormat") or guess(e["@id"])),
        name=e.get("name"),
        description=e.get("description"),
    )


def analysis_files(plan: RerunPlan) -> list[FileRecord]:
    folder = plan.graph.get(f"{ANALYSIS_DIR}/")
    skip = {i.entity_id for i in plan.inputs}
    config = (plan.spec.get("config") or {}).get("entity")
    return [
        file_record(plan.graph.get(pid))
        for pid in Graph.ids(folder.get("hasPart"))
        if pid not in skip and pid != config and plan.graph.get(pid)
    ]


def config_record(plan: RerunPlan) -> ConfigRecord | None:
    config = plan.spec.get("config")
    if not config:
        return None
    return ConfigRecord(
        file=file_record(plan.graph.get(config["entity"])),
        mount=config["mount"],
        withheld_keys=tuple(config.get("withheld_keys", ())),
    )


def source_of(g: Graph) -> SourceInfo:
    action = g.main_action() or {}
    software = g.get(next(iter(g.ids(action.get("instrument"))), ""))
    commit = g.get("#git-commit").get("value")
    return SourceInfo(
        commit=commit,
        remote=software.get("codeRepository"),
        dirty=g.get("#git-dirty").get("value") == "true",
        is_git=bool(commit),
    )


def image_record(g: Graph) -> ImageRecord:
    image = g.get(next(iter(g.ids((g.main_action() or {}).get("containerImage"))), ""))
    sha = image.get("sha256")
    return ImageRecord(
        image_id=str(image.get("identifier", "")),
        name=str(image.get("name", "")),
        tag=image.get("tag"),
        registry=str(image.get("registry", "")),
        digest=f"sha256:{sha}" if sha else None,
    )


def publisher_of(g: Graph) -> Publisher | None:
    pub = g.get(next(iter(g.ids(g.root().get("publisher"))), ""))
    return Publisher(name=pub["name"], ror=pub.get("url")) if pub.get("name") else None


def origin_link(origin: Origin, plan: RerunPlan, settings: Settings) -> str | None:
    from preserve.doi.links import oci_ref_to_url

    doi = origin.doi or plan.doi
    if doi:
        return f"https://doi.org/{doi}"
    if origin.crate_ref is not None:
        return oci_ref_to_url(origin.crate_ref, settings.store_dir)
    return None
