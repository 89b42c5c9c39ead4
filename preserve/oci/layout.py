"""The embedded default store: an OCI image layout directory (image-spec ``image-layout.md``).

``blobs/sha256/`` holds every blob (written to ``.tmp/`` and renamed when
complete). ``index.json`` lists the pushed manifests:

* an image or crate pushed to ``local:REPO:TAG`` gets an entry annotated
  ``org.opencontainers.image.ref.name`` = ``REPO:TAG`` (``REPO`` when pushed
  without a tag); pushing another manifest to the same ``REPO:TAG`` moves the
  name, and the old entry stays, unnamed, so what pinned it keeps working;
* a crate's entry also carries its ``artifactType`` and its manifest
  annotations, as the distribution referrers API would list it; ``referrers()``
  reads the ``subject`` of the manifests these entries point at. This is how
  the layout keeps referrers (it has no tag-schema index).

``local:REPO`` without tag or digest names ``REPO:latest``, else the newest
entry named ``REPO``. Images are offered to runners as a ``docker load``
stream assembled from the verified blobs; the engine gives them back untagged,
with their config digest as ID, which is checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from docker.errors import DockerException

from preserve.errors import IntegrityError, PreserveError, RegistryError
from preserve.oci.artifact import canonical_json, parse_manifest
from preserve.oci.crate_io import download_crate, upload_crate
from preserve.oci.digests import CHUNK, Verifier, copy_verified, sha256_bytes
from preserve.oci.docker_archive import docker_archive, import_saved
from preserve.oci.engine_images import local_image
from preserve.oci.layoutfs import (
    TMP,
    BlobWriter,
    blob_path,
    locked_index,
    read_index,
    write_bytes_blob,
)
from preserve.oci.refs import OciRef
from preserve.oci.stores import (
    CRATE_ARTIFACT_TYPE,
    INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    Descriptor,
    PulledCrate,
)
from preserve.plugins import NoOptions
from preserve.progress import Progress
from preserve.runners.base import ImageSource
from preserve.settings import Settings

LAYOUT_VERSION = {"imageLayoutVersion": "1.0.0"}
REF_NAME = "org.opencontainers.image.ref.name"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"


class LayoutStore:
    """Images and crates kept in one OCI image layout on local disk."""

    options = NoOptions

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def accepts(cls, ref: OciRef) -> bool:
        return ref.is_local

    @classmethod
    def from_settings(cls, options: NoOptions, settings: Settings, *, ref: OciRef) -> LayoutStore:
        return cls(settings.store_dir)

    def ensure(self) -> None:
        try:
            (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
            (self.root / TMP).mkdir(exist_ok=True)
            marker = self.root / "oci-layout"
            if not marker.exists():
                marker.write_text(json.dumps(LAYOUT_VERSION))
            index = self.root / "index.json"
            if not index.exists():
                index.write_text(
                    json.dumps({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": []})
                )
        except OSError as exc:
            raise RegistryError(
                f"cannot use the local OCI store at {self.root}: {exc.strerror}",
                hint="set data_dir (PRESERVE_DATA_DIR) to a writable directory",
            ) from exc

    def ping(self) -> str:
        self.ensure()
        return f"local OCI layout store at {self.root} (no registry configured)"

    # -- blobs (BlobIO for the crate code) -----------------------------------------

    def put_file(self, path: Path, label: str, progress: Progress) -> tuple[str, int]:
        size = path.stat().st_size
        with progress.task(f"storing {label}", size) as task, BlobWriter(self.root) as writer:
            with path.open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    writer.write(chunk)
                    task.advance(len(chunk))
            return writer.commit()

    def put_bytes(self, data: bytes) -> str:
        return write_bytes_blob(self.root, data)

    def fetch_blob(self, desc: Descriptor, out: Path, label: str, progress: Progress) -> None:
        with out.open("wb") as fh, progress.task(f"copying {label}", desc.size) as task:
            copy_verified(
                self._chunks(desc, label), fh, Verifier(desc.digest, desc.size, label), task
            )

    def _chunks(self, desc: Descriptor, label: str) -> Iterator[bytes]:
        try:
            with blob_path(self.root, desc.digest).open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    yield chunk
        except FileNotFoundError as exc:
            raise IntegrityError(f"{label} is missing from the local store {self.root}") from exc

    def _verified(self, desc: Descriptor, label: str) -> Iterator[bytes]:
        verifier = Verifier(desc.digest, desc.size, label)
        for chunk in self._chunks(desc, label):
            verifier.update(chunk)
            yield chunk
        verifier.check()

    def _read(self, digest: str, label: str) -> bytes:
        try:
            data = blob_path(self.root, digest).read_bytes()
        except FileNotFoundError as exc:
            raise RegistryError(f"{label} is not in the local store {self.root}") from exc
        if sha256_bytes(data) != digest:
            raise IntegrityError(f"{label} in the local store does not match its digest {digest}")
        return data

    # -- references ----------------------------------------------------------------

    def _descriptor(self, ref: OciRef) -> Descriptor:
        """The manifest descriptor ``ref`` names."""
        self.ensure()
        if ref.digest:
            data = self._read(ref.digest, str(ref))
            kind = parse_manifest(data, str(ref)).get("mediaType", MANIFEST_MEDIA_TYPE)
            return Descriptor(str(kind), ref.digest, len(data))
        names = [f"{ref.repository}:{ref.reference}"]
        if not ref.tag:
            names.append(ref.repository)
        entries = read_index(self.root)["manifests"]
        for name in names:
            for entry in reversed(entries):
                if (entry.get("annotations") or {}).get(REF_NAME) == name:
                    return Descriptor.from_json(entry)
        raise RegistryError(
            f"{ref} is not in the local store {self.root}",
            hint="check the name and tag, or push it there first",
        )

    def resolve(self, ref: OciRef) -> str:
        return self._descriptor(ref).digest

    def _manifest(self, ref: OciRef) -> tuple[dict[str, Any], str]:
        desc = self._descriptor(ref)
        return parse_manifest(self._read(desc.digest, str(ref)), str(ref)), desc.digest

    def _record(self, desc: Descriptor, ref: OciRef) -> None:
        """Name ``desc`` as ``ref`` in index.json (see the module docstring)."""
        name = f"{ref.repository}:{ref.tag}" if ref.tag else ref.repository
        with locked_index(self.root) as (index, save):
            manifests: list[dict[str, Any]] = index["manifests"]
            for entry in manifests:
                notes = entry.get("annotations") or {}
                if notes.get(REF_NAME) == name:
                    if entry.get("digest") == desc.digest:
                        return
                    if ref.tag:  # the tag moves; the old entry stays, unnamed
                        del notes[REF_NAME]
                        if not notes:
                            entry.pop("annotations", None)
            entry = desc.to_json()
            entry["annotations"] = {**desc.annotations, REF_NAME: name}
            manifests.append(entry)
            save()

    # -- images --------------------------------------------------------------------

    def push_image(self, image: str, target: OciRef, *, progress: Progress) -> OciRef:
        self.ensure()
        img = local_image(image)
        stored = self._stored_image(str(img.attrs["Id"]))
        if stored is not None:  # images never change: no second `docker save`
            progress.step(f"image {image} is already in {self.root}: naming it {target}")
            self._record(stored, target)
            return target.with_digest(stored.digest)
        progress.step(f"saving image {image} into {self.root} as {target}")
        try:
            with progress.task(
                f"exporting {image}", int(img.attrs.get("Size") or 0) or None
            ) as task:
                saved = import_saved(img.save(chunk_size=CHUNK), self.root, image, task)
        except DockerException as exc:
            raise RegistryError(f"`docker save` of {image} failed: {exc}") from exc
        config_digest = self.put_bytes(saved.config)
        manifest = canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST_MEDIA_TYPE,
                "config": Descriptor(CONFIG_MEDIA_TYPE, config_digest, len(saved.config)).to_json(),
                "layers": [layer.to_json() for layer in saved.layers],
            }
        )
        digest = self.put_bytes(manifest)
        self._record(Descriptor(MANIFEST_MEDIA_TYPE, digest, len(manifest)), target)
        return target.with_digest(digest)

    def _stored_image(self, image_id: str) -> Descriptor | None:
        """The manifest of an image already in the layout, found by its config digest."""
        for entry in read_index(self.root)["manifests"]:
            if entry.get("artifactType") or entry.get("mediaType") != MANIFEST_MEDIA_TYPE:
                continue
            try:
                manifest = parse_manifest(self._read(entry["digest"], entry["digest"]), "index")
            except PreserveError:  # a damaged entry: push the image again instead
                continue
            if (manifest.get("config") or {}).get("digest") == image_id:
                return Descriptor(MANIFEST_MEDIA_TYPE, entry["digest"], int(entry["size"]))
        return None

    def image(self, ref: OciRef) -> ImageSource:
        manifest, digest = self._manifest(ref)
        if "config" not in manifest or "layers" not in manifest:
            raise RegistryError(f"{ref} is not an image manifest", hint="give an image reference")
        image_id = Descriptor.from_json(manifest["config"]).digest
        layers = [Descriptor.from_json(layer) for layer in manifest["layers"]]
        pinned = ref.with_tag(None).with_digest(digest)

        def archive(progress: Progress) -> Iterator[bytes]:
            config = self._read(image_id, f"the config of {pinned}")
            with progress.task(f"loading {ref.repository}", sum(x.size for x in layers)) as task:

                def open_layer(layer: Descriptor) -> Iterator[bytes]:
                    for chunk in self._verified(layer, f"layer {layer.digest} of {pinned}"):
                        task.advance(len(chunk))
                        yield chunk

                yield from docker_archive(config, layers, open_layer)

        return ImageSource(label=str(pinned), image_id=image_id, archive=archive)

    # -- crates --------------------------------------------------------------------

    def push_crate(
        self,
        crate_dir: Path,
        target: OciRef,
        *,
        subject: OciRef | None,
        annotations: Mapping[str, str],
        progress: Progress,
    ) -> OciRef:
        self.ensure()
        subject_desc = self._descriptor(subject) if subject is not None else None
        progress.step(f"storing crate {crate_dir} as {target}")
        manifest = upload_crate(
            self, crate_dir, self.root / TMP, subject_desc, annotations, progress
        )
        digest = self.put_bytes(manifest)
        desc = Descriptor(
            MANIFEST_MEDIA_TYPE, digest, len(manifest), annotations, CRATE_ARTIFACT_TYPE
        )
        self._record(desc, target)
        return target.with_digest(digest)

    def pull_crate(self, ref: OciRef, dest: Path, *, progress: Progress) -> PulledCrate:
        manifest, digest = self._manifest(ref)
        progress.step(f"copying crate {ref} into {dest}")
        download_crate(self, manifest, str(ref), dest, progress)
        return PulledCrate(ref.with_digest(digest), manifest, dest)

    def referrers(self, subject: OciRef, artifact_type: str | None = None) -> list[Descriptor]:
        target = self.resolve(subject)
        found: dict[str, Descriptor] = {}
        for entry in read_index(self.root)["manifests"]:
            digest = str(entry.get("digest"))
            if digest in found or "artifactType" not in entry:
                continue
            manifest = parse_manifest(self._read(digest, digest), digest)
            if (manifest.get("subject") or {}).get("digest") != target:
                continue
            kind = manifest.get("artifactType") or manifest["config"]["mediaType"]
            if artifact_type is None or kind == artifact_type:
                found[digest] = Descriptor(
                    str(entry["mediaType"]),
                    digest,
                    int(entry["size"]),
                    dict(manifest.get("annotations") or {}),
                    str(kind),
                )
        return list(found.values())
