"""A repo2docker container engine that builds through the Docker Engine API.

Recent repo2docker drives the ``docker buildx`` CLI plug-in, which Debian's
``docker.io`` does not ship. This engine (entry point ``repo2docker.engines:
preserve-engine-api``) sends the build context to the engine's ``/build``
endpoint instead, so builds work on any Docker Engine, or Podman's compatible
socket, with nothing but the daemon.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import docker
from docker.errors import APIError, DockerException
from repo2docker.docker import DockerContainer
from repo2docker.engine import BuildError, ContainerEngine, Image


class EngineAPIEngine(ContainerEngine):  # type: ignore[misc]
    """Build, inspect and run through the Docker Engine HTTP API (docker-py)."""

    string_output = True

    def __init__(self, *, parent: Any) -> None:
        super().__init__(parent=parent)
        try:
            self._api = docker.APIClient(version="auto", timeout=3600, **_env_kwargs())
        except DockerException as exc:
            raise BuildError(f"the Docker Engine is not reachable: {exc}") from exc

    def build(
        self,
        *,
        push: bool = False,
        load: bool = False,
        buildargs: dict[str, str] | None = None,
        cache_from: list[str] | None = None,
        container_limits: dict[str, Any] | None = None,
        tag: str = "",
        custom_context: bool = False,
        dockerfile: str = "",
        fileobj: Any = None,
        path: str = "",
        labels: dict[str, str] | None = None,
        platform: str | None = None,
        **kwargs: Any,
    ) -> Iterator[str]:
        # `load` is implied: the Engine API builds into the engine's image store.
        stream = self._api.build(
            path=path or None,
            fileobj=fileobj,
            custom_context=custom_context,
            dockerfile=dockerfile or None,
            tag=tag or None,
            buildargs=buildargs or None,
            container_limits=container_limits or None,
            cache_from=cache_from or None,
            labels=labels or None,
            platform=platform,
            rm=True,
            forcerm=True,
            decode=True,
        )
        yield from _messages(stream)
        if push:
            yield from _messages(self._api.push(tag, stream=True, decode=True))

    def inspect_image(self, image: str) -> Image | None:
        try:
            info = self._api.inspect_image(image)
        except APIError:
            return None
        config = dict(info.get("Config") or {})
        config.setdefault("WorkingDir", "")
        return Image(tags=info.get("RepoTags") or [], config=config)

    def run(
        self,
        image_spec: str,
        *,
        command: Any = None,
        environment: Any = None,
        ports: Any = None,
        publish_all_ports: bool = False,
        remove: bool = False,
        volumes: Any = None,
        **kwargs: Any,
    ) -> DockerContainer:
        client = docker.from_env(version="auto")
        container = client.containers.run(
            image_spec,
            command=command,
            environment=environment or [],
            detach=True,
            ports=ports or {},
            publish_all_ports=publish_all_ports,
            remove=remove,
            volumes=volumes or {},
            **kwargs,
        )
        return DockerContainer(container)


def _messages(stream: Iterator[dict[str, Any]]) -> Iterator[str]:
    """Engine JSON messages as log lines; an error message raises BuildError."""
    for chunk in stream:
        if "error" in chunk:
            raise BuildError(str(chunk["error"]).strip())
        if "stream" in chunk:
            yield str(chunk["stream"])
        elif "status" in chunk:
            yield f"{chunk['status']} {chunk.get('progress', '')}".rstrip() + "\n"


def _env_kwargs() -> dict[str, Any]:
    # Same DOCKER_HOST / TLS variables the docker CLI honours.
    return dict(docker.utils.kwargs_from_env())
