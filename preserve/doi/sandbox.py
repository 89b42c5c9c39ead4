"""The embedded default DOI provider: mints test DOIs (prefix 10.5072) into local SQLite.

These DOIs are not globally resolvable; the toolkit says so in its output, in
the DOI metadata and on the landing page the sandbox writes for each DOI. The
provider moves DOIs through the same states as DataCite and validates metadata
the same way, so a flow that works here works against DataCite.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from preserve.doi.landing import page_path, write_page
from preserve.doi.metadata import NOT_RESOLVABLE
from preserve.doi.providers import DoiRecord, Event, State
from preserve.doi.states import next_state
from preserve.doi.validation import validate_attributes
from preserve.errors import DoiError
from preserve.plugins import NoOptions
from preserve.secrets import redact_data
from preserve.settings import Settings

SANDBOX_PREFIX = "10.5072"
__all__ = ["NOT_RESOLVABLE", "SANDBOX_PREFIX", "SandboxProvider"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dois (
    doi TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('draft', 'registered', 'findable')),
    url TEXT,
    attributes TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
)
"""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SandboxProvider:
    name = "sandbox"
    prefix = SANDBOX_PREFIX
    options = NoOptions
    local_only: ClassVar[bool] = True
    globally_resolvable = False

    def __init__(
        self, db_path: Path, *, landing_dir: Path | None = None, landing_url: str | None = None
    ) -> None:
        self.db_path = db_path
        self.landing_dir = landing_dir or db_path.parent / "landing"
        self.landing_url = landing_url

    @classmethod
    def from_settings(cls, options: NoOptions, settings: Settings) -> SandboxProvider:
        return cls(
            settings.data_dir / "sandbox-dois.sqlite",
            landing_dir=settings.data_dir / "landing",
            landing_url=settings.landing_url,
        )

    def describe(self) -> str:
        return (
            f"sandbox provider (prefix {self.prefix}, local store {self.db_path}); "
            "sandbox DOIs are not globally resolvable"
        )

    # -- storage -------------------------------------------------------------

    @contextmanager
    def _db(self, write: bool) -> Iterator[sqlite3.Connection]:
        try:
            if write:
                self.db_path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise DoiError(
                f"cannot open the sandbox DOI store {self.db_path}: {exc}",
                hint="check that data_dir (PRESERVE_DATA_DIR) is writable",
            ) from exc
        try:
            con.execute(_SCHEMA)
            if write:
                con.execute("BEGIN IMMEDIATE")  # one writer at a time: state moves are atomic
            yield con
            if write:
                con.execute("COMMIT")
        except sqlite3.Error as exc:
            raise DoiError(f"sandbox DOI store {self.db_path} failed: {exc}") from exc
        finally:
            con.close()

    def _row(self, con: sqlite3.Connection, doi: str) -> DoiRecord | None:
        row = con.execute(
            "SELECT doi, state, url, attributes FROM dois WHERE doi = ?", (doi.lower(),)
        ).fetchone()
        if row is None:
            return None
        return DoiRecord(row[0], row[1], row[2], json.loads(row[3]), self.name)

    def _require(self, con: sqlite3.Connection, doi: str) -> DoiRecord:
        record = self._row(con, doi)
        if record is None:
            raise DoiError(
                f"DOI {doi} is not in the sandbox store {self.db_path}",
                hint="create it as a draft first (preserve publish does)",
            )
        return record

    def _save(self, con: sqlite3.Connection, rec: DoiRecord) -> DoiRecord:
        con.execute(
            "UPDATE dois SET state = ?, url = ?, attributes = ?, updated = ? WHERE doi = ?",
            (rec.state, rec.url, json.dumps(rec.attributes), _now(), rec.doi),
        )
        return rec

    # -- the provider interface -----------------------------------------------

    def _checked(self, doi: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
        if not doi.lower().startswith(f"{SANDBOX_PREFIX}/"):
            raise DoiError(
                f"the sandbox mints only test DOIs under {SANDBOX_PREFIX}/, not {doi}",
                hint="use the datacite provider (doi_provider = 'datacite') for other prefixes",
            )
        attrs = {**attributes, "doi": doi.lower()}
        if str(attributes.get("doi", doi)).lower() != doi.lower():
            raise DoiError(f"metadata names DOI {attributes['doi']}, not {doi}")
        attrs.pop("event", None)
        attrs.pop("url", None)
        # Metadata comes from a crate; whatever it says, no credential is stored or shown.
        redacted: dict[str, Any] = redact_data(attrs)
        validate_attributes(redacted)
        return redacted

    def get(self, doi: str) -> DoiRecord | None:
        if not self.db_path.exists():  # a read never creates the store
            return None
        with self._db(write=False) as con:
            return self._row(con, doi)

    def create_draft(self, doi: str, attributes: Mapping[str, Any]) -> DoiRecord:
        attrs = self._checked(doi, attributes)
        with self._db(write=True) as con:
            if self._row(con, doi) is not None:
                raise DoiError(
                    f"DOI {doi} already exists in the sandbox store",
                    hint="update it instead, or resolve it to see its state",
                )
            now = _now()
            con.execute(
                "INSERT INTO dois VALUES (?, 'draft', NULL, ?, ?, ?)",
                (doi.lower(), json.dumps(attrs), now, now),
            )
            return DoiRecord(doi.lower(), "draft", None, attrs, self.name)

    def update(self, doi: str, attributes: Mapping[str, Any]) -> DoiRecord:
        attrs = self._checked(doi, attributes)
        with self._db(write=True) as con:
            old = self._require(con, doi)
            rec = self._save(con, DoiRecord(old.doi, old.state, old.url, attrs, self.name))
        self._refresh_page(rec)
        return rec

    def transition(self, doi: str, event: Event, url: str | None = None) -> DoiRecord:
        with self._db(write=True) as con:
            old = self._require(con, doi)
            state: State = next_state(old.doi, old.state, event)
            if event != "hide":
                validate_attributes(old.attributes)  # publish/register need valid metadata
                url = url or old.url or self.landing_url_for(old.doi)
            rec = DoiRecord(old.doi, state, url or old.url, old.attributes, self.name)
            self._save(con, rec)
        self._refresh_page(rec)
        return rec

    def delete_draft(self, doi: str) -> None:
        with self._db(write=True) as con:
            rec = self._require(con, doi)
            if rec.state != "draft":
                raise DoiError(
                    f"cannot delete DOI {doi}: it is {rec.state}, and only drafts can be deleted",
                    hint="registered and findable DOIs are permanent; "
                    "'hide' makes a findable DOI's metadata private",
                )
            con.execute("DELETE FROM dois WHERE doi = ?", (rec.doi,))

    # -- landing pages ----------------------------------------------------------

    def landing_url_for(self, doi: str) -> str:
        """``landing_url`` with ``{doi}`` filled in, else the sandbox's own page."""
        if self.landing_url:
            return self.landing_url.replace("{doi}", doi)
        return page_path(self.landing_dir, doi).absolute().as_uri()

    def _refresh_page(self, rec: DoiRecord) -> None:
        # Only pages the sandbox owns; a configured landing_url is someone else's site.
        if rec.url and rec.url == page_path(self.landing_dir, rec.doi).absolute().as_uri():
            try:
                write_page(self.landing_dir, rec.doi, rec.state, rec.attributes)
            except OSError as exc:
                raise DoiError(
                    f"cannot write the landing page for {rec.doi} in {self.landing_dir}: {exc}",
                    hint="check that data_dir (PRESERVE_DATA_DIR) is writable",
                ) from exc
