"""The report inside a rerun crate: an HTML page and its plots, each a described entity.

Each plot is a File ``about`` the output it shows; the page is ``about`` the
rerun action, and the crate preview links to it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from preserve.crate.io import write_atomic
from preserve.crate.jsonld import record_entity
from preserve.crate.model import OUTPUTS_DIR, REPORT_DIR, REPORT_PAGE, FileRecord
from preserve.report.html import render_html
from preserve.report.model import Figure, Report


def add_to_crate(report: Report, staging: Path, document: dict[str, Any], about: str) -> None:
    """Write the page and plots into ``staging`` and describe them in ``document``."""
    from preserve.report.figures import make_figures  # matplotlib only when drawing

    figs = make_figures(report.comparisons)
    (staging / REPORT_DIR).mkdir(exist_ok=True)
    entities = []
    for f in figs:
        (staging / REPORT_DIR / f.name).write_bytes(f.png)
        record = _record(f"{REPORT_DIR}/{f.name}", f.png, "image/png", f.caption)
        entities.append(record_entity(record, about={"@id": f"{OUTPUTS_DIR}/{f.output}"}))
    page = render_html(report, figs, _crate_src).encode()
    write_atomic(staging / REPORT_PAGE, page.decode())
    description = "The comparison of the rerun's outputs with the published ones, with plots."
    entities.append(
        record_entity(
            _record(REPORT_PAGE, page, "text/html", description, "Comparison report"),
            about={"@id": about},
        )
    )
    graph = document["@graph"]
    root = next(e for e in graph if e.get("@id") == "./")
    parts = root.get("hasPart", [])
    root["hasPart"] = [*(parts if isinstance(parts, list) else [parts])] + [
        {"@id": e["@id"]} for e in entities
    ]
    graph.extend(entities)


def _crate_src(figure: Figure) -> str:
    return f"{REPORT_DIR}/{figure.name}"


def _record(
    entity_id: str, data: bytes, media: str, description: str, name: str | None = None
) -> FileRecord:
    return FileRecord(
        id=entity_id,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        encoding_format=media,
        name=name,
        description=description,
    )
