"""``ro-crate-preview.html``: the crate for a person, rendered from its JSON-LD graph.

Rendered from the graph (not from the run record) so that updates to the
metadata, such as a registry digest after a push or a DOI after publishing,
are re-rendered by the same code.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

from preserve.crate.graph import Graph


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


def _rows(entities: Iterable[dict[str, Any]], cols: list[tuple[str, str]]) -> str:
    head = "".join(f"<th>{_e(label)}</th>" for label, _ in cols)
    body = []
    for ent in entities:
        cells = []
        for _, key in cols:
            value = ent.get(key, "")
            if key == "contentSize":
                value = _size(value)
            if key == "sha256" and value:
                cells.append(f"<td><code>{_e(value)}</code></td>")
            elif (key == "@id" and str(value).startswith(("http://", "https://"))) or key == "@id":
                cells.append(f'<td><a href="{_e(value)}">{_e(value)}</a></td>')
            else:
                cells.append(f"<td>{_e(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


STYLE = """
body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;font-size:.9rem}td,th{border:1px solid #ddd;
padding:.3rem .5rem;text-align:left;vertical-align:top}code{font-size:.8rem;word-break:break-all}
.status{font-weight:bold}.ok{color:#176f2c}.failed{color:#b00020}dt{font-weight:bold}
"""


def render_preview(document: dict[str, Any]) -> str:
    g = Graph(document)
    root = g.root()
    action = g.main_action()
    parts = [f"<h1>{_e(root.get('name', 'RO-Crate'))}</h1>"]
    if root.get("description"):
        parts.append(f"<p>{_e(root['description'])}</p>")
    meta = []
    authors = [g.get(r).get("name", r) for r in g.ids(root.get("author"))]
    if authors:
        meta.append(("Authors", ", ".join(authors)))
    for label, key in (
        ("Version", "version"),
        ("Published", "datePublished"),
        ("Keywords", "keywords"),
        ("DOI", "identifier"),
    ):
        if root.get(key):
            meta.append((label, root[key]))
    lic = g.ids(root.get("license"))
    if lic:
        meta.append(("Licence", lic[0]))
    meta.append(("Conforms to", ", ".join(g.ids(root.get("conformsTo")))))
    parts.append("<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in meta) + "</dl>")
    if action:
        status = g.ids(action.get("actionStatus"))
        ok = bool(status) and status[0].endswith("CompletedActionStatus")
        parts.append("<h2>The run</h2><dl>")
        parts.append(
            f'<dt>Status</dt><dd class="status {"ok" if ok else "failed"}">'
            f"{'completed' if ok else 'failed'}</dd>"
        )
        for label, key in (
            ("Command", "description"),
            ("Started", "startTime"),
            ("Ended", "endTime"),
            ("Error", "error"),
        ):
            if action.get(key):
                parts.append(f"<dt>{label}</dt><dd><code>{_e(action[key])}</code></dd>")
        parts.append("</dl>")
        image = g.get(next(iter(g.ids(action.get("containerImage"))), ""))
        if image:
            parts.append("<h2>Container image</h2>")
            parts.append(
                _rows(
                    [image],
                    [
                        ("Registry", "registry"),
                        ("Name", "name"),
                        ("Tag", "tag"),
                        ("Manifest sha256", "sha256"),
                        ("Image ID", "identifier"),
                        ("Notes", "description"),
                    ],
                )
            )
        cols = [
            ("Entity", "@id"),
            ("Name", "name"),
            ("Size", "contentSize"),
            ("SHA-256", "sha256"),
            ("Format", "encodingFormat"),
        ]
        objects = [g.get(i) for i in g.ids(action.get("object"))]
        parts.append("<h2>Inputs and configuration</h2>" + _rows(objects, cols))
        results = [
            {
                **g.get(i),
                "verdict": ", ".join(
                    str(g.get(v).get("value", ""))
                    for v in g.ids(g.get(i).get("additionalProperty"))
                ),
            }
            for i in g.ids(action.get("result"))
        ]
        parts.append("<h2>Outputs</h2>" + _rows(results, [*cols, ("Verdict", "verdict")]))
        env = [g.get(i) for i in g.ids(action.get("environment"))]
        if env:
            parts.append(
                "<h2>Environment variables</h2>"
                + _rows(env, [("Name", "name"), ("Value", "value")])
            )
        usage = [g.get(i) for i in g.ids(action.get("resourceUsage"))]
        if usage:
            parts.append(
                "<h2>Resource usage</h2>"
                + _rows(usage, [("Measure", "name"), ("Value", "value"), ("Unit", "unitCode")])
            )
    ident = root.get("identifier")
    target = ident if ident else "CRATE_DIR"
    parts.append(
        '<h2>Rerun it</h2><p>With <a href="https://pypi.org/project/preserve/">preserve</a>: '
        f"<code>preserve rerun {_e(target)}</code>. The rerun fetches the image and inputs, "
        "verifies their checksums, runs the recorded command and compares every output.</p>"
    )
    title = _e(root.get("name", "RO-Crate"))
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n"
    )
