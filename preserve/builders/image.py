"""``builder: image``: run in a prebuilt image, resolved to its digest."""

from __future__ import annotations

from pathlib import Path

from preserve.builders.base import BuiltImage
from preserve.engine import docker_client
from preserve.errors import BuildError
from preserve.manifest import Manifest
from preserve.plugins import NoOptions
from preserve.progress import Progress
from preserve.settings import Settings


class PrebuiltImageBuilder:
    name = "image"
    options = NoOptions

    @classmethod
    def from_settings(cls, options: NoOptions, settings: Settings) -> PrebuiltImageBuilder:
        return cls()

    def build(self, directory: Path, manifest: Manifest, *, progress: Progress) -> BuiltImage:
        from docker.errors import APIError, ImageNotFound

        ref = manifest.image
        if not ref:
            raise BuildError("environment.builder is 'image' but no environment.image is given")
        client = docker_client()
        try:
            image = client.images.get(ref)
        except ImageNotFound:
            progress.step(f"pulling {ref}")
            try:
                image = client.images.pull(ref)
            except APIError as exc:
                raise BuildError(
                    f"image {ref} is not in the Docker Engine and could not be pulled: "
                    f"{exc.explanation or exc}",
                    hint="check the reference and registry access, or build it first",
                ) from exc
        attrs = image.attrs
        if "@" in ref and not any(d.endswith(ref.split("@", 1)[1]) for d in attrs["RepoDigests"]):
            raise BuildError(f"image {ref} does not carry the digest it was asked for")
        return BuiltImage(
            image_id=attrs["Id"],
            tag=ref if "@" not in ref else None,
            repo_digests=tuple(attrs.get("RepoDigests") or ()),
            builder="image",
        )
