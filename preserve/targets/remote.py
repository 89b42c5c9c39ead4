"""What targets that run the function elsewhere share: its secrets, image, limits, logs.

The shim reads its context from the environment (``preserve/shim/__main__.py``):
where it runs (:func:`preserve.targets.base.shim_environment`, plain
configuration), and the storage credentials (the data token, sent only to its
hosts) and the variables the analysis declared withheld (:func:`shim_secrets`),
which targets pass through the platform's own secret channel (``/init``, OSCAR
secrets, OpenWhisk init parameters, OpenFaaS secrets, the batch job's
environment) and record only by name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, Self, TypeVar
from urllib.parse import SplitResult, urlsplit

import requests

from preserve import net
from preserve.errors import ConfigError, TargetError
from preserve.settings import Settings
from preserve.targets.base import FunctionImage, TargetOptions

OptionsT = TypeVar("OptionsT", bound=TargetOptions)
SHIM = "/opt/preserve-shim/shim.pyz"
DATA_TOKEN = "PRESERVE_DATA_TOKEN"


def shim_secrets(
    settings: Settings, spec: Mapping[str, Any], environ: Mapping[str, str]
) -> dict[str, str]:
    """Storage credentials and withheld variables (values: never recorded or printed)."""
    env = {}
    if settings.data_token is not None:
        env[DATA_TOKEN] = settings.data_token.get_secret_value()
        env["PRESERVE_DATA_TOKEN_HOSTS"] = ",".join(settings.data_token_hosts)
    for item in spec.get("env") or []:
        if item.get("withheld") and item["name"] in environ:
            env[item["name"]] = environ[item["name"]]
    return env


def pinned(image: FunctionImage, target: str) -> str:
    """The function image by digest, as a platform pulls it (deploy pushed it)."""
    if image.reference is None or image.digest is None:
        raise TargetError(
            f"{target}: function {image.function}: the function image was not pushed to a "
            "registry the platform can pull from",
            hint="set registry in the config file (or PRESERVE_REGISTRY)",
        )
    return image.reference


def entrypoint(image_id: str) -> list[str]:
    """The function image's entry point: its own python3 running the shim."""
    from preserve.engine import docker_client

    config = docker_client().api.inspect_image(image_id).get("Config") or {}
    found = [str(part) for part in config.get("Entrypoint") or []]
    if not found or found[-1] != SHIM:
        raise TargetError(
            f"the image {image_id[:19]} is not a function image (its entry point is {found})",
            hint="deploy the published analysis again",
        )
    return found


def memory_mib(spec: Mapping[str, Any]) -> int | None:
    """The recorded memory limit in MiB (``resources.memory``: ``512m``, ``2g``, bytes)."""
    value = str((spec.get("resources") or {}).get("memory") or "").strip().lower()
    if not value:
        return None
    factor = {"k": 1 / 1024, "m": 1.0, "g": 1024.0}.get(value[-1])
    number = float(value[:-1]) if factor else float(value) / (1 << 20)
    return max(1, int(number * (factor or 1.0)))


def timeout_seconds(spec: Mapping[str, Any], default: float = 3600.0) -> float:
    """The recorded time limit of one call."""
    return float((spec.get("resources") or {}).get("timeout") or default)


def secret_file_env(files: Mapping[str, str]) -> dict[str, str]:
    """How the shim finds secrets the platform mounts as files (variable -> path)."""
    if not files:
        return {}
    return {"PRESERVE_SHIM_SECRET_FILES": ",".join(f"{k}={v}" for k, v in sorted(files.items()))}


def invocation_lines(text: str, invocation_id: str) -> str:
    """The shim's log lines of one call: from its start line to the next call's."""
    out: list[str] = []
    inside = False
    for line in text.splitlines():
        if "preserve-shim: invocation " in line and line.rstrip().endswith(" started"):
            if inside:
                break
            inside = f"invocation {invocation_id} started" in line
        if inside:
            out.append(line)
    return "".join(f"{line}\n" for line in out)


def platform_url(target: str, address: str, example: str) -> SplitResult:
    """The platform's address (``http(s)://HOST[:PORT]...``), with no credential in it."""
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        raise ConfigError(
            f"{target}+{address} is not the address of a {target} endpoint",
            hint=f"name it as {target}+{example}; credentials go in [targets.{target}]",
        )
    return parts


def session(settings: Settings) -> requests.Session:
    """A session of the network stack for a platform's endpoint."""
    return net.session(settings.network, error=TargetError)


class Platform(Generic[OptionsT]):
    """What the targets of an HTTP platform at ``KIND+https://HOST[:PORT]`` share: their
    table, the platform's address and name in messages, and an admin session."""

    name: ClassVar[str]

    def __init__(
        self, options: OptionsT, settings: Settings, address: str, environ: Mapping[str, str]
    ) -> None:
        parts = platform_url(self.name, address, "https://HOST[:PORT]")
        self.opts = options
        self.settings = settings
        self.environ = environ
        self.base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self.label = f"{self.name}+{self.base}"
        self.admin = session(settings)

    @classmethod
    def from_settings(cls, options: OptionsT, settings: Settings, /, *, address: str = "") -> Self:
        return cls(options, settings, address, os.environ)
