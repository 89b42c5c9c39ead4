"""The embedded default catalogue database: SQLite, searched with FTS5.

One connection per thread (the web server answers from a thread pool), WAL
journal so readers never wait for a writer. The FTS5 table mirrors the
searchable columns by rowid and is written in the same transaction as the entry.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from preserve.catalogue.entry import Entry
from preserve.catalogue.query import Query
from preserve.catalogue.sql import ENTRY_COLUMNS, SqlCatalogue, TextMatch, side_tables
from preserve.catalogue.stores import facet_rows, row_values
from preserve.errors import ConfigError

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS functions (
    id INTEGER PRIMARY KEY,
    {ENTRY_COLUMNS.strip()}
);
-- The large documents apart: searches scan small rows only.
CREATE TABLE IF NOT EXISTS documents (
    function_id INTEGER PRIMARY KEY REFERENCES functions (id) ON DELETE CASCADE,
    attributes TEXT, details TEXT, crate TEXT
);
CREATE VIRTUAL TABLE IF NOT EXISTS functions_fts USING fts5(
    title, keywords, creators, formats, doi, description,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4'
);
""" + side_tables(key="INTEGER", serial="INTEGER", boolean="INTEGER")
# bm25 weights, in the order of the FTS columns: a title match ranks above a description one.
DOCUMENTS = ("attributes", "details", "crate")
RANK = "bm25(functions_fts, 10.0, 5.0, 3.0, 2.0, 1.0, 1.0)"


def _path(url: str) -> Path:
    parts = urlsplit(url)
    path = unquote(parts.netloc + parts.path) if parts.netloc else unquote(parts.path)
    if not path or path == "/":
        raise ConfigError(f"{url!r} names no SQLite file", hint="use sqlite:///PATH")
    return Path(path)


class SqliteCatalogue(SqlCatalogue[sqlite3.Connection]):
    name = "sqlite"
    FULL_SOURCE = "functions JOIN documents ON function_id = id"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.path = _path(url)
        self._con().executescript(SCHEMA)  # commits by itself

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"cannot open the catalogue database {self.path}: {exc}",
                hint="check the --database path and that its folder is writable",
            ) from exc
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA foreign_keys = ON")
        return con

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self._con().execute(sql, params).fetchall()]

    def _tuples(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Sequence[Any]]:
        rows: list[sqlite3.Row] = self._con().execute(sql, params).fetchall()
        return rows

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._con().execute(sql, params)

    def _match(self, query: Query) -> TextMatch:
        return TextMatch(
            " JOIN functions_fts ON functions_fts.rowid = f.id",
            "functions_fts MATCH ?",
            [" ".join(f'"{t}"*' for t in query.terms)],
            RANK,
            [],
        )

    def _write(self) -> Any:
        return _Transaction(self._con())

    def put(self, entry: Entry) -> bool:
        values = row_values(entry)
        documents = {k: values.pop(k) for k in DOCUMENTS}
        with self._write() as con:
            old = con.execute("SELECT id FROM functions WHERE doi = ?", (entry.doi,)).fetchone()
            if old is not None:
                con.execute("DELETE FROM functions_fts WHERE rowid = ?", (old["id"],))
                con.execute("DELETE FROM facets WHERE function_id = ?", (old["id"],))
                sets = ", ".join(f"{k} = :{k}" for k in values if k != "doi")
                con.execute(f"UPDATE functions SET {sets} WHERE doi = :doi", values)
                fid = old["id"]
            else:
                columns = ", ".join(values)
                marks = ", ".join(f":{k}" for k in values)
                fid = con.execute(
                    f"INSERT INTO functions ({columns}) VALUES ({marks})", values
                ).lastrowid
            con.execute(
                "INSERT INTO functions_fts (rowid, title, keywords, creators, formats, doi,"
                " description) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    fid,
                    values["title"],
                    values["keywords"],
                    values["creators"],
                    values["formats"],
                    entry.doi,
                    values["description"],
                ),
            )
            con.execute(
                "INSERT OR REPLACE INTO documents (function_id, attributes, details, crate)"
                " VALUES (:id, :attributes, :details, :crate)",
                {"id": fid, **documents},
            )
            con.executemany(
                "INSERT INTO facets (function_id, kind, value, key) VALUES (?, ?, ?, ?)",
                [(fid, *row) for row in facet_rows(entry)],
            )
        return old is None


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error): one writer at a time."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con

    def __enter__(self) -> sqlite3.Connection:
        self.con.execute("BEGIN IMMEDIATE")
        return self.con

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self.con.execute("COMMIT" if kind is None else "ROLLBACK")
