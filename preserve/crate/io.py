"""Write, read and update crate metadata files on disk."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from preserve import __version__
from preserve.crate.jsonld import build_graph
from preserve.crate.model import (
    CRATE_METADATA,
    CRATE_PREVIEW,
    OUTDIR_MOUNT,
    RUN_SPEC,
    CrateRecord,
    FileRecord,
)
from preserve.crate.preview import render_preview
from preserve.crate.read import MAX_RUN_SPEC_BYTES, CrateView, parse_json, read_bounded
from preserve.errors import CrateError, IntegrityError
from preserve.fsmodes import file_mode
from preserve.schemas import validator


def dumps(document: Any) -> str:
    """Deterministic JSON: the same record always gives the same bytes."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, file_mode())  # mkstemp's 0600 would make the crate private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_spec(record: CrateRecord) -> dict[str, Any]:
    m = record.manifest
    return {
        "format": 1,
        "preserve_version": __version__,
        "action": record.run.id,
        "command": list(record.run.command_template),
        "workdir": record.run.workdir,
        "outdir": OUTDIR_MOUNT,
        "outputs": list(m.outputs),
        "inputs": {
            i.name: {"entity": i.id, "mount": i.mount, "remote": i.remote} for i in record.inputs
        },
        "config": {
            "entity": record.config.file.id,
            "mount": record.config.mount,
            "withheld_keys": list(record.config.withheld_keys),
        }
        if record.config
        else None,
        "env": [
            {"name": e.name, "withheld": True} if e.withheld else {"name": e.name, "value": e.value}
            for e in record.env
        ],
        "network": record.run.network,
        "user": record.run.user,
        "resources": {"memory": m.memory, "cpus": m.cpus, "timeout": m.timeout},
        "tolerance": {"rtol": m.rtol, "atol": m.atol},
    }


def write_metadata(record: CrateRecord, crate_dir: Path) -> dict[str, Any]:
    """Write preserve-run.json, then ro-crate-metadata.json (which pins the recipe by
    its sha256: one record, one source of truth) and the preview."""
    spec = dumps(run_spec(record))
    write_atomic(crate_dir / RUN_SPEC, spec)
    data = spec.encode()
    recipe = FileRecord(
        RUN_SPEC,
        len(data),
        hashlib.sha256(data).hexdigest(),
        "application/json",
        description="How to run the analysis again (preserve's run recipe, "
        "schemas/run.schema.json), written from the same record as this metadata.",
    )
    document = build_graph(replace(record, extra_files=(*record.extra_files, recipe)))
    write_document(crate_dir, document)
    return document


def write_document(crate_dir: Path, document: dict[str, Any]) -> None:
    write_atomic(crate_dir / CRATE_PREVIEW, render_preview(document))
    write_atomic(crate_dir / CRATE_METADATA, dumps(document))


def read_run_spec(view: CrateView) -> dict[str, Any] | None:
    """The crate's recipe, checked against its schema and against the sha256 the
    JSON-LD records for it; None when the crate has none (another tool's crate)."""
    path = view.path(RUN_SPEC)
    if not path.is_file():
        return None
    data = read_bounded(path, MAX_RUN_SPEC_BYTES)
    pinned = view.data(RUN_SPEC)
    if pinned is not None and pinned.sha256 != hashlib.sha256(data).hexdigest():
        raise IntegrityError(
            f"{path} does not match the sha256 the crate's metadata records for it",
            hint="the recipe was changed after the crate was written; do not trust it",
        )
    spec = parse_json(data, path)
    if not isinstance(spec, dict):
        raise CrateError(f"{path} is not a JSON object")
    errors = list(validator("run").iter_errors(spec))
    if errors:
        where = ".".join(str(p) for p in errors[0].absolute_path) or "(top level)"
        raise CrateError(f"{path}: at {where}: {errors[0].message}")
    return spec
