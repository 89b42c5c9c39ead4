"""A facility-wide catalogue database: PostgreSQL, searched with its full-text search.

The search vector is a generated column (title, keywords and creators weighted
above the description) with a GIN index; the ``simple`` configuration, because
names of techniques, formats and people must not be stemmed. One connection per
server thread, in autocommit mode; writes are single transactions.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row

from preserve.catalogue.entry import Entry
from preserve.catalogue.query import FacetCount, Page, Query, Rerun
from preserve.catalogue.stores import (
    FULL_COLUMNS,
    SUMMARY_COLUMNS,
    entry_from_row,
    facet_counts,
    facet_rows,
    rerun_from_row,
    row_values,
    top_facets,
)
from preserve.errors import ConfigError

SCHEMA = """
CREATE TABLE IF NOT EXISTS functions (
    id BIGSERIAL PRIMARY KEY,
    doi TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL, description TEXT, version TEXT,
    creators TEXT, keywords TEXT, formats TEXT,
    published TEXT, license TEXT, crate_ref TEXT, image_ref TEXT,
    url TEXT, state TEXT, indexed TEXT,
    attributes TEXT, details TEXT, crate TEXT,
    search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', coalesce(title, '')), 'A')
        || setweight(to_tsvector('simple', coalesce(keywords, '') || ' '
                                 || coalesce(creators, '')), 'B')
        || setweight(to_tsvector('simple', coalesce(formats, '') || ' ' || doi), 'C')
        || setweight(to_tsvector('simple', coalesce(description, '')), 'D')
    ) STORED
);
CREATE INDEX IF NOT EXISTS functions_search ON functions USING GIN (search);
CREATE INDEX IF NOT EXISTS functions_published ON functions (published DESC, doi);
CREATE TABLE IF NOT EXISTS facets (
    function_id BIGINT NOT NULL REFERENCES functions (id) ON DELETE CASCADE,
    kind TEXT NOT NULL, value TEXT NOT NULL, key TEXT NOT NULL,
    PRIMARY KEY (kind, key, function_id)
);
CREATE INDEX IF NOT EXISTS facets_function ON facets (function_id);
CREATE INDEX IF NOT EXISTS facets_values ON facets (kind, key, value);
CREATE TABLE IF NOT EXISTS reruns (
    id BIGSERIAL PRIMARY KEY,
    doi TEXT NOT NULL, at TEXT NOT NULL, reproduced BOOLEAN,
    verdicts TEXT, reporter TEXT
);
CREATE INDEX IF NOT EXISTS reruns_doi ON reruns (doi, at DESC);
"""
_SCHEMA_LOCK = 72_616_263  # an advisory lock: two servers starting at once create it once


class PostgresCatalogue:
    name = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self._local = threading.local()
        self._connections: list[psycopg.Connection[dict[str, Any]]] = []
        self._lock = threading.Lock()
        with self._con().transaction():
            self._con().execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            self._con().execute(SCHEMA)

    def _con(self) -> psycopg.Connection[dict[str, Any]]:
        con: psycopg.Connection[dict[str, Any]] | None = getattr(self._local, "con", None)
        if con is None or con.closed:
            try:
                con = psycopg.connect(
                    self.url, autocommit=True, row_factory=dict_row, connect_timeout=10
                )
            except psycopg.Error as exc:
                raise ConfigError(
                    f"cannot connect to the catalogue database: {str(exc).splitlines()[0]}",
                    hint="check the --database URL (postgresql://USER@HOST:PORT/DATABASE) "
                    "and that PostgreSQL accepts the connection",
                ) from exc
            self._local.con = con
            with self._lock:
                self._connections.append(con)
        return con

    def put(self, entry: Entry) -> bool:
        values = row_values(entry)
        columns = ", ".join(values)
        marks = ", ".join(f"%({k})s" for k in values)
        updates = ", ".join(f"{k} = EXCLUDED.{k}" for k in values if k != "doi")
        con = self._con()
        with con.transaction():
            row = con.execute(
                f"INSERT INTO functions ({columns}) VALUES ({marks}) "
                f"ON CONFLICT (doi) DO UPDATE SET {updates} RETURNING id, (xmax = 0) AS new",
                values,
            ).fetchone()
            assert row is not None
            con.execute("DELETE FROM facets WHERE function_id = %s", (row["id"],))
            with con.cursor() as cur:
                cur.executemany(
                    "INSERT INTO facets (function_id, kind, value, key) VALUES (%s, %s, %s, %s)",
                    [(row["id"], *r) for r in facet_rows(entry)],
                )
        return bool(row["new"])

    def get(self, doi: str) -> Entry | None:
        row = (
            self._con()
            .execute(
                f"SELECT {FULL_COLUMNS} FROM functions WHERE doi = %s",
                (doi.lower(),),
            )
            .fetchone()
        )
        return entry_from_row(row) if row else None

    def _where(self, query: Query) -> tuple[str, list[Any]]:
        where, params = ["TRUE"], []
        if query.terms:
            where.append("f.search @@ to_tsquery('simple', %s)")
            params.append(_tsquery(query))
        for kind, key in query.filters().items():
            where.append("f.id IN (SELECT function_id FROM facets WHERE kind = %s AND key = %s)")
            params += [kind, key]
        if query.date_from:
            where.append("f.published >= %s")
            params.append(query.date_from)
        if query.upper_date:
            where.append("f.published <= %s")
            params.append(query.upper_date)
        return " AND ".join(where), params

    def search(self, query: Query, *, facets: bool = True) -> Page:
        """As the SQLite store: one ranked scan, then the page by id (see there)."""
        con = self._con()
        where, params = self._where(query)
        if query.terms:
            order = "ts_rank(f.search, to_tsquery('simple', %s)) DESC, f.published DESC, f.doi"
            order_params = [_tsquery(query)]
        else:
            order, order_params = "f.published DESC, f.doi", []
        if where == "TRUE":  # the whole catalogue: no scan of every row
            return self._everything(query, facets)
        with con.cursor(row_factory=tuple_row) as cur:
            hits = cur.execute(
                f"SELECT f.id, f.creators, f.keywords, f.formats FROM functions f WHERE {where}"
                f" ORDER BY {order}",
                [*params, *order_params],
            ).fetchall()
        ids = [h[0] for h in hits[query.offset : query.offset + query.per_page]]
        rows = con.execute(
            f"SELECT id, {SUMMARY_COLUMNS} FROM functions WHERE id = ANY(%s)", (ids,)
        ).fetchall()
        by_id = {r["id"]: entry_from_row(r) for r in rows}
        counts = facet_counts(hits) if facets else {}
        return Page(query, len(hits), tuple(by_id[i] for i in ids), counts)

    def _everything(self, query: Query, facets: bool) -> Page:
        """The unfiltered catalogue: a page by the date index, facets by their own index."""
        con = self._con()
        rows = con.execute(
            f"SELECT {SUMMARY_COLUMNS} FROM functions ORDER BY published DESC, doi"
            " LIMIT %s OFFSET %s",
            (query.per_page, query.offset),
        ).fetchall()
        total = con.execute("SELECT count(*) AS n FROM functions").fetchone()
        counts: dict[str, tuple[FacetCount, ...]] = {}
        if facets:
            grouped = con.execute(
                "SELECT kind, min(value) AS v, count(*) AS n FROM facets GROUP BY kind, key"
            ).fetchall()
            counts = top_facets((str(g["kind"]), str(g["v"]), int(g["n"])) for g in grouped)
        n = int(total["n"]) if total else 0
        return Page(query, n, tuple(entry_from_row(r) for r in rows), counts)

    def add_rerun(self, rerun: Rerun) -> None:
        self._con().execute(
            "INSERT INTO reruns (doi, at, reproduced, verdicts, reporter)"
            " VALUES (%s, %s, %s, %s, %s)",
            (
                rerun.doi,
                rerun.when,
                rerun.reproduced,
                json.dumps(dict(rerun.verdicts)),
                rerun.reporter,
            ),
        )

    def reruns(self, doi: str, limit: int = 20) -> list[Rerun]:
        rows = (
            self._con()
            .execute(
                "SELECT doi, at, reproduced, verdicts, reporter FROM reruns WHERE doi = %s"
                " ORDER BY at DESC, id DESC LIMIT %s",
                (doi.lower(), limit),
            )
            .fetchall()
        )
        return [rerun_from_row(r) for r in rows]

    def count(self) -> int:
        row = self._con().execute("SELECT count(*) AS n FROM functions").fetchone()
        return int(row["n"]) if row else 0

    def close(self) -> None:
        with self._lock:
            for con in self._connections:
                con.close()
            self._connections.clear()
        self._local = threading.local()


def _tsquery(query: Query) -> str:
    """All the words, each as a prefix; ``\\w`` words hold no tsquery operator."""
    return " & ".join(f"{t}:*" for t in query.terms)
