"""``ro-crate-preview.html``: the crate for a person, rendered from its JSON-LD graph.

Rendered from the graph (not from the run record) so that updates to the
metadata, such as a registry digest after a push or a DOI after publishing,
are re-rendered by the same code.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from preserve.crate.model import REPORT_PAGE
from preserve.crate.read import Action, CrateView, Data, view_of


def _e(value: Any) -> str:
    return html.escape(str(value))


def _size(value: Any) -> str:
    try:
        n = float(value)
    except (TypeError, ValueError):
        return ""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _rows(rows: Iterable[Sequence[Any]], head: Sequence[str], code: Sequence[int] = ()) -> str:
    """A table; cells at the ``code`` positions are monospaced, the first cell may be a link."""
    cells = "".join(f"<th>{_e(label)}</th>" for label in head)
    body = []
    for row in rows:
        out = []
        for i, value in enumerate(row):
            text = "" if value is None else value
            if i == 0 and str(text).startswith(("http://", "https://")):
                out.append(f'<td><a href="{_e(text)}">{_e(text)}</a></td>')
            elif i in code and text:
                out.append(f"<td><code>{_e(text)}</code></td>")
            else:
                out.append(f"<td>{_e(text)}</td>")
        body.append("<tr>" + "".join(out) + "</tr>")
    return f"<table><tr>{cells}</tr>{''.join(body)}</table>"


def _data_rows(items: Iterable[Data], verdicts: bool = False) -> str:
    head = ["Entity", "Name", "Size", "SHA-256", "Format"] + (["Verdict"] if verdicts else [])
    rows = [
        [d.id, d.name, _size(d.size), d.sha256, d.encoding_format]
        + ([d.verdict] if verdicts else [])
        for d in items
    ]
    return _rows(rows, head, code=(3,))


STYLE = """
body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;font-size:.9rem}td,th{border:1px solid #ddd;
padding:.3rem .5rem;text-align:left;vertical-align:top}code{font-size:.8rem;word-break:break-all}
.status{font-weight:bold}.ok{color:#176f2c}.failed{color:#b00020}dt{font-weight:bold}
"""


def render_preview(document: dict[str, Any]) -> str:
    view = view_of(document)
    root, action = view.root, view.action
    parts = [f"<h1>{_e(root.name or 'RO-Crate')}</h1>"]
    if root.description:
        parts.append(f"<p>{_e(root.description)}</p>")
    meta: list[tuple[str, str | None]] = [("Authors", ", ".join(a.name for a in root.authors))]
    meta += [
        ("Version", root.version),
        ("Published", root.date_published),
        ("Keywords", ", ".join(root.keywords)),
        ("DOI", root.identifier),
        ("Licence", root.license),
        ("Conforms to", ", ".join(root.conforms_to)),
    ]
    parts.append(
        "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in meta if v) + "</dl>"
    )
    if view.data(REPORT_PAGE) is not None:
        parts.append(
            f'<p class="status"><a href="{REPORT_PAGE}" id="report-link">The comparison '
            "report</a>: every output's verdict, with plots of what differs.</p>"
        )
    if action:
        parts.append(_run(view, action))
    target = root.identifier or "CRATE_DIR"
    parts.append(
        '<h2>Rerun it</h2><p>With <a href="https://pypi.org/project/preserve/">preserve</a>: '
        f"<code>preserve rerun {_e(target)}</code>. The rerun fetches the image and inputs, "
        "verifies their checksums, runs the recorded command and compares every output.</p>"
    )
    title = _e(root.name or "RO-Crate")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n"
    )


def _run(view: CrateView, action: Action) -> str:
    ok = (action.status or "").endswith("CompletedActionStatus")
    parts = [
        "<h2>The run</h2><dl>",
        f'<dt>Status</dt><dd class="status {"ok" if ok else "failed"}">'
        f"{'completed' if ok else 'failed'}</dd>",
    ]
    for label, value in (
        ("Command", action.description),
        ("Started", action.start),
        ("Ended", action.end),
        ("Error", action.error),
    ):
        if value:
            parts.append(f"<dt>{label}</dt><dd><code>{_e(value)}</code></dd>")
    parts.append("</dl>")
    image = view.image
    if image:
        parts.append("<h2>Container image</h2>")
        row = [image.registry, image.name, image.tag, image.sha256, image.image_id]
        head = ["Registry", "Name", "Tag", "Manifest sha256", "Image ID", "Notes"]
        parts.append(_rows([[*row, image.description]], head, code=(3, 4)))
    parts.append("<h2>Inputs and configuration</h2>" + _data_rows(view.inputs))
    parts.append("<h2>Outputs</h2>" + _data_rows(view.outputs, verdicts=True))
    if view.environment:
        env = [
            [e.name, "(withheld)" if e.withheld else e.value or "(not set)"]
            for e in view.environment
        ]
        parts.append("<h2>Environment variables</h2>" + _rows(env, ["Name", "Value"]))
    if view.usage:
        usage = [[u.name, u.value, u.unit] for u in view.usage]
        parts.append("<h2>Resource usage</h2>" + _rows(usage, ["Measure", "Value", "Unit"]))
    return "".join(parts)
