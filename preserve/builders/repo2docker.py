"""Build the analysis image with repo2docker, honouring all of its conventions.

repo2docker picks a buildpack from the files in the directory (Dockerfile,
environment.yml, requirements.txt, apt.txt, postBuild, runtime.txt, ...). It
runs with preserve's Engine-API engine, so it needs no ``docker buildx``.
Images are tagged by a key of the directory's content, so an unchanged
analysis reuses its image instead of rebuilding it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

from pydantic import Field

from preserve.builders.base import BuiltImage
from preserve.engine import docker_client
from preserve.errors import BuildError
from preserve.manifest import Manifest
from preserve.plugins import PluginOptions
from preserve.progress import Progress
from preserve.settings import Settings

SKIP_DIRS = {".git", "__pycache__", ".ipynb_checkpoints", ".venv"}


class _Collect(logging.Handler):
    """Keep repo2docker's log for error messages; forward phase lines."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        self.lines.extend(line for line in text.splitlines() if line.strip())
        if text.startswith(("Using ", "Reusing ")):
            self.progress.step(f"repo2docker: {text.strip()}")

    def tail(self, n: int = 15) -> str:
        return "\n".join(self.lines[-n:])


class Repo2DockerOptions(PluginOptions):
    """The ``[builders.repo2docker]`` table."""

    engine: str = Field(
        "preserve-engine-api",
        description="repo2docker container engine (entry point repo2docker.engines)",
    )
    # repo2docker refuses root as the image user; 1000 is its conventional default.
    user_id: int = Field(1000, ge=1, description="uid of the image's user")
    user_name: str = Field("jovyan", description="name of the image's user")


class Repo2DockerBuilder:
    name = "repo2docker"
    options = Repo2DockerOptions

    def __init__(self, options: Repo2DockerOptions | None = None) -> None:
        self.config = options or Repo2DockerOptions()

    @classmethod
    def from_settings(cls, options: Repo2DockerOptions, settings: Settings) -> Repo2DockerBuilder:
        return cls(options)

    def build(self, directory: Path, manifest: Manifest, *, progress: Progress) -> BuiltImage:
        from repo2docker import __version__ as r2d_version
        from repo2docker.app import Repo2Docker
        from repo2docker.engine import ContainerEngineException

        docker_client()  # a clear error first if the engine is down
        tag = f"preserve-{manifest.name}:{content_key(directory, r2d_version)}"
        client = docker_client()
        existing = _find(client, tag)
        if existing is not None:
            progress.step(f"reusing image {tag} (analysis unchanged)")
            return _built(existing, tag, r2d_version, detect_buildpack(directory), reused=True)

        progress.step(f"building the environment with repo2docker {r2d_version}")
        app = Repo2Docker(
            repo=str(directory.resolve()),
            output_image_spec=tag,
            engine=self.config.engine,
            run=False,
            push=False,
            user_id=self.config.user_id,
            user_name=self.config.user_name,
        )
        if manifest.platform:
            app.platform = manifest.platform
        if manifest.base_image:
            app.base_image = manifest.base_image
        app.initialize()
        collect = _Collect(progress)
        app.log.handlers = [collect]
        app.log.propagate = False
        try:
            app.build()
        except (ContainerEngineException, SystemExit, ValueError, OSError) as exc:
            raise BuildError(
                f"repo2docker could not build {directory}: {_reason(exc, collect)}",
                hint=_hint(exc, app.base_image),
            ) from exc
        image = _find(client, tag)
        if image is None:
            raise BuildError(f"repo2docker finished but no image {tag} exists", hint=collect.tail())
        return _built(image, tag, r2d_version, detect_buildpack(directory), reused=False)


def detect_buildpack(directory: Path) -> str | None:
    """The buildpack repo2docker picks for ``directory`` (its own detection order)."""
    from repo2docker.app import Repo2Docker
    from repo2docker.utils import chdir

    app = Repo2Docker()
    with chdir(str(directory)):
        for buildpack in app.buildpacks:
            if buildpack(base_image=app.base_image).detect():
                return str(buildpack.__name__)
    default = app.default_buildpack
    return str(default.__name__) if default else None


def content_key(directory: Path, builder_version: str) -> str:
    """A short key that changes when any file in the build context changes."""
    digest = hashlib.sha256(builder_version.encode())
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            path = Path(root, name)
            try:
                st = path.lstat()
            except OSError:
                continue
            rel = path.relative_to(directory).as_posix()
            digest.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_mode}\n".encode())
    return digest.hexdigest()[:16]


def _find(client: Any, tag: str) -> Any:
    from docker.errors import ImageNotFound

    try:
        return client.images.get(tag)
    except ImageNotFound:
        return None


def _built(
    image: object, tag: str, version: str, buildpack: str | None, *, reused: bool
) -> BuiltImage:
    attrs = image.attrs  # type: ignore[attr-defined]
    return BuiltImage(
        image_id=attrs["Id"],
        tag=tag,
        repo_digests=tuple(attrs.get("RepoDigests") or ()),
        builder="repo2docker",
        builder_version=version,
        buildpack=buildpack,
        reused=reused,
    )


def _hint(exc: BaseException, base_image: str) -> str:
    text = str(exc)
    pull_failures = ("registry-1.docker.io", "no such host", "pull access denied", "refused")
    if any(s in text for s in pull_failures):
        return (
            f"the build needs an image it cannot pull (repo2docker's buildpacks start FROM "
            f"{base_image}); make it available locally (docker pull / docker load), set "
            "environment.base_image to a mirror you can reach, or build FROM a local image "
            "with a Dockerfile"
        )
    return (
        "fix the environment files (Dockerfile, requirements.txt, ...) and run capture "
        "again; --debug shows the full build log"
    )


def _reason(exc: BaseException, collect: _Collect) -> str:
    text = str(exc).strip() if not isinstance(exc, SystemExit) else ""
    tail = collect.tail(8)
    return (text + ("\n" + tail if tail else "")).strip() or "unknown error"
