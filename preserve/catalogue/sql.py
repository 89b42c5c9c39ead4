"""What the SQL catalogue stores share: a connection per server thread, and every read.

The databases differ in how they create their tables, write an entry and match
words (SQLite FTS5, PostgreSQL tsvector): those are the subclass's. The rest is
the same SQL with the driver's parameter mark (``?`` or ``%s``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any, Generic, Protocol, TypeVar

from preserve.catalogue.entry import Entry
from preserve.catalogue.query import FacetCount, Page, Query, Rerun
from preserve.catalogue.stores import (
    FULL_COLUMNS,
    SUMMARY_COLUMNS,
    entry_from_row,
    facet_counts,
    rerun_from_row,
    top_facets,
)

# The columns of a catalogue entry, as both databases declare them.
ENTRY_COLUMNS = """
    doi TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL, description TEXT, version TEXT,
    creators TEXT, keywords TEXT, formats TEXT,
    published TEXT, license TEXT, crate_ref TEXT, image_ref TEXT,
    url TEXT, state TEXT, indexed TEXT"""


def side_tables(*, key: str, serial: str, boolean: str) -> str:
    """The facet and rerun tables, in a database's names for an id, a new id and a boolean."""
    return f"""
CREATE INDEX IF NOT EXISTS functions_published ON functions (published DESC, doi);
CREATE TABLE IF NOT EXISTS facets (
    function_id {key} NOT NULL REFERENCES functions (id) ON DELETE CASCADE,
    kind TEXT NOT NULL, value TEXT NOT NULL, key TEXT NOT NULL,
    PRIMARY KEY (kind, key, function_id)
);
CREATE INDEX IF NOT EXISTS facets_function ON facets (function_id);
CREATE INDEX IF NOT EXISTS facets_values ON facets (kind, key, value);
CREATE TABLE IF NOT EXISTS reruns (
    id {serial} PRIMARY KEY,
    doi TEXT NOT NULL, at TEXT NOT NULL, reproduced {boolean},
    verdicts TEXT, reporter TEXT
);
CREATE INDEX IF NOT EXISTS reruns_doi ON reruns (doi, at DESC);
"""


class _Connection(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Connection)


class TextMatch:
    """How a store matches the words of a query: a join, a condition and a ranking."""

    def __init__(
        self, join: str, condition: str, params: list[Any], rank: str, rank_params: list[Any]
    ) -> None:
        self.join, self.condition, self.params = join, condition, params
        self.rank, self.rank_params = rank, rank_params


class SqlCatalogue(Generic[C]):
    """The reads of :class:`~preserve.catalogue.stores.CatalogueStore`, on one connection per
    thread (the web server answers from a thread pool)."""

    MARK = "?"
    FULL_SOURCE = "functions"  # where FULL_COLUMNS are read from

    def __init__(self) -> None:
        self._local = threading.local()
        self._connections: list[C] = []
        self._lock = threading.Lock()

    # -- what a database does its own way ------------------------------------------------

    def _connect(self) -> C:
        raise NotImplementedError

    def _is_open(self, con: C) -> bool:
        return True

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts (the columns named)."""
        raise NotImplementedError

    def _tuples(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Sequence[Any]]:
        """Rows as sequences (cheaper, for the scans)."""
        raise NotImplementedError

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    def _match(self, query: Query) -> TextMatch:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------

    def _con(self) -> C:
        con: C | None = getattr(self._local, "con", None)
        if con is None or not self._is_open(con):
            con = self._connect()
            self._local.con = con
            with self._lock:
                self._connections.append(con)
        return con

    def _sql(self, text: str) -> str:
        return text.replace("?", self.MARK)

    def get(self, doi: str) -> Entry | None:
        rows = self._rows(
            self._sql(f"SELECT {FULL_COLUMNS} FROM {self.FULL_SOURCE} WHERE doi = ?"),
            (doi.lower(),),
        )
        return entry_from_row(rows[0]) if rows else None

    def _where(self, query: Query) -> tuple[str, str, list[Any]]:
        """(FROM ..., WHERE ..., parameters) of a query; the WHERE is empty for none."""
        source, where, params = "functions f", [], []
        if query.terms:
            match = self._match(query)
            source += match.join
            where.append(match.condition)
            params += match.params
        for kind, key in query.filters().items():
            where.append("f.id IN (SELECT function_id FROM facets WHERE kind = ? AND key = ?)")
            params += [kind, key]
        if query.date_from:
            where.append("f.published >= ?")
            params.append(query.date_from)
        if query.upper_date:
            where.append("f.published <= ?")
            params.append(query.upper_date)
        return source, " AND ".join(where), params

    def search(self, query: Query, *, facets: bool = True) -> Page:
        """One scan finds every match in order (with its facet values); the page is then
        read by id, and the total and the facet counts come from that one scan."""
        source, where, params = self._where(query)
        if not where:  # the whole catalogue: no scan of every row
            return self._everything(query, facets)
        order, order_params = "f.published DESC, f.doi", []
        if query.terms:
            match = self._match(query)
            order, order_params = f"{match.rank}, {order}", match.rank_params
        hits = self._tuples(
            self._sql(
                f"SELECT f.id, f.creators, f.keywords, f.formats FROM {source} WHERE {where}"
                f" ORDER BY {order}"
            ),
            [*params, *order_params],
        )
        ids = [h[0] for h in hits[query.offset : query.offset + query.per_page]]
        rows = self._rows(
            self._sql(
                f"SELECT id, {SUMMARY_COLUMNS} FROM functions"
                f" WHERE id IN ({', '.join('?' for _ in ids) or 'NULL'})"
            ),
            ids,
        )
        by_id = {r["id"]: entry_from_row(r) for r in rows}
        counts = facet_counts(hits) if facets else {}
        return Page(query, len(hits), tuple(by_id[i] for i in ids), counts)

    def _everything(self, query: Query, facets: bool) -> Page:
        """The unfiltered catalogue: a page by the date index, facets by their own index."""
        rows = self._rows(
            self._sql(
                f"SELECT {SUMMARY_COLUMNS} FROM functions ORDER BY published DESC, doi"
                " LIMIT ? OFFSET ?"
            ),
            (query.per_page, query.offset),
        )
        counts: dict[str, tuple[FacetCount, ...]] = {}
        if facets:
            grouped = self._tuples(
                "SELECT kind, min(value), count(*) FROM facets GROUP BY kind, key"
            )
            counts = top_facets((str(k), str(v), int(n)) for k, v, n in grouped)
        return Page(query, self.count(), tuple(entry_from_row(r) for r in rows), counts)

    def add_rerun(self, rerun: Rerun) -> None:
        """One statement: atomic on its own in both databases' autocommit mode."""
        self._execute(
            self._sql(
                "INSERT INTO reruns (doi, at, reproduced, verdicts, reporter)"
                " VALUES (?, ?, ?, ?, ?)"
            ),
            (
                rerun.doi,
                rerun.when,
                rerun.reproduced,
                json.dumps(dict(rerun.verdicts)),
                rerun.reporter,
            ),
        )

    def reruns(self, doi: str, limit: int = 20) -> list[Rerun]:
        rows = self._rows(
            self._sql(
                "SELECT doi, at, reproduced, verdicts, reporter FROM reruns WHERE doi = ?"
                " ORDER BY at DESC, id DESC LIMIT ?"
            ),
            (doi.lower(), limit),
        )
        return [rerun_from_row(r) for r in rows]

    def count(self) -> int:
        return int(self._tuples("SELECT count(*) FROM functions")[0][0])

    def close(self) -> None:
        with self._lock:
            for con in self._connections:
                con.close()
            self._connections.clear()
        self._local = threading.local()
