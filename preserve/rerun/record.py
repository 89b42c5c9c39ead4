"""The rerun's own Process Run Crate, linked to the original, with the verdicts."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from preserve import __version__
from preserve.compare import OutputComparison, reproduced
from preserve.crate.io import write_document, write_metadata
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
from preserve.crate.read import CrateView, Data
from preserve.hashing import hash_files
from preserve.manifest import Manifest
from preserve.mediatypes import guess
from preserve.report import Report
from preserve.report.crate import add_to_crate
from preserve.rerun.fetch import StagedInput
from preserve.rerun.locate import Origin
from preserve.settings import Publisher, Settings
from preserve.shim.jsonld import iso


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
    granted: str = "",
    report: Report | None = None,
) -> None:
    view = plan.view
    copy_confined(view, ANALYSIS_DIR, staging)
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
        source=view.source,
        image=image_record(plan),
        run=run,
        inputs=tuple(staged[i.name].record for i in plan.inputs),
        outputs=outputs,
        env=tuple(env),
        config=config_record(plan),
        analysis_files=tuple(analysis_files(plan)),
        extra_files=tuple(carried + logs),
        date_published=iso(datetime.now(UTC)),
        preserve_version=__version__,
        publisher=publisher_of(view),
        based_on=based_on,
        instrument_id=view.instrument.id if view.instrument else None,
        verdicts=tuple(Verdict(c.path, c.verdict, c.summary) for c in comparisons),
        reproduced=reproduced(comparisons) if comparisons else None,
    )
    document = write_metadata(record, staging)
    # The image and the software are the original's, word for word: the same ones ran.
    by_id = {e["@id"]: e for e in document["@graph"]}
    for original in (view.image, view.instrument):
        raw = view.entity(original.id) if original else None
        if original and raw and original.id in by_id:
            by_id[original.id].clear()
            by_id[original.id].update(raw)
    action = by_id[run.id]
    what = (
        "Rerun on new data"
        if record.reproduced is None
        else ("Rerun: reproduced" if record.reproduced else "Rerun: NOT reproduced")
    )
    action["name"] = f"{what} — {manifest.name}"
    if based_on:
        action["description"] += f". Rerun of {based_on}."
    if granted:
        action["description"] += f" {granted}"
    if report is not None:
        add_to_crate(report, staging, document, about=run.id)
    write_document(staging, document)


def copy_confined(view: CrateView, folder: str, staging: Path) -> None:
    """Copy a folder of the crate; a link leading outside the crate is refused, others
    are copied as the files they point at."""
    source = view.path(folder)
    for directory, dirs, files in os.walk(source):
        rel = Path(directory).relative_to(source)
        (staging / folder / rel).mkdir(parents=True, exist_ok=True)
        for name in [*dirs, *files]:
            view.path(f"{folder}/{(rel / name).as_posix()}")  # CrateError if it leaves the crate
        for name in files:
            shutil.copyfile(Path(directory) / name, staging / folder / rel / name)


def carry_files(plan: RerunPlan, staging: Path, prefixes: tuple[str, ...]) -> list[FileRecord]:
    out = []
    for data in plan.view.files:
        if data.is_dir or not data.id.startswith(prefixes):
            continue
        src = plan.view.path(data.id)
        if not src.is_file():
            continue
        (staging / data.id).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, staging / data.id)
        out.append(file_record(data))
    return out


def file_record(d: Data) -> FileRecord:
    return FileRecord(
        id=d.id,
        size=d.size or 0,
        sha256=d.sha256 or "",
        encoding_format=d.encoding_format or guess(d.id),
        name=d.name,
        description=d.description,
    )


def analysis_files(plan: RerunPlan) -> list[FileRecord]:
    """The files of the analysis folder, without the inputs and the configuration."""
    skip = {i.entity_id for i in plan.inputs}
    config = (plan.spec.get("config") or {}).get("entity")
    return [
        file_record(d)
        for d in plan.view.files
        if d.id.startswith(f"{ANALYSIS_DIR}/") and not d.is_dir and d.id not in skip | {config}
    ]


def config_record(plan: RerunPlan) -> ConfigRecord | None:
    config = plan.spec.get("config")
    data = plan.view.data(config["entity"]) if config else None
    if not config or data is None:
        return None
    return ConfigRecord(
        file=file_record(data),
        mount=config["mount"],
        withheld_keys=tuple(config.get("withheld_keys", ())),
    )


def image_record(plan: RerunPlan) -> ImageRecord:
    image = plan.view.image
    assert image is not None  # read_plan refuses crates without one
    return ImageRecord(
        image_id=image.image_id or "",
        name=image.name or "",
        tag=image.tag,
        registry=image.registry or "",
        digest=f"sha256:{image.sha256}" if image.sha256 else None,
    )


def publisher_of(view: CrateView) -> Publisher | None:
    pub = view.root.publisher
    return Publisher(name=pub.name, ror=pub.ror) if pub else None


def origin_link(origin: Origin, plan: RerunPlan, settings: Settings) -> str | None:
    """What the rerun is based on: the DOI when there is one, else the crate's reference."""
    from preserve.doi.links import oci_ref_to_url

    doi = origin.doi or plan.doi
    if doi:
        return f"https://doi.org/{doi}"
    if origin.crate_ref is not None:
        return oci_ref_to_url(origin.crate_ref, settings.store_dir)
    return None
