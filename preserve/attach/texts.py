"""Markdown and LaTeX text from templates, with every value escaped for its format.

Values from DOI records and crates are untrusted: a title must not open a LaTeX
command or a Markdown link. Each format has its own Jinja2 environment whose
``finalize`` escapes every printed value; :class:`Verbatim` marks text already
safe for the format (digests in code spans, URLs the ``url`` filter made safe).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal
from urllib.parse import quote

import jinja2

from preserve.citation.bibtex import LATEX_SPECIALS

Format = Literal["md", "tex"]

_TEX = {**LATEX_SPECIALS, "<": r"\textless{}", ">": r"\textgreater{}"}
_MD_SPECIAL = set("\\`*_{}[]()<>#+!|~")


class Verbatim(str):
    """Text that is already safe where the template puts it."""


def one_line(value: object) -> str:
    return " ".join(str(value).split())


def tex_escape(value: object) -> str:
    return "".join(_TEX.get(c, c) for c in one_line(value))


def md_escape(value: object) -> str:
    text = one_line(value).replace("&", "&amp;")
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in text)


def _finalize(fmt: Format) -> Any:
    def finalize(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, Verbatim):
            return str(value)
        return tex_escape(value) if fmt == "tex" else md_escape(value)

    return finalize


def _code(value: object) -> Verbatim:
    """Inline code: Markdown code span (no backticks inside), LaTeX ``\\texttt``."""
    return Verbatim("`" + one_line(value).replace("`", "'") + "`")


def _tex_code(value: object) -> Verbatim:
    return Verbatim(r"\texttt{" + tex_escape(value) + "}")


def _safe_url(value: object) -> str:
    # Percent-encode what could end a Markdown link or a LaTeX argument.
    return quote(one_line(value), safe="/:@?=&.+-_,;!*'~$")


def _md_url(value: object) -> Verbatim:
    url = _safe_url(value)
    return Verbatim(f"<{url}>" if url.startswith(("https://", "http://")) else "`" + url + "`")


def _tex_url(value: object) -> Verbatim:
    url = _safe_url(value).replace("%", r"\%").replace("#", r"\#").replace("~", "%7E")
    url = url.replace("$", "%24")
    return Verbatim(r"\url{" + url + "}")


@cache
def environment(fmt: Format) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("preserve.attach", "templates"),
        autoescape=False,  # finalize escapes for Markdown or LaTeX instead of HTML
        finalize=_finalize(fmt),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["code"] = _tex_code if fmt == "tex" else _code
    env.filters["url"] = _tex_url if fmt == "tex" else _md_url
    env.filters["code_block"] = lambda v: Verbatim(one_line(v).replace("`", "'"))
    return env


def render(template: str, fmt: Format, **values: Any) -> str:
    return environment(fmt).get_template(template).render(**values)
