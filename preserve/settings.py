"""Typed settings with one clear precedence.

command-line flags > ``PRESERVE_*`` environment variables > the user's config
file (TOML) > built-in defaults.

The config file is ``$PRESERVE_CONFIG`` if set, else ``config.toml`` in the
platform's config directory (``~/.config/preserve/config.toml`` on Linux).
Secrets are :class:`pydantic.SecretStr`: they never show in ``repr``, logs or
``--json`` output, and are never written anywhere by the toolkit.

Each plug-in has its own table, ``[GROUP.NAME]`` (``[doi.datacite]``,
``[runners.podman]``, ...), kept here as raw data and validated by the plug-in's
own options model when it is constructed (:func:`preserve.plugins.create`).
Its environment variables are ``PRESERVE_GROUP_NAME_KEY``
(``PRESERVE_DOI_DATACITE_PASSWORD``). The table must name an installed plug-in.
The flat ``[datacite]`` table and ``PRESERVE_DATACITE_*`` of earlier versions
are still read, as ``[doi.datacite]``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from preserve import plugins
from preserve.errors import ConfigError, PluginNotFound

APP = "preserve"
ENV_PREFIX = "PRESERVE_"
# Plug-in tables of earlier versions: old key -> (group section, plug-in name).
LEGACY_TABLES = {"datacite": ("doi", "datacite")}
PluginTables = dict[str, dict[str, Any]]


def _tables(group: plugins.Group) -> Any:
    # repr=False: raw tables may hold secrets; the plug-in's model knows which.
    return Field(
        default_factory=dict,
        repr=False,
        description=f"one table per {group.kind}: [{group.section}.NAME]",
    )


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegistryCredentials(_Section):
    """Credentials for one registry host, from the config file."""

    username: str
    password: SecretStr


class Publisher(_Section):
    name: str
    ror: str | None = None


class NetworkSettings(_Section):
    """HTTP for every server (registries, DataCite, data): TLS, proxies, time limits."""

    ca_bundle: Path | None = Field(
        None,
        description="CA certificates (PEM) to verify servers with; default: REQUESTS_CA_BUNDLE, "
        "SSL_CERT_FILE, else the system bundle",
    )
    https_proxy: str | None = Field(None, description="proxy for https:// (default: HTTPS_PROXY)")
    http_proxy: str | None = Field(None, description="proxy for http:// (default: HTTP_PROXY)")
    no_proxy: str | None = Field(
        None, description="comma-separated hosts reached directly (default: NO_PROXY)"
    )
    connect_timeout: float = Field(10.0, gt=0, description="seconds to open a connection")
    read_timeout: float = Field(
        60.0, gt=0, description="seconds a server may stay silent during a request"
    )
    max_retry_wait: float = Field(
        60.0, ge=0, description="longest wait between retries, whatever Retry-After asks"
    )
    stage_deadline: float = Field(
        3600.0, gt=0, description="seconds to stage one remote input, retries included"
    )


class CatalogueSettings(_Section):
    """The landing-page and function-catalogue service (``preserve serve``) and its clients."""

    url: str | None = Field(
        None,
        description="public base URL of the catalogue: publish sends each DOI there, and "
        "{url}/doi/{doi} is the registered landing page unless landing_url is set",
    )
    token: SecretStr | None = Field(
        None, description="bearer token that publishing into the catalogue needs (both sides)"
    )
    database: str | None = Field(
        None,
        description="the service's storage: sqlite:///PATH or postgresql://...; "
        "default: catalogue.sqlite in data_dir",
    )
    bind: str = Field("127.0.0.1:8470", description="HOST:PORT the service listens on")


class Settings(_Section):
    """Everything the toolkit can be configured with."""

    registry: str | None = Field(
        None,
        description="default push target REGISTRY[/NAMESPACE]; unset = the local OCI layout store",
    )
    insecure_registries: list[str] = Field(
        default_factory=list,
        description="hosts reached over plain HTTP (loopback hosts always are)",
    )
    registries: dict[str, RegistryCredentials] = Field(default_factory=dict)
    doi_provider: str = Field("sandbox", description="the DOI provider publish uses")
    doi_prefixes: list[str] = Field(
        default_factory=list, description="prefixes resolved through the DataCite REST API"
    )
    publisher: Publisher | None = None
    landing_url: str | None = Field(
        None, description="template of a DOI's landing page URL, with {doi}"
    )
    doi_resolver: str = Field(
        "https://doi.org", description="DOI resolver used for content negotiation"
    )
    runner: str = Field("docker", description="the runner capture and rerun use")
    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir(APP)))
    cache_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_cache_dir(APP)))
    min_free_gib: float = Field(5.0, description="free disk below this in cache_dir is an error")
    data_token: SecretStr | None = Field(
        None, description="bearer token or macaroon for remote inputs (hosts in data_token_hosts)"
    )
    data_token_hosts: list[str] = Field(
        default_factory=list, description="hosts (or host:port) that data_token is sent to"
    )
    builders: PluginTables = _tables(plugins.BUILDERS)
    resolvers: PluginTables = _tables(plugins.RESOLVERS)
    stores: PluginTables = _tables(plugins.STORES)
    doi: PluginTables = _tables(plugins.DOI_PROVIDERS)
    runners: PluginTables = _tables(plugins.RUNNERS)
    targets: PluginTables = _tables(plugins.TARGETS)
    sources: PluginTables = _tables(plugins.SOURCES)
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    catalogue: CatalogueSettings = Field(default_factory=CatalogueSettings)
    config_file: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _catalogue_landing_pages(self) -> Settings:
        """A configured catalogue serves the landing pages, unless landing_url says otherwise."""
        if self.landing_url is None and self.catalogue.url:
            self.landing_url = self.catalogue.url.rstrip("/") + "/doi/{doi}"
        return self

    @property
    def store_dir(self) -> Path:
        """The embedded default OCI store: an OCI image layout."""
        return self.data_dir / "oci-layout"

    @classmethod
    def load(
        cls,
        *,
        config_file: Path | None = None,
        env: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Settings:
        """Merge defaults, config file, environment and explicit overrides."""
        env = os.environ if env is None else env
        path = config_file or _config_path(env)
        explicit = config_file is not None or bool(env.get("PRESERVE_CONFIG"))
        if explicit and not path.is_file():
            raise ConfigError(
                f"config file {path} does not exist",
                hint="check the --config option or the PRESERVE_CONFIG variable",
            )
        values: dict[str, Any] = _read_toml(path) if path.is_file() else {}
        _migrate_legacy(values)
        _deep_update(values, _from_env(env))
        _deep_update(values, {k: v for k, v in (overrides or {}).items() if v is not None})
        try:
            settings = cls.model_validate(values)
            _check_tables(settings)
        except (ValidationError, ConfigError) as exc:
            why = _first_error(exc) if isinstance(exc, ValidationError) else exc.message
            raise ConfigError(
                f"invalid configuration: {why}",
                hint=f"fix it in {path} or in the PRESERVE_* environment variables",
            ) from exc
        settings.config_file = path if path.is_file() else None
        return settings

    def section(self, group: plugins.Group, name: str) -> dict[str, Any]:
        """The raw ``[group.NAME]`` table (empty when not configured)."""
        tables: PluginTables = getattr(self, group.section)
        return dict(tables.get(name) or {})

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The config file's JSON Schema (published as schemas/config.schema.json)."""
        schema = cls.model_json_schema()
        schema["properties"].pop("config_file", None)
        for group in plugins.GROUPS:  # the built-in plug-ins' tables, by their own models
            prop = schema["properties"][group.section]
            prop.pop("additionalProperties", None)
            prop["properties"] = {
                name: plugins.options_model(group, name).model_json_schema()
                for name in plugins.builtin(group)
            }
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = "https://preserve.example.org/schemas/config/v1"
        schema["title"] = "preserve configuration file (config.toml)"
        return schema

    def public_dict(self) -> dict[str, Any]:
        """Settings as plain JSON-able data, secrets replaced by '***'."""
        data = self.model_dump(mode="json")
        for creds in data.get("registries", {}).values():
            creds["password"] = "***"
        if data.get("data_token"):
            data["data_token"] = "***"
        for group in plugins.GROUPS:  # validated by each plug-in's model: SecretStr hides
            data[group.section] = {
                name: plugins.options_for(group, name, self).model_dump(mode="json")
                for name in data[group.section]
            }
        if data["catalogue"].get("token"):
            data["catalogue"]["token"] = "***"
        return data


def _config_path(env: Mapping[str, str]) -> Path:
    if env.get("PRESERVE_CONFIG"):
        return Path(env["PRESERVE_CONFIG"])
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc


def _migrate_legacy(values: dict[str, Any]) -> None:
    """Move the plug-in tables of earlier versions to their ``[group.NAME]`` place."""
    for old, (section, name) in LEGACY_TABLES.items():
        table = values.pop(old, None)
        if isinstance(table, Mapping):
            group_tables = values.setdefault(section, {})
            current = group_tables.get(name) or {}
            group_tables[name] = {**table, **current}  # the new place wins


def _check_tables(settings: Settings) -> None:
    """Every ``[group.NAME]`` table names an installed plug-in (a typo is not ignored)."""
    for group in plugins.GROUPS:
        for name in getattr(settings, group.section):
            try:
                plugins.check_name(group, name)
            except PluginNotFound as exc:
                raise ConfigError(f"[{group.section}.{name}]: {exc.message}") from exc


def _plugin_env(env: Mapping[str, str]) -> dict[str, Any]:
    """``PRESERVE_GROUP_NAME_KEY`` (and legacy ``PRESERVE_DATACITE_KEY``) as plug-in tables."""
    prefixes = {f"{ENV_PREFIX}{old}_".upper(): target for old, target in LEGACY_TABLES.items()}
    for group in plugins.GROUPS:
        for name in plugins.available(group):
            prefixes[group.env_prefix(name)] = (group.section, name)
    matches = []
    for key, value in env.items():
        # The longest prefix: PRESERVE_RUNNERS_MY_TOOL_X is my_tool's, not a plug-in "my"'s.
        prefix = max((p for p in prefixes if key.startswith(p) and key != p), key=len, default="")
        if prefix:
            matches.append((prefix, key[len(prefix) :].lower(), value))
    out: dict[str, Any] = {}
    # Shorter (legacy) prefixes first, so that the current names win.
    for prefix, field, value in sorted(matches, key=lambda m: len(m[0])):
        section, name = prefixes[prefix]
        out.setdefault(section, {}).setdefault(name, {})[field] = value
    for section, tables in out.items():
        for name, table in tables.items():
            _split_lists(section, name, table)
    return out


def _split_lists(section: str, name: str, table: dict[str, Any]) -> None:
    """Comma-separated lists, for the keys the plug-in's model declares as lists."""
    group = next(g for g in plugins.GROUPS if g.section == section)
    fields = plugins.options_model(group, name).model_fields
    for key, value in table.items():
        if key in fields and str(fields[key].annotation).startswith("list"):
            table[key] = [p.strip() for p in value.split(",") if p.strip()]


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """Map PRESERVE_FIELD and PRESERVE_SECTION_FIELD onto the settings fields."""
    out: dict[str, Any] = _plugin_env(env)
    for name, field in Settings.model_fields.items():
        section = _section_model(field.annotation)
        if section is not None:
            for sub in section.model_fields:
                key = f"{ENV_PREFIX}{name}_{sub}".upper()
                if key in env:
                    out.setdefault(name, {})[sub] = env[key]
            if name == "publisher" and f"{ENV_PREFIX}PUBLISHER" in env:
                out.setdefault(name, {})["name"] = env[f"{ENV_PREFIX}PUBLISHER"]
            continue
        key = f"{ENV_PREFIX}{name}".upper()
        if key in env and not str(field.annotation).startswith("dict"):
            raw = env[key]
            is_list = str(field.annotation).startswith("list")
            out[name] = [p.strip() for p in raw.split(",") if p.strip()] if is_list else raw
    return out


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The settings section class behind ``Section`` or ``Section | None``."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _deep_update(base: dict[str, Any], new: Mapping[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}"


if __name__ == "__main__":  # regenerate schemas/config.schema.json
    import json
    import sys

    json.dump(Settings.json_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
