"""Where the catalogue keeps its entries: one Protocol, one module per database.

Implementations are registered in the entry-point group
``preserve.catalogue_stores`` under their URL scheme: ``sqlite`` (the embedded
default, SQLite FTS5) and ``postgresql`` (full-text search on a GIN index).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from preserve import plugins
from preserve.catalogue.entry import Entry
from preserve.catalogue.query import FACETS, FacetCount, Page, Query, Rerun
from preserve.errors import ConfigError
from preserve.settings import Settings

SUMMARY_COLUMNS = (
    "doi, title, description, version, creators, keywords, formats, published, license, "
    "crate_ref, image_ref, url, state, indexed"
)
FULL_COLUMNS = f"{SUMMARY_COLUMNS}, attributes, details, crate"


class CatalogueStore(Protocol):
    def put(self, entry: Entry) -> bool:
        """Insert or replace the entry of ``entry.doi``; True when it is new."""

    def get(self, doi: str) -> Entry | None:
        """The full entry (attributes, details, crate JSON-LD), or None."""

    def search(self, query: Query, *, facets: bool = True) -> Page:
        """Matching entries, best first, one page of them, and facet counts."""

    def add_rerun(self, rerun: Rerun) -> None:
        """Record a reported rerun of a catalogued DOI."""

    def reruns(self, doi: str, limit: int = 20) -> list[Rerun]:
        """The latest reported reruns of ``doi``, newest first."""

    def count(self) -> int:
        """How many entries the catalogue holds."""

    def close(self) -> None: ...


def database_url(settings: Settings) -> str:
    return settings.catalogue.database or f"sqlite:///{settings.data_dir / 'catalogue.sqlite'}"


def open_catalogue(url: str) -> CatalogueStore:
    """The store for a database URL: ``sqlite:///PATH`` or ``postgresql://...``."""
    scheme = url.split(":", 1)[0].lower()
    scheme = {"postgres": "postgresql", "postgresql+psycopg": "postgresql"}.get(scheme, scheme)
    if "://" not in url:
        raise ConfigError(
            f"{url!r} is not a database URL",
            hint="use sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE",
        )
    factory = plugins.load(plugins.CATALOGUE_STORES, scheme)
    store: CatalogueStore = factory(url)
    return store


# -- rows <-> entries, shared by the SQL stores --------------------------------------------


def lines(values: Sequence[str]) -> str:
    """A list as stored: one value a line (values never hold a newline: they are folded)."""
    return "\n".join(" ".join(v.split()) for v in values)


def row_values(entry: Entry) -> dict[str, Any]:
    return {
        "doi": entry.doi,
        "title": entry.title,
        "description": entry.description,
        "version": entry.version,
        "creators": lines(entry.creators),
        "keywords": lines(entry.keywords),
        "formats": lines(entry.formats),
        "published": entry.published,
        "license": entry.license,
        "crate_ref": entry.crate_ref,
        "image_ref": entry.image_ref,
        "url": entry.url,
        "state": entry.state,
        "indexed": entry.indexed,
        "attributes": json.dumps(entry.attributes),
        "details": json.dumps(entry.details),
        "crate": entry.crate_jsonld,
    }


def facet_rows(entry: Entry) -> list[tuple[str, str, str]]:
    """(kind, value, folded key) of every facet value of the entry."""
    rows = {}
    for kind, values in (
        ("creator", entry.creators),
        ("format", entry.formats),
        ("keyword", entry.keywords),
    ):
        for value in values:
            value = " ".join(value.split())
            rows[(kind, value.casefold())] = value
    return [(kind, value, key) for (kind, key), value in rows.items()]


def facet_counts(hits: Iterable[Sequence[Any]], top: int = 10) -> dict[str, tuple[FacetCount, ...]]:
    """The ``top`` values of each facet among ``hits`` (rows of id, creators, keywords,
    formats), counted here from the one scan that found the matches: values are counted
    as stored (C-speed ``Counter.update``), then merged case-insensitively."""
    raw: dict[str, Counter[str]] = {k: Counter() for k in ("creator", "keyword", "format")}
    for _, creators, keywords, formats in hits:
        for kind, text in (("creator", creators), ("keyword", keywords), ("format", formats)):
            if text:
                raw[kind].update(text.split("\n"))
    out = {}
    for kind in FACETS:
        merged: Counter[str] = Counter()
        names: dict[str, str] = {}
        for value, n in raw[kind].items():
            key = value.casefold()
            merged[key] += n
            names.setdefault(key, value)
        ranked = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        out[kind] = tuple(FacetCount(names[key], n) for key, n in ranked)
    return out


def top_facets(
    grouped: Iterable[tuple[str, str, int]], top: int = 10
) -> dict[str, tuple[FacetCount, ...]]:
    """The ``top`` values of each facet from (kind, value, count) rows grouped in SQL."""
    out: dict[str, list[FacetCount]] = {k: [] for k in FACETS}
    for kind, value, n in grouped:
        out.setdefault(kind, []).append(FacetCount(value, n))
    return {
        k: tuple(sorted(v, key=lambda f: (-f.count, f.value.casefold()))[:top])
        for k, v in out.items()
    }


def entry_from_row(row: Mapping[str, Any]) -> Entry:
    def split(value: object) -> tuple[str, ...]:
        return tuple(v for v in str(value or "").split("\n") if v)

    return Entry(
        doi=row["doi"],
        title=row["title"],
        description=row["description"] or "",
        version=row["version"],
        creators=split(row["creators"]),
        keywords=split(row["keywords"]),
        formats=split(row["formats"]),
        published=row["published"] or "",
        license=row["license"],
        crate_ref=row["crate_ref"],
        image_ref=row["image_ref"],
        url=row["url"],
        state=row["state"],
        indexed=row["indexed"] or "",
        attributes=json.loads(row["attributes"]) if row.get("attributes") else {},
        details=json.loads(row["details"]) if row.get("details") else {},
        crate_jsonld=row.get("crate"),
    )


def rerun_from_row(row: Mapping[str, Any]) -> Rerun:
    reproduced = row["reproduced"]
    return Rerun(
        doi=row["doi"],
        reproduced=None if reproduced is None else bool(reproduced),
        verdicts=json.loads(row["verdicts"] or "{}"),
        when=row["at"],
        reporter=row["reporter"] or "",
    )
