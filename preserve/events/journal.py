"""The journal: every matching event and every invocation's state, durable (SQLite, WAL).

``<data_dir>/events.sqlite`` has three tables:

* ``deliveries``: each event a rule matched, written (with the source's cursor,
  e.g. dCache's ``Last-Event-ID``, in the same transaction) before the source
  acknowledges it. ``pending`` until it settled and its file was described, then
  ``resolved`` into an invocation (or ``gone``: the file vanished; ``refused``).
* ``invocations``: one row per idempotency key (function + input URI + input
  checksum + config: the key ``invoke`` computes), so deliveries of one
  occurrence collapse into one invocation. ``received -> running -> succeeded |
  failed``, and a failed one is tried again until ``dead``.
* ``cursors``: where each source resumes.

Deliveries are committed with ``synchronous=FULL`` (flushed to disk before a
source is told, so not even a power cut loses an acknowledged event); state
changes with ``NORMAL`` (WAL: a crash or ``kill -9`` loses nothing, a power cut
at worst a state change, and the run is answered again by its key). An invocation found
``running`` at start-up was interrupted: it goes back to ``received`` (the
function's own key check answers it if it had completed).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preserve.errors import ConfigError
from preserve.events.model import DEAD, FAILED, RECEIVED, RUNNING, SUCCEEDED, Delivery, now_iso

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    rule TEXT NOT NULL,
    uri TEXT NOT NULL,
    path TEXT NOT NULL,
    event TEXT NOT NULL,
    parts TEXT NOT NULL,
    received TEXT NOT NULL,
    settle_until REAL NOT NULL,
    state TEXT NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0,
    key TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (state, settle_until);
CREATE INDEX IF NOT EXISTS deliveries_by_input ON deliveries (rule, uri, state);
CREATE INDEX IF NOT EXISTS deliveries_by_key ON deliveries (key);
CREATE TABLE IF NOT EXISTS invocations (
    key TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    function TEXT NOT NULL,
    input TEXT NOT NULL,
    uri TEXT NOT NULL,
    size INTEGER,
    checksum TEXT NOT NULL,
    config TEXT NOT NULL,
    output_to TEXT,
    output_norm TEXT,
    event TEXT NOT NULL,
    derived_from TEXT,
    depth INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0,
    deliveries INTEGER NOT NULL DEFAULT 1,
    result TEXT,
    crate TEXT,
    error TEXT,
    received TEXT NOT NULL,
    started TEXT,
    ended TEXT,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS invocations_ready ON invocations (state, rule, not_before);
CREATE INDEX IF NOT EXISTS invocations_by_output ON invocations (output_norm);
CREATE TABLE IF NOT EXISTS cursors (source TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# What `preserve events` shows of an invocation.
_LISTED = (
    "key, rule, function, input, uri, state, attempts, deliveries, depth, derived_from,"
    " output_to, crate, error, received, updated"
)


def database(data_dir: Path) -> Path:
    return data_dir / "events.sqlite"


@dataclass(frozen=True)
class Pending:
    """Settled deliveries of one input for one rule (duplicates arrive together)."""

    ids: tuple[int, ...]
    rule: str
    uri: str
    path: str
    event: dict[str, Any]  # the first delivery's event
    parts: dict[str, str]


@dataclass(frozen=True)
class NewInvocation:
    key: str
    rule: str
    function: str
    input: str
    uri: str
    size: int | None
    checksum: str
    config: Mapping[str, Any]
    output_to: str | None
    event: Mapping[str, Any]
    derived_from: str | None
    depth: int


@dataclass(frozen=True)
class Claimed:
    """An invocation taken to run."""

    key: str
    rule: str
    uri: str
    output_to: str | None
    event: dict[str, Any]
    derived_from: str | None
    attempts: int


class Journal:
    """One connection, serialised by a lock: the watcher's threads share it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.lock = threading.Lock()
        self.db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        with self.lock:
            self.db.close()

    @contextmanager
    def _tx(self, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction; ``durable``: flushed to disk before this returns."""
        with self.lock:
            if durable:
                self.db.execute("PRAGMA synchronous=FULL")
            try:
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    yield self.db
                except BaseException:
                    self.db.execute("ROLLBACK")
                    raise
                self.db.execute("COMMIT")
            finally:
                if durable:
                    self.db.execute("PRAGMA synchronous=NORMAL")

    # -- deliveries ------------------------------------------------------------------

    def add(
        self,
        deliveries: Iterable[Delivery],
        settle: Mapping[str, float],
        cursor: tuple[str, str] | None = None,
    ) -> int:
        """Journal ``deliveries`` (and the source's ``cursor``) in one transaction.

        A new delivery of an input that is still settling pushes the others' time too."""
        at, stamp = time.time(), now_iso()
        rows = [
            (
                d.rule,
                d.event.uri,
                d.event.path,
                json.dumps(d.event.describe()),
                json.dumps(d.parts),
                stamp,
                at + settle.get(d.rule, 0.0),
            )
            for d in deliveries
        ]
        with self._tx(durable=True) as db:
            db.executemany(
                "INSERT INTO deliveries (rule, uri, path, event, parts, received, settle_until,"
                " state) VALUES (?,?,?,?,?,?,?,'pending')",
                rows,
            )
            debounced = [(r[6], r[0], r[1]) for r in rows if settle.get(r[0], 0.0) > 0]
            db.executemany(
                "UPDATE deliveries SET settle_until = ? WHERE rule = ? AND uri = ?"
                " AND state = 'pending'",
                debounced,
            )
            if cursor is not None:
                db.execute("INSERT OR REPLACE INTO cursors VALUES (?, ?)", cursor)
        return len(rows)

    def cursor(self, source: str) -> str | None:
        with self.lock:
            query = "SELECT value FROM cursors WHERE source = ?"
            row = self.db.execute(query, (source,)).fetchone()
        return str(row["value"]) if row else None

    def set_cursor(self, source: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO cursors VALUES (?, ?)", (source, value))

    def settled(self, limit: int = 500) -> list[Pending]:
        """Deliveries whose settle time has passed, grouped by rule and input."""
        with self.lock:
            rows = self.db.execute(
                "SELECT id, rule, uri, path, event, parts FROM deliveries"
                " WHERE state = 'pending' AND settle_until <= ? ORDER BY id LIMIT ?",
                (time.time(), limit),
            ).fetchall()
        groups: dict[tuple[str, str], list[sqlite3.Row]] = {}
        for row in rows:
            groups.setdefault((row["rule"], row["uri"]), []).append(row)
        return [
            Pending(
                tuple(r["id"] for r in group),
                group[0]["rule"],
                group[0]["uri"],
                group[0]["path"],
                json.loads(group[0]["event"]),
                json.loads(group[0]["parts"]),
            )
            for group in groups.values()
        ]

    def resolve(self, pending: Pending, new: NewInvocation) -> bool:
        """Tie ``pending`` to its invocation, created unless one with the key exists.
        True when it was new."""
        stamp = now_iso()
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO invocations (key, rule, function, input, uri, size,"
                " checksum, config, output_to, output_norm, event, derived_from, depth, state,"
                " deliveries, received, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    new.key,
                    new.rule,
                    new.function,
                    new.input,
                    new.uri,
                    new.size,
                    new.checksum,
                    json.dumps(dict(new.config), sort_keys=True),
                    new.output_to,
                    normalise(new.output_to) if new.output_to else None,
                    json.dumps(dict(new.event)),
                    new.derived_from,
                    new.depth,
                    RECEIVED,
                    len(pending.ids),
                    stamp,
                    stamp,
                ),
            )
            created = cur.rowcount == 1
            if not created:
                db.execute(
                    "UPDATE invocations SET deliveries = deliveries + ? WHERE key = ?",
                    (len(pending.ids), new.key),
                )
            self._close_deliveries(db, pending.ids, "resolved", new.key, None)
        return created

    def postpone(self, pending: Pending, error: str, backoff: Callable[[int], float]) -> int:
        """Describe ``pending`` again in ``backoff(tries)`` seconds; its tries so far."""
        with self._tx() as db:
            row = db.execute("SELECT tries FROM deliveries WHERE id = ?", (pending.ids[0],))
            tries = int(row.fetchone()[0]) + 1
            db.executemany(
                "UPDATE deliveries SET settle_until = ?, error = ?, tries = ? WHERE id = ?",
                [(time.time() + backoff(tries), error, tries, i) for i in pending.ids],
            )
        return tries

    def drop(self, pending: Pending, state: str, error: str) -> None:
        """Deliveries that lead nowhere: ``gone`` (no such file) or ``refused`` (and why)."""
        with self._tx() as db:
            self._close_deliveries(db, pending.ids, state, None, error)

    def refuse(self, pending: Pending, new: NewInvocation, error: str) -> None:
        """An invocation that must not run (a chain too deep): recorded dead at once."""
        self.resolve(pending, new)
        self.finish(new.key, DEAD, None, error, counted=False)

    @staticmethod
    def _close_deliveries(
        db: sqlite3.Connection, ids: tuple[int, ...], state: str, key: str | None, error: str | None
    ) -> None:
        db.executemany(
            "UPDATE deliveries SET state = ?, key = ?, error = ? WHERE id = ?",
            [(state, key, error, i) for i in ids],
        )

    def upstream(self, uri: str) -> sqlite3.Row | None:
        """The invocation whose output folder holds ``uri`` (a chain's previous step)."""
        norm = normalise(uri)
        folders = []
        head = norm.rsplit("/", 1)[0]
        while head.count("/") > 2:
            folders.append(head + "/")
            head = head.rsplit("/", 1)[0]
        if not folders:
            return None
        marks = ",".join("?" * len(folders))
        with self.lock:
            row: sqlite3.Row | None = self.db.execute(
                "SELECT key, depth, output_to, crate FROM invocations"
                f" WHERE output_norm IN ({marks}) ORDER BY length(output_norm) DESC LIMIT 1",
                folders,
            ).fetchone()
        return row

    # -- invocations -----------------------------------------------------------------

    def recover(self) -> int:
        """Invocations a killed watcher left running go back to be run (their attempt
        not counted): the function's key check answers one that had completed."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE invocations SET state = ?, attempts = max(attempts - 1, 0), updated = ?"
                " WHERE state = ?",
                (RECEIVED, now_iso(), RUNNING),
            )
        return cur.rowcount

    def claim(self, rule: str, limit: int) -> list[Claimed]:
        """Up to ``limit`` invocations of ``rule`` that are due, now ``running``."""
        if limit <= 0:
            return []
        with self._tx() as db:
            rows = db.execute(
                "SELECT key, rule, uri, output_to, event, derived_from, attempts FROM invocations"
                " WHERE state IN (?, ?) AND rule = ? AND not_before <= ? ORDER BY received LIMIT ?",
                (RECEIVED, FAILED, rule, time.time(), limit),
            ).fetchall()
            stamp = now_iso()
            db.executemany(
                "UPDATE invocations SET state = ?, attempts = attempts + 1, started = ?,"
                " updated = ? WHERE key = ?",
                [(RUNNING, stamp, stamp, r["key"]) for r in rows],
            )
        return [
            Claimed(
                r["key"],
                r["rule"],
                r["uri"],
                r["output_to"],
                json.loads(r["event"]),
                r["derived_from"],
                r["attempts"] + 1,
            )
            for r in rows
        ]

    def finish(
        self,
        key: str,
        state: str,
        result: Mapping[str, Any] | None,
        error: str | None,
        *,
        not_before: float = 0.0,
        counted: bool = True,
    ) -> None:
        """Record how a run ended. ``counted=False``: it does not use up an attempt
        (the target was busy, the watcher stopped)."""
        stamp = now_iso()
        crate = str(result["crate"]) if result and result.get("crate") else None
        with self._tx() as db:
            db.execute(
                "UPDATE invocations SET state = ?, result = COALESCE(?, result),"
                " crate = COALESCE(?, crate), error = ?, not_before = ?, ended = ?, updated = ?,"
                " attempts = max(attempts - ?, 0) WHERE key = ?",
                (
                    state,
                    json.dumps(dict(result), default=str) if result is not None else None,
                    crate,
                    error,
                    not_before,
                    stamp,
                    stamp,
                    0 if counted else 1,
                    key,
                ),
            )

    def busy(self) -> bool:
        """Whether anything is left to do now or later: pending deliveries, invocations
        received, running, or failed with a retry ahead."""
        with self.lock:
            row = self.db.execute(
                "SELECT (SELECT count(*) FROM deliveries WHERE state = 'pending')"
                " + (SELECT count(*) FROM invocations WHERE state IN (?, ?, ?))",
                (RECEIVED, RUNNING, FAILED),
            ).fetchone()
        return bool(row[0])

    def backlog(self) -> int:
        """Deliveries and invocations not yet taken up (for backpressure)."""
        with self.lock:
            row = self.db.execute(
                "SELECT (SELECT count(*) FROM deliveries WHERE state = 'pending')"
                " + (SELECT count(*) FROM invocations WHERE state = ?)",
                (RECEIVED,),
            ).fetchone()
        return int(row[0])

    # -- reading (``preserve events``) -------------------------------------------------

    def listing(self, state: str | None = None) -> list[dict[str, Any]]:
        query = f"SELECT {_LISTED} FROM invocations"
        args: tuple[Any, ...] = ()
        if state is not None:
            query, args = query + " WHERE state = ?", (state,)
        with self.lock:
            rows = self.db.execute(query + " ORDER BY received, key", args).fetchall()
        return [dict(r) for r in rows]

    def find(self, key: str) -> str:
        """The full key that ``key`` (or a unique prefix of it, 8+ characters) names."""
        if len(key) < 8:
            raise ConfigError(f"{key!r} is too short to name an invocation", hint="give 8+ hex")
        with self.lock:
            rows = self.db.execute(
                "SELECT key FROM invocations WHERE key >= ? AND key < ? LIMIT 2",
                (key, key + "\uffff"),
            ).fetchall()
        if len(rows) != 1:
            what = "no invocation" if not rows else "more than one invocation"
            raise ConfigError(
                f"{what} in the journal has a key starting {key}",
                hint="`preserve events` lists the keys",
            )
        return str(rows[0]["key"])

    def show(self, key: str) -> dict[str, Any]:
        full = self.find(key)
        with self.lock:
            row = self.db.execute("SELECT * FROM invocations WHERE key = ?", (full,)).fetchone()
            deliveries = self.db.execute(
                "SELECT id, rule, uri, event, received, state FROM deliveries WHERE key = ?"
                " ORDER BY id",
                (full,),
            ).fetchall()
        out = dict(row)
        for name in ("config", "event", "result"):
            out[name] = json.loads(out[name]) if out[name] else None
        out.pop("output_norm", None)
        out["delivered"] = [{**dict(d), "event": json.loads(d["event"])} for d in deliveries]
        return out

    def retry(self, key: str) -> str:
        """A failed or dead invocation back to ``received``, with its attempts reset."""
        full = self.find(key)
        with self._tx() as db:
            state = db.execute("SELECT state FROM invocations WHERE key = ?", (full,)).fetchone()[0]
            if state not in (FAILED, DEAD):
                raise ConfigError(
                    f"invocation {full[:16]} is {state}: only failed or dead ones are retried",
                    hint="a succeeded invocation's crate is its answer"
                    if state == SUCCEEDED
                    else "it will run (or is running) already",
                )
            db.execute(
                "UPDATE invocations SET state = ?, attempts = 0, not_before = 0, error = NULL,"
                " updated = ? WHERE key = ?",
                (RECEIVED, now_iso(), full),
            )
        return full

    def counts(self) -> dict[str, int]:
        with self.lock:
            rows = self.db.execute(
                "SELECT state, count(*) AS n FROM invocations GROUP BY state"
            ).fetchall()
        return {r["state"]: r["n"] for r in rows}


def normalise(uri: str) -> str:
    """A URI as output folders are compared: WebDAV schemes as http(s), lower-case host."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    scheme = {"dav": "http", "davs": "https"}.get(scheme.lower(), scheme.lower())
    host, slash, path = rest.partition("/")
    return f"{scheme}://{host.lower()}{slash}{path}"


@contextmanager
def opened(path: Path) -> Iterator[Journal]:
    """The journal at ``path``, to read (``preserve events``): it must exist."""
    if not path.is_file():
        raise ConfigError(
            f"there is no journal at {path}",
            hint="`preserve watch RULES.yaml` makes it (or give --journal FILE)",
        )
    with closing(Journal(path)) as journal:
        yield journal
