"""A facility-wide catalogue database: PostgreSQL, searched with its full-text search.

The search vector is a generated column (title, keywords and creators weighted
above the description) with a GIN index; the ``simple`` configuration, because
names of techniques, formats and people must not be stemmed. One connection per
server thread, in autocommit mode; writes are single transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row

from preserve.catalogue.entry import Entry
from preserve.catalogue.query import Query
from preserve.catalogue.sql import ENTRY_COLUMNS, SqlCatalogue, TextMatch, side_tables
from preserve.catalogue.stores import facet_rows, row_values
from preserve.errors import ConfigError

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS functions (
    id BIGSERIAL PRIMARY KEY,
    {ENTRY_COLUMNS.strip()},
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
""" + side_tables(key="BIGINT", serial="BIGSERIAL", boolean="BOOLEAN")
_SCHEMA_LOCK = 72_616_263  # an advisory lock: two servers starting at once create it once


class PostgresCatalogue(SqlCatalogue[psycopg.Connection[dict[str, Any]]]):
    name = "postgresql"
    MARK = "%s"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        with self._con().transaction():
            self._con().execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            self._con().execute(SCHEMA)

    def _connect(self) -> psycopg.Connection[dict[str, Any]]:
        try:
            return psycopg.connect(
                self.url, autocommit=True, row_factory=dict_row, connect_timeout=10
            )
        except psycopg.Error as exc:
            raise ConfigError(
                f"cannot connect to the catalogue database: {str(exc).splitlines()[0]}",
                hint="check the --database URL (postgresql://USER@HOST:PORT/DATABASE) "
                "and that PostgreSQL accepts the connection",
            ) from exc

    def _is_open(self, con: psycopg.Connection[dict[str, Any]]) -> bool:
        return not con.closed

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self._con().execute(sql, params).fetchall()

    def _tuples(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Sequence[Any]]:
        with self._con().cursor(row_factory=tuple_row) as cur:
            return cur.execute(sql, params).fetchall()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._con().execute(sql, params)

    def _match(self, query: Query) -> TextMatch:
        words = " & ".join(f"{t}:*" for t in query.terms)  # \w words hold no tsquery operator
        return TextMatch(
            "",
            "f.search @@ to_tsquery('simple', ?)",
            [words],
            "ts_rank(f.search, to_tsquery('simple', ?)) DESC",
            [words],
        )

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
