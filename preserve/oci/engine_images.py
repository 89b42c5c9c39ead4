"""Images in the Docker Engine: pushed and pulled by the engine itself, saved and loaded.

The daemon does the HEAD checks, cross-repository mounts and layer transfers;
we give it credentials (``auth_config``) and render its JSON progress stream.
:func:`provide_in_engine` is the Docker side of the image seam
(:class:`preserve.runners.base.ImageSource`): it takes an image from wherever
a store offers it; :func:`engine_source` offers an engine's image to any runner.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack
from typing import Any

from docker.errors import APIError, DockerException, ImageNotFound

from preserve.engine import docker_client
from preserve.errors import AuthError, BuildError, IntegrityError, RegistryError
from preserve.oci.digests import CHUNK
from preserve.progress import Progress, Task
from preserve.runners.base import ImageSource, ProvidedImage

_AUTH_WORDS = ("unauthorized", "authentication required", "denied", "no basic auth")


def local_image(image: str) -> Any:
    """The engine's image for an ID or tag (BuildError when absent)."""
    try:
        return docker_client().images.get(image)
    except ImageNotFound as exc:
        raise BuildError(
            f"the Docker Engine has no image {image!r}",
            hint="build it first, or check the image ID or tag with `docker images`",
        ) from exc
    except DockerException as exc:
        raise RegistryError(f"cannot inspect image {image!r}: {exc}") from exc


def find_image(name: str) -> Any | None:
    """The engine's image for a reference such as ``host/repo@sha256:...``, or None."""
    try:
        return docker_client().images.get(name)
    except ImageNotFound:
        return None
    except DockerException as exc:
        raise RegistryError(f"cannot inspect image {name!r}: {exc}") from exc


class LayerBars:
    """One progress task per layer, fed by the engine's JSON status lines."""

    def __init__(self, progress: Progress, what: str) -> None:
        self.progress = progress
        self.what = what
        self.stack = ExitStack()
        self.tasks: dict[tuple[str, str], tuple[Task, int]] = {}
        self.aux: dict[str, Any] = {}

    def feed(self, lines: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """Consume the stream; return the last ``aux`` object; raise on an error line."""
        with self.stack:
            for line in lines:
                self._line(line)
        return self.aux

    def _line(self, line: Mapping[str, Any]) -> None:
        if "error" in line:
            message = str(line.get("error") or line.get("errorDetail"))
            cls = AuthError if any(w in message.lower() for w in _AUTH_WORDS) else RegistryError
            raise cls(f"the Docker Engine failed to {self.what}: {message}")
        if isinstance(line.get("aux"), dict):
            self.aux = dict(line["aux"])
        status, layer = str(line.get("status", "")), line.get("id")
        detail = line.get("progressDetail") or {}
        total = detail.get("total")
        if not layer or status not in ("Pushing", "Downloading") or not total:
            return
        key = (status, str(layer))
        if key not in self.tasks:
            task = self.stack.enter_context(
                self.progress.task(f"{status.lower()} layer {layer}", int(total))
            )
            self.tasks[key] = (task, 0)
        task, done = self.tasks[key]
        current = int(detail.get("current") or 0)
        if current > done:
            task.advance(current - done)
            self.tasks[key] = (task, current)


def engine_push(
    image: str, repository: str, tag: str, auth: dict[str, str] | None, progress: Progress
) -> str:
    """Tag ``image`` as ``repository:tag``, push it through the engine; return the digest."""
    img = local_image(image)
    client = docker_client()
    try:
        img.tag(repository, tag)
        progress.step(f"pushing image {image} to {repository}:{tag}")
        lines = client.api.push(repository, tag=tag, stream=True, decode=True, auth_config=auth)
        aux = LayerBars(progress, f"push {repository}:{tag}").feed(lines)
    except APIError as exc:
        raise RegistryError(f"the Docker Engine failed to push {repository}:{tag}: {exc}") from exc
    digest = aux.get("Digest")
    if not digest:
        raise RegistryError(f"the Docker Engine reported no digest for {repository}:{tag}")
    return str(digest)


def engine_pull(
    repository: str, digest: str, auth: dict[str, str] | None, progress: Progress
) -> str:
    """Pull ``repository@digest`` unless the engine has it; return the image ID."""
    name = f"{repository}@{digest}"
    found = find_image(name)
    if found is not None:
        progress.step(f"image {name} is already in the Docker Engine")
        return str(found.id)
    progress.step(f"pulling image {name}")
    try:
        lines = docker_client().api.pull(
            repository, tag=digest, stream=True, decode=True, auth_config=auth
        )
        LayerBars(progress, f"pull {name}").feed(lines)
    except APIError as exc:
        cls = AuthError if exc.status_code in (401, 403) else RegistryError
        raise cls(f"the Docker Engine failed to pull {name}: {exc.explanation or exc}") from exc
    pulled = find_image(name)
    if pulled is None:
        raise RegistryError(f"the Docker Engine pulled {name} but does not list it")
    return str(pulled.id)


def engine_source(image_id: str) -> ImageSource:
    """An image of the local Docker Engine, offered to runners (as a ``docker save`` stream).

    BuildError when the engine does not have it."""
    img = local_image(image_id)

    def archive(progress: Progress) -> Iterator[bytes]:
        progress.step(f"exporting image {image_id[:19]} from the Docker Engine")
        try:
            with progress.task(f"exporting {image_id[:19]}", img.attrs.get("Size")) as task:
                for chunk in img.save(chunk_size=CHUNK):
                    task.advance(len(chunk))
                    yield chunk
        except DockerException as exc:
            raise RegistryError(f"`docker save` of {image_id} failed: {exc}") from exc

    return ImageSource(label=image_id, image_id=image_id, archive=archive)


def provide_in_engine(image: ImageSource, progress: Progress) -> ProvidedImage:
    """Make ``image`` available in the Docker Engine: already there, pulled, or loaded."""
    if image.image_id and find_image(image.image_id) is not None:
        if image.label != image.image_id:
            progress.step(f"image {image.label} is already in the Docker Engine")
        return ProvidedImage(image.image_id, image.image_id)
    if image.reference is not None:
        repository, _, digest = image.reference.partition("@")
        image_id = engine_pull(repository, digest, dict(image.auth or {}) or None, progress)
        return ProvidedImage(image_id, image_id)
    progress.step(f"loading image {image.label} into the Docker Engine")
    try:
        loaded = docker_client().images.load(image.open_archive(progress))
    except DockerException as exc:
        raise RegistryError(f"`docker load` of {image.label} failed: {exc}") from exc
    ids = [str(img.id) for img in loaded]
    if len(ids) != 1 or (image.image_id and ids != [image.image_id]):
        raise IntegrityError(
            f"`docker load` of {image.label} gave image {ids}, expected {image.image_id}",
            hint="the stored image does not match its config digest",
        )
    return ProvidedImage(ids[0], ids[0])
