"""Catalogue searches: what a client may ask (checked here) and what it gets back."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from preserve.catalogue.entry import Entry
from preserve.errors import PreserveError

FACETS = ("creator", "format", "keyword")
MAX_PER_PAGE = 100
MAX_TERMS = 12
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


class QueryError(PreserveError):
    """A search parameter is malformed (HTTP 400 for the service)."""


@dataclass(frozen=True)
class Query:
    q: str = ""
    creator: str | None = None
    format: str | None = None
    keyword: str | None = None  # names the instrument or technique
    date_from: str | None = None  # YYYY[-MM[-DD]]
    date_to: str | None = None
    page: int = 1
    per_page: int = 20

    @property
    def terms(self) -> list[str]:
        """The words of ``q``, lower-cased: matched as prefixes, all of them."""
        return re.findall(r"\w+", self.q.casefold())[:MAX_TERMS]

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def filters(self) -> dict[str, str]:
        """Facet filters, values folded as stored (``key`` columns)."""
        chosen = {"creator": self.creator, "format": self.format, "keyword": self.keyword}
        return {k: v.casefold() for k, v in chosen.items() if v}

    @property
    def upper_date(self) -> str | None:
        """``date_to`` as an inclusive upper bound for YYYY-MM-DD text."""
        if not self.date_to:
            return None
        return self.date_to + {4: "-99-99", 7: "-99"}.get(len(self.date_to), "")

    def params(self, **changes: Any) -> dict[str, str]:
        """The query as URL parameters (for links to other pages)."""
        values = {
            "q": self.q,
            "creator": self.creator,
            "format": self.format,
            "keyword": self.keyword,
            "from": self.date_from,
            "to": self.date_to,
            "page": str(self.page),
            "per_page": str(self.per_page),
        }
        values.update({k: str(v) if v is not None else None for k, v in changes.items()})
        return {k: v for k, v in values.items() if v}


def parse_query(params: Mapping[str, str]) -> Query:
    """A :class:`Query` from URL parameters; QueryError names a bad one."""

    def number(name: str, default: int, low: int, high: int) -> int:
        text = params.get(name) or str(default)
        if not text.isdigit() or not low <= int(text) <= high:
            raise QueryError(f"{name} must be a whole number from {low} to {high}")
        return int(text)

    dates = {k: (params.get(k) or "").strip() or None for k in ("from", "to")}
    for key, value in dates.items():
        if value and not _DATE.match(value):
            raise QueryError(f"{key} must be a date YYYY, YYYY-MM or YYYY-MM-DD")
    text = {k: (params.get(k) or "").strip()[:200] or None for k in FACETS}
    return Query(
        q=(params.get("q") or "")[:500],
        creator=text["creator"],
        format=text["format"],
        keyword=text["keyword"],
        date_from=dates["from"],
        date_to=dates["to"],
        page=number("page", 1, 1, 10_000),
        per_page=number("per_page", 20, 1, MAX_PER_PAGE),
    )


@dataclass(frozen=True)
class FacetCount:
    value: str
    count: int


@dataclass(frozen=True)
class Page:
    query: Query
    total: int
    items: tuple[Entry, ...]
    facets: Mapping[str, tuple[FacetCount, ...]] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.per_page))

    def to_json(self, base: str) -> dict[str, Any]:
        from urllib.parse import urlencode

        q = self.query
        links = {}
        if q.page < self.pages:
            links["next"] = f"{base}?{urlencode(q.params(page=q.page + 1))}"
        if q.page > 1:
            links["prev"] = f"{base}?{urlencode(q.params(page=q.page - 1))}"
        return {
            "total": self.total,
            "page": q.page,
            "per_page": q.per_page,
            "pages": self.pages,
            "items": [e.summary() for e in self.items],
            "facets": {
                k: [{"value": f.value, "count": f.count} for f in v] for k, v in self.facets.items()
            },
            "links": links,
        }


@dataclass(frozen=True)
class Rerun:
    """A rerun someone reported: when, by what, and the verdict."""

    doi: str
    reproduced: bool | None
    verdicts: Mapping[str, str]  # output path -> identical / equivalent / different / missing
    when: str
    reporter: str = ""
