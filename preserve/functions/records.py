"""Deployments and invocations, recorded in SQLite in the data directory.

``<data_dir>/functions.sqlite`` keeps what each deploy sent where and when,
with the digests of the function image and of the analysis image, and every
invocation (its key, parameters with URIs redacted, state and result). No
credential is ever written here: targets hand over what they sent without them,
and parameters are stored redacted.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from preserve.settings import Settings
from preserve.shim.redact import redact_uri
from preserve.targets.base import Deployment

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deployments (
    name TEXT PRIMARY KEY,
    function TEXT NOT NULL,
    target TEXT NOT NULL,
    image_ref TEXT NOT NULL,
    image_digest TEXT,
    base_image_digest TEXT,
    function_image_id TEXT,
    endpoint_id TEXT NOT NULL,
    spec TEXT NOT NULL,
    sent TEXT NOT NULL,
    state TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS invocations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    function TEXT NOT NULL,
    target TEXT NOT NULL,
    key TEXT,
    parameters TEXT NOT NULL,
    state TEXT NOT NULL,
    result TEXT,
    error TEXT,
    started TEXT NOT NULL,
    ended TEXT,
    platform_id TEXT
);
CREATE INDEX IF NOT EXISTS invocations_by_key ON invocations (key, state);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def database(settings: Settings) -> Path:
    return settings.data_dir / "functions.sqlite"


@contextmanager
def connect(settings: Settings) -> Iterator[sqlite3.Connection]:
    path = database(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=30)) as conn:
        conn.row_factory = sqlite3.Row
        conn.executescript(_SCHEMA)
        _migrate(conn)
        with conn:
            yield conn


def _migrate(conn: sqlite3.Connection) -> None:
    """Records of earlier versions: the platform's id of a call came later."""
    columns = {row["name"] for row in conn.execute("PRAGMA table_info(invocations)")}
    if "platform_id" not in columns:
        conn.execute("ALTER TABLE invocations ADD COLUMN platform_id TEXT")


@dataclass(frozen=True)
class Recorded:
    """A deployment with its bookkeeping."""

    deployment: Deployment
    state: str
    created: str
    updated: str

    def to_json(self) -> dict[str, Any]:
        d = self.deployment
        return {
            "name": d.name,
            "function": d.function,
            "doi": d.spec.get("doi"),
            "target": d.target,
            "image_ref": d.image_ref,
            "image_digest": d.image_digest,
            "base_image_digest": d.base_image_digest,
            "endpoint_id": d.endpoint_id,
            "state": self.state,
            "created": self.created,
            "updated": self.updated,
        }


def save_deployment(settings: Settings, d: Deployment, state: str = "deployed") -> None:
    now = _now()
    with connect(settings) as conn:
        conn.execute(
            """INSERT INTO deployments VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
               ON CONFLICT(name) DO UPDATE SET function=excluded.function,
               target=excluded.target, image_ref=excluded.image_ref,
               image_digest=excluded.image_digest, base_image_digest=excluded.base_image_digest,
               function_image_id=excluded.function_image_id, endpoint_id=excluded.endpoint_id,
               spec=excluded.spec, sent=excluded.sent, state=excluded.state,
               updated=excluded.updated""",
            (
                d.name,
                d.function,
                d.target,
                d.image_ref,
                d.image_digest,
                d.base_image_digest,
                d.function_image_id,
                d.endpoint_id,
                json.dumps(dict(d.spec), sort_keys=True),
                json.dumps(dict(d.sent), sort_keys=True),
                state,
                now,
                now,
            ),
        )


def _deployment(row: sqlite3.Row) -> Recorded:
    deployment = Deployment(
        name=row["name"],
        function=row["function"],
        target=row["target"],
        image_ref=row["image_ref"],
        image_digest=row["image_digest"],
        base_image_digest=row["base_image_digest"],
        endpoint_id=row["endpoint_id"],
        spec=json.loads(row["spec"]),
        sent=json.loads(row["sent"]),
        function_image_id=row["function_image_id"],
    )
    return Recorded(deployment, row["state"], row["created"], row["updated"])


def deployments(settings: Settings) -> list[Recorded]:
    with connect(settings) as conn:
        rows = conn.execute("SELECT * FROM deployments ORDER BY name").fetchall()
    return [_deployment(r) for r in rows]


def deployment(settings: Settings, name: str) -> Recorded | None:
    with connect(settings) as conn:
        row = conn.execute("SELECT * FROM deployments WHERE name = ?", (name,)).fetchone()
    return _deployment(row) if row else None


def remove_deployment(settings: Settings, name: str) -> None:
    with connect(settings) as conn:
        conn.execute("DELETE FROM deployments WHERE name = ?", (name,))


def redacted(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as they may be stored: every URI without credentials."""
    out = dict(parameters)
    out["inputs"] = {k: redact_uri(v) for k, v in (parameters.get("inputs") or {}).items()}
    if parameters.get("output_to"):
        out["output_to"] = redact_uri(str(parameters["output_to"]))
    if parameters.get("event"):
        out["event"] = {
            k: redact_uri(v) if k in ("subject", "derived_from", "source") else v
            for k, v in parameters["event"].items()
        }
    return out


def start_invocation(
    settings: Settings,
    invocation_id: str,
    d: Deployment,
    key: str | None,
    parameters: Mapping[str, Any],
) -> None:
    with connect(settings) as conn:
        conn.execute(
            "INSERT INTO invocations (id, name, function, target, key, parameters, state, started)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (
                invocation_id,
                d.name,
                d.function,
                d.target,
                key,
                json.dumps(redacted(parameters), sort_keys=True),
                "running",
                _now(),
            ),
        )


def end_invocation(
    settings: Settings,
    invocation_id: str,
    state: str,
    result: Mapping[str, Any] | None,
    error: str | None,
    platform_id: str | None = None,
) -> None:
    """``platform_id``: the call's own id on the target (an activation, a job task)."""
    key = (result or {}).get("key")
    with connect(settings) as conn:
        conn.execute(
            "UPDATE invocations SET state=?, result=?, error=?, ended=?, key=COALESCE(?, key),"
            " platform_id=COALESCE(?, platform_id) WHERE id=?",
            (
                state,
                json.dumps(dict(result), sort_keys=True) if result is not None else None,
                error,
                _now(),
                key,
                platform_id,
                invocation_id,
            ),
        )


def platform_id(settings: Settings, invocation_id: str) -> str | None:
    """The target's own id of the call ``invocation_id``, if it gave one."""
    with connect(settings) as conn:
        row = conn.execute(
            "SELECT platform_id FROM invocations WHERE id = ?", (invocation_id,)
        ).fetchone()
    return str(row["platform_id"]) if row and row["platform_id"] else None


def completed(settings: Settings, key: str) -> dict[str, Any] | None:
    """The result of the latest completed invocation with ``key``, if any."""
    with connect(settings) as conn:
        row = conn.execute(
            "SELECT result FROM invocations WHERE key = ? AND state = 'completed'"
            " ORDER BY ended DESC LIMIT 1",
            (key,),
        ).fetchone()
    return json.loads(row["result"]) if row and row["result"] else None


def invocations(settings: Settings, name: str) -> list[dict[str, Any]]:
    with connect(settings) as conn:
        rows = conn.execute(
            "SELECT id, key, state, started, ended, error FROM invocations WHERE name = ?"
            " ORDER BY started",
            (name,),
        ).fetchall()
    return [dict(r) for r in rows]
