"""Registry credentials and the ``WWW-Authenticate`` challenge.

Credentials come from ``[registries."HOST"]`` in preserve's config file, else
from the Docker config file (``$DOCKER_CONFIG/config.json`` or
``~/.docker/config.json``): ``credHelpers``/``credsStore`` through
``docker-credential-<name> get``, then base64 ``auths``. Secrets are kept in
memory only and never appear in messages.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oras.auth.utils import parse_auth_header

from preserve.errors import ConfigError
from preserve.settings import Settings


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    source: str = ""

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def engine_auth(self, host: str) -> dict[str, str]:
        """The ``auth_config`` the Docker Engine takes for push and pull."""
        return {"username": self.username, "password": self.password, "serveraddress": host}


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "basic" or "bearer"
    realm: str | None
    service: str | None
    scope: str | None

    @classmethod
    def parse(cls, header: str) -> Challenge:
        scheme = header.strip().split(" ", 1)[0].lower()
        # oras's parser handles the key="value" list; it does not report the scheme.
        params = parse_auth_header(header)
        return cls(scheme, params.realm, params.service, params.scope)


def docker_config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def searched_places(settings: Settings, host: str) -> str:
    """Where credentials for ``host`` are looked for (said in AuthError messages)."""
    config = settings.config_file or "preserve's config file"
    return (
        f'[registries."{host}"] in {config}, and {docker_config_path()} '
        "(credHelpers, credsStore, auths)"
    )


def find_credentials(settings: Settings, host: str) -> Credentials | None:
    creds = settings.registries.get(host)
    if creds is not None:
        source = f'[registries."{host}"] in {settings.config_file or "the settings"}'
        return Credentials(creds.username, creds.password.get_secret_value(), source)
    return _from_docker_config(host)


def _from_docker_config(host: str) -> Credentials | None:
    path = docker_config_path()
    if not path.is_file():
        return None
    try:
        config: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the Docker config file {path}: {exc}") from exc
    helper = (config.get("credHelpers") or {}).get(host) or config.get("credsStore")
    if helper:
        found = _from_helper(str(helper), host)
        if found is not None:
            return found
    for key, entry in (config.get("auths") or {}).items():
        if _host_of(key) == host and isinstance(entry, dict) and entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except ValueError as exc:
                raise ConfigError(f"{path}: auths.{key}.auth is not base64 user:password") from exc
            return Credentials(user, password, f"{path} (auths)")
    return None


def _from_helper(name: str, host: str) -> Credentials | None:
    program = f"docker-credential-{name}"
    try:
        done = subprocess.run(
            [program, "get"], input=host, capture_output=True, text=True, timeout=60
        )
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{docker_config_path()} names the credential helper {program}, which is not installed",
            hint=f"install {program}, or remove it from the Docker config file",
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise ConfigError(f"the credential helper {program} did not answer in time") from exc
    if done.returncode != 0:
        return None  # "credentials not found": fall back to the other places
    try:
        data = json.loads(done.stdout)
        user, secret = str(data["Username"]), str(data["Secret"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"the credential helper {program} gave malformed output") from exc
    return Credentials(user, secret, program)


def _host_of(key: str) -> str:
    for prefix in ("https://", "http://"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key.split("/", 1)[0]
