"""The embedded default catalogue database: SQLite, searched with FTS5.

One connection per thread (the web server answers from a thread pool), WAL
journal so readers never wait for a writer. The FTS5 table mirrors the
searchable columns by rowid and is written in the same transaction as the entry.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

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
    id INTEGER PRIMARY KEY,
    doi TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL, description TEXT, version TEXT,
    creators TEXT, keywords TEXT, formats TEXT,
    published TEXT, license TEXT, crate_ref TEXT, image_ref TEXT,
    url TEXT, state TEXT, indexed TEXT
);
-- The large documents apart: searches scan small rows only.
CREATE TABLE IF NOT EXISTS documents (
    function_id INTEGER PRIMARY KEY REFERENCES functions (id) ON DELETE CASCADE,
    attributes TEXT, details TEXT, crate TEXT
);
CREATE INDEX IF NOT EXISTS functions_published ON functions (published DESC, doi);
CREATE VIRTUAL TABLE IF NOT EXISTS functions_fts USING fts5(
    title, keywords, creators, formats, doi, description,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4'
);
CREATE TABLE IF NOT EXISTS facets (
    function_id INTEGER NOT NULL REFERENCES functions (id) ON DELETE CASCADE,
    kind TEXT NOT NULL, value TEXT NOT NULL, key TEXT NOT NULL,
    PRIMARY KEY (kind, key, function_id)
);
CREATE INDEX IF NOT EXISTS facets_function ON facets (function_id);
CREATE INDEX IF NOT EXISTS facets_values ON facets (kind, key, value);
CREATE TABLE IF NOT EXISTS reruns (
    id INTEGER PRIMARY KEY,
    doi TEXT NOT NULL, at TEXT NOT NULL, reproduced INTEGER,
    verdicts TEXT, reporter TEXT
);
CREATE INDEX IF NOT EXISTS reruns_doi ON reruns (doi, at DESC);
"""
# bm25 weights, in the order of the FTS columns: a title match ranks above a description one.
DOCUMENTS = ("attributes", "details", "crate")
RANK = "bm25(functions_fts, 10.0, 5.0, 3.0, 2.0, 1.0, 1.0)"


def _path(url: str) -> Path:
    parts = urlsplit(url)
    path = unquote(parts.netloc + parts.path) if parts.netloc else unquote(parts.path)
    if not path or path == "/":
        raise ConfigError(f"{url!r} names no SQLite file", hint="use sqlite:///PATH")
    return Path(path)


class SqliteCatalogue:
    name = "sqlite"

    def __init__(self, url: str) -> None:
        self.path = _path(url)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._con().executescript(SCHEMA)  # commits by itself

    def _con(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
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
            self._local.con = con
            with self._lock:
                self._connections.append(con)
        return con

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

    def get(self, doi: str) -> Entry | None:
        row = (
            self._con()
            .execute(
                f"SELECT {FULL_COLUMNS} FROM functions JOIN documents ON function_id = id"
                " WHERE doi = ?",
                (doi.lower(),),
            )
            .fetchone()
        )
        return entry_from_row(dict(row)) if row else None

    def _where(self, query: Query) -> tuple[str, str, list[Any]]:
        """(FROM ..., WHERE ..., parameters) of a query."""
        source, where, params = "functions f", ["1 = 1"], []
        if query.terms:
            source += " JOIN functions_fts ON functions_fts.rowid = f.id"
            where.append("functions_fts MATCH ?")
            params.append(" ".join(f'"{t}"*' for t in query.terms))
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
        con = self._con()
        source, where, params = self._where(query)
        order = f"{RANK}, f.published DESC, f.doi" if query.terms else "f.published DESC, f.doi"
        if where == "1 = 1":  # the whole catalogue: no scan of every row
            return self._everything(query, facets)
        hits = con.execute(
            f"SELECT f.id, f.creators, f.keywords, f.formats FROM {source} WHERE {where}"
            f" ORDER BY {order}",
            params,
        ).fetchall()
        ids = [h[0] for h in hits[query.offset : query.offset + query.per_page]]
        marks = ", ".join("?" for _ in ids)
        rows = con.execute(
            f"SELECT id, {SUMMARY_COLUMNS} FROM functions WHERE id IN ({marks})", ids
        ).fetchall()
        by_id = {r["id"]: entry_from_row(dict(r)) for r in rows}
        counts = facet_counts(hits) if facets else {}
        return Page(query, len(hits), tuple(by_id[i] for i in ids), counts)

    def _everything(self, query: Query, facets: bool) -> Page:
        """The unfiltered catalogue: a page by the date index, facets by their own index."""
        con = self._con()
        rows = con.execute(
            f"SELECT {SUMMARY_COLUMNS} FROM functions ORDER BY published DESC, doi"
            " LIMIT ? OFFSET ?",
            (query.per_page, query.offset),
        ).fetchall()
        total = con.execute("SELECT count(*) FROM functions").fetchone()[0]
        counts: dict[str, tuple[FacetCount, ...]] = {}
        if facets:
            grouped = con.execute(
                "SELECT kind, min(value), count(*) AS n FROM facets GROUP BY kind, key"
            ).fetchall()
            counts = top_facets((str(k), str(v), int(n)) for k, v, n in grouped)
        return Page(query, int(total), tuple(entry_from_row(dict(r)) for r in rows), counts)

    def add_rerun(self, rerun: Rerun) -> None:
        import json

        with self._write() as con:
            con.execute(
                "INSERT INTO reruns (doi, at, reproduced, verdicts, reporter) VALUES (?,?,?,?,?)",
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
                "SELECT doi, at, reproduced, verdicts, reporter FROM reruns WHERE doi = ?"
                " ORDER BY at DESC, id DESC LIMIT ?",
                (doi.lower(), limit),
            )
            .fetchall()
        )
        return [rerun_from_row(dict(r)) for r in rows]

    def count(self) -> int:
        return int(self._con().execute("SELECT count(*) FROM functions").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            for con in self._connections:
                con.close()
            self._connections.clear()
        self._local = threading.local()


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error): one writer at a time."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con

    def __enter__(self) -> sqlite3.Connection:
        self.con.execute("BEGIN IMMEDIATE")
        return self.con

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self.con.execute("COMMIT" if kind is None else "ROLLBACK")
