"""The sandbox's landing pages: one small static HTML page per DOI.

A DOI must resolve to a landing page; sandbox DOIs resolve nowhere, so the
sandbox writes the page itself and registers its ``file://`` URL. The page
carries FAIR Signposting links (``cite-as`` the DOI, ``describedby`` the
DataCite XML written next to it, ``item`` the crate's metadata blob) so machines can
follow it as they would a real repository's page.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

from preserve.doi.links import METADATA_RELATION, pinned_refs
from preserve.doi.metadata import NOT_RESOLVABLE
from preserve.doi.validation import to_xml
from preserve.errors import DoiError
from preserve.secrets import redact_data

STYLE = (
    "body{font-family:sans-serif;max-width:50em;margin:2em auto;line-height:1.4}"
    ".notice{border:3px solid #c00;background:#fee;padding:1em;font-weight:bold}"
    "code{background:#eee;padding:0 .2em}"
)


def page_path(landing_dir: Path, doi: str) -> Path:
    """``landing_dir/<prefix>/<suffix>.html``; refuses DOIs that would escape the directory."""
    parts = doi.lower().split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise DoiError(f"DOI {doi!r} cannot name a landing page file")
    return landing_dir.joinpath(*parts[:-1], parts[-1] + ".html")


def _text(items: object, key: str) -> list[str]:
    if not isinstance(items, list):
        return []
    return [str(i[key]) for i in items if isinstance(i, Mapping) and i.get(key)]


def _row(label: str, value: str) -> str:
    return f"<tr><th>{escape(label)}</th><td>{value}</td></tr>"


def render(doi: str, state: str, attributes: Mapping[str, Any], xml_name: str) -> str:
    """The landing page HTML for ``doi``."""
    title = (_text(attributes.get("titles"), "title") or [doi])[0]
    crate, image = pinned_refs(attributes)
    crate_url = next(
        (
            str(r["relatedIdentifier"])
            for r in attributes.get("relatedIdentifiers") or []
            if isinstance(r, Mapping)
            and r.get("relationType") in (METADATA_RELATION, "IsIdenticalTo")
        ),
        None,
    )
    doi_url = f"https://doi.org/{doi}"
    links = [
        f'<link rel="cite-as" href="{escape(doi_url)}">',
        f'<link rel="describedby" href="{escape(xml_name)}" '
        'type="application/vnd.datacite.datacite+xml">',
    ]
    if crate_url:
        links.append(f'<link rel="item" href="{escape(crate_url)}">')
    rows = [
        _row("DOI", f"<code>{escape(doi)}</code> ({escape(state)})"),
        _row("Creators", escape("; ".join(_text(attributes.get("creators"), "name")))),
        _row("Version", escape(str(attributes.get("version") or "-"))),
        _row("Year", escape(str(attributes.get("publicationYear") or "-"))),
        _row("Crate (pinned)", f"<code>{escape(str(crate) if crate else '-')}</code>"),
        _row("Image (pinned)", f"<code>{escape(str(image) if image else '-')}</code>"),
    ]
    abstract = _text(
        [
            d
            for d in attributes.get("descriptions") or []
            if isinstance(d, Mapping) and d.get("descriptionType") == "Abstract"
        ],
        "description",
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(title)}</title>",
            *links,
            f"<style>{STYLE}</style></head><body>",
            f'<p class="notice">{escape(NOT_RESOLVABLE)} It resolves only on the machine '
            "that minted it.</p>",
            f"<h1>{escape(title)}</h1>",
            *(f"<p>{escape(a)}</p>" for a in abstract),
            "<table>",
            *rows,
            "</table>",
            "<h2>Rerun</h2>",
            f"<pre><code>preserve rerun {escape(doi)}</code></pre>",
            "<p>fetches the pinned crate and image, verifies their digests and the input "
            "checksums, reruns the analysis and compares its outputs with the published ones.</p>",
            "</body></html>",
            "",
        ]
    )


def write_page(landing_dir: Path, doi: str, state: str, attributes: Mapping[str, Any]) -> Path:
    """Write the page and its DataCite XML; return the page path."""
    attributes = redact_data(attributes)  # a page is public: no credential, whatever the record
    path = page_path(landing_dir, doi)
    path.parent.mkdir(parents=True, exist_ok=True)
    xml_path = path.with_suffix(".xml")
    xml_path.write_text(to_xml(attributes), encoding="utf-8")
    path.write_text(render(doi, state, attributes, xml_path.name), encoding="utf-8")
    return path
