"""Write, read and update crate metadata files on disk."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from preserve import __version__
from preserve.crate.graph import Graph
from preserve.crate.jsonld import build_graph
from preserve.crate.model import CRATE_METADATA, CRATE_PREVIEW, OUTDIR_MOUNT, RUN_SPEC, CrateRecord
from preserve.crate.preview import render_preview
from preserve.errors import CrateError
from preserve.schemas import validator


def dumps(document: Any) -> str:
    """Deterministic JSON: the same record always gives the same bytes."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
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
        "resources": {"memory": m.memory, "cpus": m.cpus, "timeout": m.timeout},
        "tolerance": {"rtol": m.rtol, "atol": m.atol},
    }


def write_metadata(record: CrateRecord, crate_dir: Path) -> dict[str, Any]:
    """Write ro-crate-metadata.json, the preview and preserve-run.json."""
    document = build_graph(record)
    write_atomic(crate_dir / RUN_SPEC, dumps(run_spec(record)))
    write_document(crate_dir, document)
    return document


def write_document(crate_dir: Path, document: dict[str, Any]) -> None:
    write_atomic(crate_dir / CRATE_PREVIEW, render_preview(document))
    write_atomic(crate_dir / CRATE_METADATA, dumps(document))


def read_document(crate_dir: Path) -> dict[str, Any]:
    path = crate_dir / CRATE_METADATA
    if not path.is_file():
        raise CrateError(
            f"{crate_dir} is not an RO-Crate: it has no {CRATE_METADATA}",
            hint="give the directory written by `preserve capture` or `preserve pull`",
        )
    try:
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CrateError(f"{path} is not valid JSON: {exc}") from exc
    Graph(document).root()  # fail early on a crate without a root
    return document


def read_run_spec(crate_dir: Path) -> dict[str, Any] | None:
    path = crate_dir / RUN_SPEC
    if not path.is_file():
        return None
    try:
        spec: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CrateError(f"{path} is not valid JSON: {exc}") from exc
    errors = list(validator("run").iter_errors(spec))
    if errors:
        where = ".".join(str(p) for p in errors[0].absolute_path) or "(top level)"
        raise CrateError(f"{path}: at {where}: {errors[0].message}")
    return spec
