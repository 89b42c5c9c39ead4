"""DOIs through the DataCite REST API (JSON:API, ``application/vnd.api+json``).

Endpoints (https://support.datacite.org/reference/): ``POST /dois`` creates a
draft when no ``event`` is sent; ``PUT /dois/{doi}`` updates metadata and
applies ``publish`` / ``register`` / ``hide``; ``DELETE /dois/{doi}`` removes a
draft; ``GET /dois/{doi}`` reads one. Authentication is HTTP Basic with the
repository ID and password, which never appear in output, logs or errors.

Metadata is validated locally before every request that carries it, and the
stored record again before ``publish``/``register``: DataCite has accepted
invalid metadata in the past (datacite/datacite#1893). DataCite ignores an
event that does not apply to the DOI's state, so the resulting state is checked.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import requests
from pydantic import Field, SecretStr

from preserve import plugins
from preserve.doi.http import ApiClient, Retry, error_items, json_body
from preserve.doi.providers import DoiRecord, Event
from preserve.doi.records import record_from_resource
from preserve.doi.states import TARGET
from preserve.doi.validation import validate_attributes
from preserve.errors import ConfigError, DoiError, MetadataError, MissingSecret
from preserve.settings import NetworkSettings, Settings

JSON_API = "application/vnd.api+json"
READ_PARAMS = {"publisher": "true", "affiliation": "true"}  # object forms, as they were sent
SECTION = "[doi.datacite]"
PASSWORD_ENV = ("PRESERVE_DOI_DATACITE_PASSWORD", "PRESERVE_DATACITE_PASSWORD")
TEST_API = "https://api.test.datacite.org"


class DataCiteOptions(plugins.PluginOptions):
    """The ``[doi.datacite]`` table: the DataCite REST API and the repository's account."""

    endpoint: str = Field(
        "test",
        description="'test', 'production', or a base URL of a DataCite-compatible API",
    )
    repository_id: str | None = None
    password: SecretStr | None = Field(
        None, description="better in PRESERVE_DOI_DATACITE_PASSWORD than in the file"
    )
    prefix: str | None = None

    def api_url(self) -> str:
        urls = {"test": TEST_API, "production": "https://api.datacite.org"}
        return urls.get(self.endpoint, self.endpoint).rstrip("/")


def datacite_options(settings: Settings) -> DataCiteOptions:
    """The validated ``[doi.datacite]`` table of ``settings``."""
    options = plugins.options_for(plugins.DOI_PROVIDERS, "datacite", settings)
    assert isinstance(options, DataCiteOptions)
    return options


def credential_source(settings: Settings, env: Mapping[str, str] | None = None) -> str:
    """Where the DataCite password came from, for error messages (never the password)."""
    env = os.environ if env is None else env
    for name in PASSWORD_ENV:
        if env.get(name):
            return f"environment variable {name}"
    if settings.config_file is not None:
        return f"config file {settings.config_file}"
    return "the password given to preserve"


class DataCiteProvider:
    name = "datacite"
    options = DataCiteOptions
    local_only: ClassVar[bool] = False

    def __init__(
        self,
        *,
        api_url: str,
        repository_id: str,
        password: SecretStr,
        prefix: str,
        landing_url: str | None = None,
        source: str = "configuration",
        sleep: Callable[[float], None] = time.sleep,
        retry: Retry | None = None,
        network: NetworkSettings | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.repository_id = repository_id
        self.prefix = prefix
        self.landing_url = landing_url
        self.source = source
        self.api = ApiClient(
            self.api_url,
            service="the DataCite REST API",
            auth=(repository_id, password.get_secret_value()),
            retry=retry,
            sleep=sleep,
            network=network,
        )

    def __repr__(self) -> str:
        return f"DataCiteProvider({self.api_url!r}, repository={self.repository_id!r})"

    @property
    def globally_resolvable(self) -> bool:
        """DOIs of DataCite's test system never reach doi.org."""
        return self.api_url != TEST_API

    @classmethod
    def from_settings(
        cls,
        options: DataCiteOptions,
        settings: Settings,
        *,
        source: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> DataCiteProvider:
        dc = options
        where = settings.config_file or "the config file"
        if dc.repository_id is None or dc.prefix is None:
            missing = [k for k in ("repository_id", "prefix") if getattr(dc, k) is None]
            raise ConfigError(
                f"the datacite DOI provider needs {' and '.join(missing)} in {SECTION}",
                hint=f"set repository_id and prefix in the {SECTION} table of {where} "
                "(or PRESERVE_DOI_DATACITE_REPOSITORY_ID / PRESERVE_DOI_DATACITE_PREFIX) and "
                f"the password in {PASSWORD_ENV[0]}; or use doi_provider = 'sandbox'",
            )
        if dc.password is None:
            raise MissingSecret(
                f"the datacite DOI provider needs the password of repository "
                f"{dc.repository_id} (password in {SECTION})",
                hint=f"set {PASSWORD_ENV[0]}, or give it when asked on a terminal",
                section="doi.datacite",
                key="password",
                prompt=f"DataCite password for {dc.repository_id}",
            )
        return cls(
            api_url=dc.api_url(),
            repository_id=dc.repository_id,
            password=dc.password,
            prefix=dc.prefix,
            landing_url=settings.landing_url,
            source=source or credential_source(settings),
            sleep=sleep,
            network=settings.network,
        )

    def describe(self) -> str:
        kind = {
            TEST_API: "DataCite test system (test DOIs do not resolve at doi.org)",
            "https://api.datacite.org": "DataCite production",
        }.get(self.api_url, "DataCite-compatible API")
        return (
            f"datacite provider: {kind} at {self.api_url}, repository {self.repository_id}, "
            f"prefix {self.prefix}"
        )

    # -- HTTP ---------------------------------------------------------------------

    def _call(
        self,
        method: str,
        doi: str | None,
        action: str,
        attributes: Mapping[str, Any] | None = None,
    ) -> requests.Response:
        path = f"dois/{doi}" if doi else "dois"
        body = {"data": {"type": "dois", "attributes": dict(attributes)}} if attributes else None
        headers = {"Accept": JSON_API}
        if body is not None:
            headers["Content-Type"] = JSON_API
        resp = self.api.request(
            method,
            path,
            json=body,
            headers=headers,
            params=READ_PARAMS if method in ("GET", "PUT", "POST") else None,
        )
        if resp.status_code >= 400 and not (method == "GET" and resp.status_code == 404):
            raise self._error(resp, action, doi)
        return resp

    def _error(self, resp: requests.Response, action: str, doi: str | None) -> DoiError:
        what = f"{action} {doi}" if doi else action
        status = resp.status_code
        if status == 401:
            return DoiError(
                f"DataCite at {self.api_url} refused the credentials of repository "
                f"{self.repository_id} (password from {self.source}) while trying to {what}",
                hint="check the repository ID and password; test and production accounts "
                "are separate, so check datacite.endpoint too",
            )
        if status == 403:
            return DoiError(
                f"repository {self.repository_id} is not allowed to {what} at {self.api_url}",
                hint=f"the DOI prefix must belong to the repository; check datacite.prefix "
                f"({self.prefix}) and the credentials ({self.source})",
            )
        items = error_items(json_body(resp), status)
        if status == 422:
            listed = "; ".join(f"{src}: {title}" if src else title for src, title in items)
            return MetadataError(
                f"DataCite refused to {what}: {listed or 'unprocessable entity'}",
                hint="fix the named fields; DataCite validates against Metadata Schema 4.x",
            )
        detail = "; ".join(t for _, t in items) or resp.reason or ""
        return DoiError(
            f"DataCite at {self.api_url} could not {what}: HTTP {status} {detail}".rstrip(),
            hint="see https://support.datacite.org/docs/api-error-codes",
        )

    def _record(self, resp: requests.Response) -> DoiRecord:
        try:
            return record_from_resource(json_body(resp), self.name)
        except ValueError as exc:
            raise DoiError(
                f"DataCite at {self.api_url} sent a response that is not a DOI resource: {exc}",
                hint="check that datacite.endpoint names a DataCite REST API",
            ) from exc

    # -- the provider interface ---------------------------------------------------

    def _checked(self, doi: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
        if str(attributes.get("doi", doi)).lower() != doi.lower():
            raise DoiError(f"metadata names DOI {attributes['doi']}, not {doi}")
        attrs = {k: v for k, v in attributes.items() if k not in ("event", "url")}
        attrs["doi"] = doi.lower()
        validate_attributes(attrs)
        return attrs

    def get(self, doi: str) -> DoiRecord | None:
        resp = self._call("GET", doi, "read")
        return None if resp.status_code == 404 else self._record(resp)

    def _require(self, doi: str, action: str) -> DoiRecord:
        record = self.get(doi)
        if record is None:
            raise DoiError(
                f"cannot {action} {doi}: DataCite at {self.api_url} does not know it",
                hint="create it as a draft first (preserve publish does)",
            )
        return record

    def create_draft(self, doi: str, attributes: Mapping[str, Any]) -> DoiRecord:
        attrs = self._checked(doi, attributes)
        return self._record(self._call("POST", None, f"create draft DOI {doi}", attrs))

    def update(self, doi: str, attributes: Mapping[str, Any]) -> DoiRecord:
        attrs = self._checked(doi, attributes)
        # PUT would create an unknown DOI; the interface only updates existing ones.
        self._require(doi, "update")
        return self._record(self._call("PUT", doi, "update", attrs))

    def landing_url_for(self, doi: str) -> str:
        if not self.landing_url:
            raise ConfigError(
                f"no landing page URL for {doi}: landing_url is not set",
                hint="set landing_url (PRESERVE_LANDING_URL) to a template such as "
                "https://data.example.org/doi/{doi}; DataCite needs a landing page to publish",
            )
        return self.landing_url.replace("{doi}", doi)

    def transition(self, doi: str, event: Event, url: str | None = None) -> DoiRecord:
        change: dict[str, Any] = {"event": event}
        if event in ("publish", "register"):
            change["url"] = url or self.landing_url_for(doi)
            if not str(change["url"]).startswith(("https://", "http://")):
                raise DoiError(
                    f"DataCite needs an http(s) landing page URL, not {change['url']!r}",
                    hint="set landing_url to a web address with {doi} in it",
                )
            current = self._require(doi, event)
            validate_attributes(current.attributes)
        elif url:
            change["url"] = url
        record = self._record(self._call("PUT", doi, event, change))
        if record.state != TARGET[event]:
            raise DoiError(
                f"DataCite left {doi} {record.state} after '{event}' (expected {TARGET[event]})",
                hint="registered or findable DOIs never return to draft; 'hide' applies only "
                "to findable DOIs",
            )
        return record

    def delete_draft(self, doi: str) -> None:
        record = self._require(doi, "delete")
        if record.state != "draft":
            raise DoiError(
                f"cannot delete {doi}: it is {record.state}, and only drafts can be deleted",
                hint="registered and findable DOIs are permanent; "
                "'hide' makes a findable DOI's metadata private",
            )
        self._call("DELETE", doi, "delete draft")
