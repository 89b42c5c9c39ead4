"""A DOI provider that keeps each DOI as a JSON file in a directory (``[doi.jsonfile]``).

Like the sandbox, its DOIs exist only on this machine (``local_only``), so the
core resolves them through :meth:`get` and marks them not globally resolvable.
It moves DOIs through DataCite's states with preserve's own state machine and
validates metadata the same way, so what publishes here publishes at DataCite.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from preserve.doi.providers import DoiRecord, Event
from preserve.doi.states import next_state
from preserve.doi.validation import validate_attributes
from preserve.errors import DoiError
from preserve.settings import Settings


class JsonFileOptions(BaseModel):
    """The ``[doi.jsonfile]`` table."""

    model_config = ConfigDict(extra="forbid")

    directory: Path | None = Field(None, description="default: DATA_DIR/jsonfile-dois")
    prefix: str = Field("10.80001", pattern=r"^10\.\d{4,9}$")


class JsonFileProvider:
    name = "jsonfile"
    options = JsonFileOptions
    local_only: ClassVar[bool] = True
    globally_resolvable = False

    def __init__(self, directory: Path, prefix: str) -> None:
        self.directory = directory
        self.prefix = prefix

    @classmethod
    def from_settings(cls, options: JsonFileOptions, settings: Settings) -> JsonFileProvider:
        return cls(options.directory or settings.data_dir / "jsonfile-dois", options.prefix)

    def describe(self) -> str:
        return (
            f"jsonfile provider (prefix {self.prefix}, one JSON file per DOI in {self.directory})"
        )

    def _path(self, doi: str) -> Path:
        return self.directory / (quote(doi.lower(), safe="") + ".json")

    def _save(self, record: DoiRecord) -> DoiRecord:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(record.doi)
        data = {"doi": record.doi, "state": record.state, "url": record.url}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**data, "attributes": dict(record.attributes)}, indent=1))
        os.replace(tmp, path)
        return record

    def _checked(self, doi: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
        if not doi.lower().startswith(self.prefix + "/"):
            raise DoiError(f"the jsonfile provider mints under {self.prefix}/ only, not {doi}")
        attrs = {k: v for k, v in attributes.items() if k not in ("event", "url")}
        attrs["doi"] = doi.lower()
        validate_attributes(attrs)
        return attrs

    def get(self, doi: str) -> DoiRecord | None:
        try:
            data = json.loads(self._path(doi).read_text())
        except FileNotFoundError:
            return None
        return DoiRecord(data["doi"], data["state"], data["url"], data["attributes"], self.name)

    def _require(self, doi: str) -> DoiRecord:
        record = self.get(doi)
        if record is None:
            raise DoiError(f"DOI {doi} is not in {self.directory}")
        return record

    def create_draft(self, doi: str, attributes: Mapping[str, Any]) -> DoiRecord:
        if self.get(doi) is not None:
            raise DoiError(f"DOI {doi} already exists in {self.directory}")
        attrs = self._checked(doi, attributes)
        return self._save(DoiRecord(doi.lower(), "draft", None, attrs, self.name))

    def update(self, doi: str, attributes: Mapping[str, Any]) -> DoiRecord:
        old = self._require(doi)
        attrs = self._checked(doi, attributes)
        return self._save(DoiRecord(old.doi, old.state, old.url, attrs, self.name))

    def transition(self, doi: str, event: Event, url: str | None = None) -> DoiRecord:
        old = self._require(doi)
        state = next_state(old.doi, old.state, event)
        if event != "hide":
            validate_attributes(old.attributes)
            url = url or old.url or self._path(old.doi).absolute().as_uri()
        return self._save(DoiRecord(old.doi, state, url or old.url, old.attributes, self.name))

    def delete_draft(self, doi: str) -> None:
        record = self._require(doi)
        if record.state != "draft":
            raise DoiError(f"cannot delete {doi}: it is {record.state}")
        self._path(doi).unlink()
