"""The report as one self-contained HTML page: inline CSS, no script, no network.

Images are referenced through ``src`` (a crate-relative file, or a data URI
for a report written elsewhere).
"""

from __future__ import annotations

import html
from collections.abc import Callable

from preserve.compare import OutputComparison
from preserve.compare.model import fmt_dev
from preserve.report.model import Figure, Report
from preserve.report.textdiff import diff_lines

STYLE = """
body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9rem}td,th{border:1px solid #ddd;padding:.3rem .5rem;
text-align:left;vertical-align:top}code{font-size:.85rem}figure{margin:1rem 0}
img{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:.85rem;color:#555}
.identical{color:#176f2c}.equivalent{color:#0b6e8a}.different,.missing{color:#b00020}
.verdict{font-weight:bold}pre.diff{font-size:.8rem;background:#fafafa;padding:.5rem;
overflow-x:auto;border:1px solid #eee}.add{background:#e6ffec;display:block}
.del{background:#ffebe9;display:block}.hunk{color:#6e7781;display:block}
"""


def render_html(report: Report, figures: list[Figure], src: Callable[[Figure], str]) -> str:
    verdict = "reproduced" if report.reproduced else "NOT reproduced"
    css = "identical" if report.reproduced else "different"
    parts = [
        f"<h1>{_e(report.title)}</h1>",
        f'<p class="verdict {css}" id="verdict">{verdict}</p>',
        "<dl>",
        f"<dt>Published</dt><dd><code>{_e(report.published)}</code></dd>",
        f"<dt>Rerun</dt><dd><code>{_e(report.rerun)}</code></dd>",
        f'<dt>Tolerance</dt><dd id="tolerance">{_e(report.tolerance.describe())}; a number '
        "agrees when |rerun − published| ≤ atol + rtol·|published|</dd>",
        "</dl>",
        _table(report.comparisons),
    ]
    for c in report.comparisons:
        parts.append(_section(report, c, [f for f in figures if f.output == c.path], src))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(report.title)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(parts)}</body></html>\n"
    )


def _table(comparisons: tuple[OutputComparison, ...]) -> str:
    rows = "".join(
        f'<tr><td><a href="#{_anchor(c.path)}"><code>{_e(c.path)}</code></a></td>'
        f'<td class="{c.verdict}">{c.verdict}</td>'
        f"<td>{_dev(c.max_abs)}</td><td>{_dev(c.max_rel)}</td></tr>"
        for c in comparisons
    )
    head = "<tr><th>Output</th><th>Verdict</th><th>Max abs dev</th><th>Max rel dev</th></tr>"
    return f"<table>{head}{rows}</table>"


def _section(
    report: Report, c: OutputComparison, figs: list[Figure], src: Callable[[Figure], str]
) -> str:
    parts = [
        f'<section class="output" id="{_anchor(c.path)}"><h2><code>{_e(c.path)}</code>: '
        f'<span class="{c.verdict}">{c.verdict}</span></h2><p>{_e(c.summary)}</p>'
    ]
    if c.verdict == "identical":  # one line
        return parts[0] + "</section>"
    if c.differences and c.verdict == "different":
        # The list replaces the summary, which repeats its first item.
        items = "".join(f"<li>{_e(d.describe())}</li>" for d in c.differences)
        more = f"<li>… and {c.omitted_differences} more</li>" if c.omitted_differences else ""
        parts = [parts[0].rsplit("<p>", 1)[0], f"<ul>{items}{more}</ul>"]
    for f in figs:
        parts.append(
            f'<figure><img src="{_e(src(f))}" alt="{_e(f.location)}">'
            f"<figcaption>{_e(f.caption)}</figcaption></figure>"
        )
    pair = report.sources.get(c.path)
    if c.format in ("text", "json") and pair and pair[1] is not None:
        parts.append(_diff(*diff_lines(pair[0], pair[1], c.format)))
    return "".join(parts) + "</section>"


def _diff(lines: list[str], cut: bool) -> str:
    def line(text: str) -> str:
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(text[:1])
        return f'<span class="{kind}">{_e(text)}</span>' if kind else _e(text) + "\n"

    note = "<p>(diff cut short: first part of the files only)</p>" if cut else ""
    return f'<pre class="diff">{"".join(line(t) for t in lines)}</pre>{note}'


def _dev(value: float | None) -> str:
    return "" if value is None else fmt_dev(value)


def _anchor(path: str) -> str:
    return "out-" + "".join(ch if ch.isalnum() else "-" for ch in path)


def _e(value: object) -> str:
    return html.escape(str(value))
