"""BibTeX and RIS records from a CSL-JSON item (data formats: no CSL style applies).

Every value is untrusted text: BibTeX specials are escaped and braces balanced
away, RIS values are kept on one line, so a title cannot end a field or a record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

LATEX_SPECIALS = {  # BibTeX values are LaTeX text
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "^": r"\textasciicircum{}",
    "~": r"\textasciitilde{}",
}
RIS_TYPES = {"software": "COMP", "dataset": "DATA", "article-journal": "JOUR", "report": "RPRT"}


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def bibtex_escape(text: object) -> str:
    return "".join(LATEX_SPECIALS.get(c, c) for c in _one_line(text))


def _name(name: Mapping[str, Any]) -> str:
    if "literal" in name:
        return "{" + bibtex_escape(name["literal"]) + "}"  # an organisation: never split
    given = f", {bibtex_escape(name['given'])}" if name.get("given") else ""
    return bibtex_escape(name.get("family", "")) + given


def bibtex_key(doi: str) -> str:
    return re.sub(r"[^A-Za-z0-9._:/-]", "_", doi)


def _year(item: Mapping[str, Any]) -> str | None:
    parts = (item.get("issued") or {}).get("date-parts") or [[]]
    return str(parts[0][0]) if parts and parts[0] else None


def bibtex(item: Mapping[str, Any]) -> str:
    """A ``@misc`` entry (classic BibTeX has no software type; biblatex reads it too)."""
    fields = [
        ("title", "{" + bibtex_escape(item.get("title", "")) + "}"),
        ("author", " and ".join(_name(a) for a in item.get("author") or [])),
        ("year", _year(item)),
        ("publisher", item.get("publisher") and bibtex_escape(item["publisher"])),
        ("version", item.get("version") and bibtex_escape(item["version"])),
        ("doi", bibtex_escape(item["DOI"])),
        ("url", bibtex_escape(item["URL"])),
        ("keywords", item.get("keyword") and bibtex_escape(item["keyword"])),
    ]
    kind = {"software": "Computer software", "dataset": "Dataset"}.get(str(item.get("type")))
    if kind:
        fields.append(("howpublished", kind))
    body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields if v)
    return f"@misc{{{bibtex_key(str(item['id']))},\n{body}\n}}\n"


def ris(item: Mapping[str, Any]) -> str:
    """An RIS record (https://en.wikipedia.org/wiki/RIS_(file_format)), one tag a line."""
    lines: list[tuple[str, object]] = [("TY", RIS_TYPES.get(str(item.get("type")), "GEN"))]
    lines += [("AU", _ris_name(a)) for a in item.get("author") or []]
    lines += [
        ("TI", item.get("title")),
        ("PY", _year(item)),
        ("PB", item.get("publisher")),
        ("ET", item.get("version")),
        ("DO", item.get("DOI")),
        ("UR", item.get("URL")),
        ("AB", item.get("abstract")),
    ]
    lines += [("KW", k.strip()) for k in str(item.get("keyword") or "").split(",") if k.strip()]
    lines.append(("ER", ""))
    return "".join(f"{tag}  - {_one_line(v)}\r\n" for tag, v in lines if v is not None)


def _ris_name(name: Mapping[str, Any]) -> str:
    if "literal" in name:
        return str(name["literal"])
    return ", ".join(str(name[k]) for k in ("family", "given") if name.get(k))
