"""Access to the Docker Engine API (Debian's docker.io, Podman's compatible socket)."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import docker
from docker.errors import DockerException

from preserve.errors import ServiceUnavailable


def engine_host() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


@cache
def docker_client() -> Any:
    """A connected ``docker.DockerClient``; a clear error when the engine is down."""
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except DockerException as exc:
        raise ServiceUnavailable(
            f"the Docker Engine is not reachable at {engine_host()}",
            hint="start it with `make services` (or `dockerd &` as root, or "
            "`systemctl start docker`), or point DOCKER_HOST at a running engine",
        ) from exc
    return client


def engine_version() -> dict[str, Any]:
    """``docker version`` of the engine, as a dict (Version, ApiVersion, ...)."""
    try:
        return dict(docker_client().version())
    except DockerException as exc:
        raise ServiceUnavailable(f"the Docker Engine at {engine_host()} failed: {exc}") from exc
