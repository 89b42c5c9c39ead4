"""Registries speaking the OCI distribution API (distribution, zot, Harbor, GitLab, GHCR).

Images are pushed by the Docker Engine (it does HEAD checks, cross-repository
mounts and layer transfers; it treats 127.0.0.0/8 registries as insecure by
default) and offered to runners by pinned reference, or as an archive of the
verified blobs. Crates, manifests and referrers travel over
:mod:`preserve.oci.transport`.
"""

from __future__ import annotations

import ipaddress
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from preserve.errors import IntegrityError, RegistryError, ServiceUnavailable
from preserve.oci.artifact import canonical_json, parse_manifest
from preserve.oci.caches import BlobLocations, DigestCache
from preserve.oci.crate_io import download_crate, upload_crate
from preserve.oci.digests import CHUNK, sha256_bytes
from preserve.oci.docker_archive import docker_archive
from preserve.oci.engine_images import engine_push
from preserve.oci.referrers import add_referrer, empty_index, fallback_tag, listed
from preserve.oci.refs import OciRef
from preserve.oci.registry_blobs import RegistryBlobs
from preserve.oci.stores import (
    CRATE_ARTIFACT_TYPE,
    INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    Descriptor,
    PulledCrate,
)
from preserve.oci.transport import Transport
from preserve.plugins import NoOptions
from preserve.progress import Progress
from preserve.runners.base import ImageSource
from preserve.settings import Settings

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
# distribution 2.8 answers 404 for OCI manifests unless Accept names them.
ACCEPT = ", ".join((MANIFEST_MEDIA_TYPE, INDEX_MEDIA_TYPE, DOCKER_MANIFEST, DOCKER_LIST))


def is_loopback(host: str) -> bool:
    if host.startswith("["):  # [IPv6]:port
        name = host[1 : host.find("]")]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class RegistryStore:
    """A registry reached over HTTPS (plain HTTP only for loopback or insecure hosts)."""

    options = NoOptions

    def __init__(self, registry: str, settings: Settings) -> None:
        self.registry = registry
        self.settings = settings
        insecure = is_loopback(registry) or registry in settings.insecure_registries
        self.insecure = insecure
        self.base_url = f"{'http' if insecure else 'https'}://{registry}"
        self.transport = Transport(registry, self.base_url, settings)
        safe_host = registry.replace(":", "_").replace("/", "_")
        self.locations = BlobLocations(settings.cache_dir / "oci" / f"blobs-{safe_host}.json")
        self.digests = DigestCache(settings.cache_dir / "oci" / "file-digests.json")

    @classmethod
    def accepts(cls, ref: OciRef) -> bool:
        return not ref.is_local

    @classmethod
    def from_settings(cls, options: NoOptions, settings: Settings, *, ref: OciRef) -> RegistryStore:
        return cls(ref.registry, settings)

    def ping(self) -> str:
        try:
            resp = requests.get(f"{self.base_url}/v2/", timeout=10)
        except requests.RequestException as exc:
            raise ServiceUnavailable(
                f"the OCI registry at {self.base_url} is not reachable",
                hint="start the local registry with `make services`, or check the "
                "registry setting (PRESERVE_REGISTRY)",
            ) from exc
        if resp.status_code not in (200, 401):
            raise RegistryError(
                f"{self.base_url}/v2/ answered HTTP {resp.status_code}; not an OCI registry?"
            )
        auth = " (authentication required)" if resp.status_code == 401 else ""
        return f"OCI registry at {self.base_url} answers{auth}"

    # -- manifests -----------------------------------------------------------------

    def blobs(self, repository: str) -> RegistryBlobs:
        return RegistryBlobs(self.transport, repository, self.locations, self.digests)

    def save_caches(self) -> None:
        self.locations.save()
        self.digests.save()

    def _check_host(self, ref: OciRef) -> None:
        if ref.registry != self.registry:
            raise RegistryError(f"{ref} is not in registry {self.registry}")

    def head_manifest(self, ref: OciRef) -> Descriptor | None:
        """The descriptor of the manifest ``ref`` names, or None when absent."""
        self._check_host(ref)
        url = self.transport.url(ref.repository, f"manifests/{ref.reference}")
        resp = self.transport.request(
            "HEAD", url, repo=ref.repository, headers={"Accept": ACCEPT}, allow=(404,)
        )
        if resp.status_code == 404:
            return None
        digest = resp.headers.get("Docker-Content-Digest")
        media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        size = resp.headers.get("Content-Length")
        if not digest or not size or not media_type:
            data, media_type, digest = self.get_manifest(ref)
            return Descriptor(media_type, digest, len(data))
        if ref.digest and digest != ref.digest:
            raise IntegrityError(f"{self.registry} gave digest {digest} for {ref}")
        return Descriptor(media_type, digest, int(size))

    def get_manifest(self, ref: OciRef, accept: str = ACCEPT) -> tuple[bytes, str, str]:
        """Manifest bytes, media type and digest (verified when ``ref`` is pinned)."""
        self._check_host(ref)
        url = self.transport.url(ref.repository, f"manifests/{ref.reference}")
        resp = self.transport.request(
            "GET", url, repo=ref.repository, headers={"Accept": accept}, allow=(404,)
        )
        if resp.status_code == 404:
            raise RegistryError(
                f"{ref} was not found in {self.registry}",
                hint="check the repository, tag or digest (and that it was pushed)",
            )
        data = resp.content
        digest = sha256_bytes(data)
        claimed = ref.digest or resp.headers.get("Docker-Content-Digest")
        if claimed and claimed != digest:
            raise IntegrityError(
                f"the manifest of {ref} does not match its digest {claimed} (got {digest})",
                hint="the registry returned different content; do not trust it",
            )
        media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        return data, media_type, digest

    def put_manifest(
        self, repository: str, reference: str, data: bytes, media_type: str
    ) -> requests.Response:
        url = self.transport.url(repository, f"manifests/{reference}")
        resp = self.transport.request(
            "PUT", url, repo=repository, headers={"Content-Type": media_type}, body=data, ok=(201,)
        )
        claimed = resp.headers.get("Docker-Content-Digest")
        if claimed and claimed != sha256_bytes(data):
            raise IntegrityError(f"{self.registry} stored the manifest under {claimed}")
        return resp

    def resolve(self, ref: OciRef) -> str:
        desc = self.head_manifest(ref)
        if desc is None:
            raise RegistryError(
                f"{ref} was not found in {self.registry}",
                hint="check the repository, tag or digest (and that it was pushed)",
            )
        return desc.digest

    def _pinned(self, ref: OciRef) -> OciRef:
        return ref if ref.digest else ref.with_digest(self.resolve(ref))

    # -- images --------------------------------------------------------------------

    def engine_auth(self) -> dict[str, str] | None:
        creds = self.transport.credentials()
        return creds.engine_auth(self.registry) if creds else None

    def push_image(self, image: str, target: OciRef, *, progress: Progress) -> OciRef:
        """Tag and push through the engine (``latest`` when ``target`` has no tag).

        The engine needs a registry outside 127.0.0.0/8 that speaks plain HTTP
        in its own ``insecure-registries`` (daemon.json) as well.
        """
        self._check_host(target)
        repository = f"{self.registry}/{target.repository}"
        digest = engine_push(
            image, repository, target.tag or "latest", self.engine_auth(), progress
        )
        return target.with_digest(digest)

    def image(self, ref: OciRef) -> ImageSource:
        """The image by pinned reference (and as an archive of its verified blobs)."""
        pinned = self._pinned(ref).with_tag(None)
        data, _, _ = self.get_manifest(pinned)
        manifest = parse_manifest(data, str(pinned))
        if "config" not in manifest or "layers" not in manifest:
            raise RegistryError(
                f"{pinned} is not a single-platform image manifest",
                hint="push the image the analysis ran in, by its own manifest digest",
            )
        config = Descriptor.from_json(manifest["config"])
        layers = [Descriptor.from_json(layer) for layer in manifest["layers"]]

        def archive(progress: Progress) -> Iterator[bytes]:
            blobs = self.blobs(pinned.repository)
            with tempfile.TemporaryDirectory(dir=self._scratch()) as tmp:
                blobs.fetch_blob(config, Path(tmp, "config"), f"config of {pinned}", progress)
                for i, layer in enumerate(layers):
                    blobs.fetch_blob(layer, Path(tmp, str(i)), f"layer {layer.digest}", progress)
                index = {layer.digest: Path(tmp, str(i)) for i, layer in enumerate(layers)}
                yield from docker_archive(
                    Path(tmp, "config").read_bytes(), layers, lambda d: _read_file(index[d.digest])
                )

        auth = self.engine_auth()
        return ImageSource(
            label=str(pinned),
            image_id=config.digest,
            reference=f"{self.registry}/{pinned.repository}@{pinned.digest}",
            insecure=self.insecure,
            auth=auth,
            archive=archive,
        )

    def _scratch(self) -> Path:
        path = self.settings.cache_dir / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

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
        self._check_host(target)
        subject_desc = self._subject(subject, target) if subject is not None else None
        blobs = self.blobs(target.repository)
        progress.step(f"pushing crate {crate_dir} to {target}")
        workdir = self.settings.cache_dir / "tmp"
        try:
            manifest = upload_crate(blobs, crate_dir, workdir, subject_desc, annotations, progress)
        finally:
            self.save_caches()
        digest = sha256_bytes(manifest)
        resp = self.put_manifest(
            target.repository, target.tag or digest, manifest, MANIFEST_MEDIA_TYPE
        )
        if subject_desc is not None and "OCI-Subject" not in resp.headers:
            desc = Descriptor(
                MANIFEST_MEDIA_TYPE, digest, len(manifest), annotations, CRATE_ARTIFACT_TYPE
            )
            self._add_fallback_referrer(target.repository, subject_desc.digest, desc)
        return target.with_digest(digest)

    def _subject(self, subject: OciRef, target: OciRef) -> Descriptor:
        if (subject.registry, subject.repository) != (target.registry, target.repository):
            raise RegistryError(
                f"the subject {subject} is not in the crate's repository "
                f"{target.registry}/{target.repository}",
                hint="push the crate to the image's repository, so registries can list it "
                "as a referrer of the image",
            )
        desc = self.head_manifest(subject)
        if desc is None:
            raise RegistryError(f"the subject {subject} was not found in {self.registry}")
        return desc

    def _add_fallback_referrer(
        self, repository: str, subject_digest: str, desc: Descriptor
    ) -> None:
        tag_ref = OciRef(self.registry, repository, tag=fallback_tag(subject_digest))
        index = self._fallback_index(tag_ref)
        if add_referrer(index, desc, str(tag_ref)):
            self.put_manifest(
                repository, tag_ref.reference, canonical_json(index), INDEX_MEDIA_TYPE
            )

    def _fallback_index(self, tag_ref: OciRef) -> dict[str, Any]:
        if self.head_manifest(tag_ref) is None:
            return empty_index()
        return parse_manifest(self.get_manifest(tag_ref)[0], str(tag_ref))

    def pull_crate(self, ref: OciRef, dest: Path, *, progress: Progress) -> PulledCrate:
        data, _, digest = self.get_manifest(ref)
        manifest = parse_manifest(data, str(ref))
        progress.step(f"pulling crate {ref} into {dest}")
        try:
            download_crate(self.blobs(ref.repository), manifest, str(ref), dest, progress)
        finally:
            self.save_caches()
        return PulledCrate(ref.with_digest(digest), manifest, dest)

    def referrers(self, subject: OciRef, artifact_type: str | None = None) -> list[Descriptor]:
        self._check_host(subject)
        digest = subject.digest or self.resolve(subject)
        url = self.transport.url(subject.repository, f"referrers/{digest}")
        if artifact_type:
            url += f"?artifactType={quote(artifact_type, safe='')}"
        found: list[Descriptor] = []
        while url:
            resp = self.transport.request(
                "GET",
                url,
                repo=subject.repository,
                headers={"Accept": INDEX_MEDIA_TYPE},
                allow=(404,),
            )
            if resp.status_code == 404:  # no referrers API (distribution 2.8): the tag schema
                tag_ref = OciRef(self.registry, subject.repository, tag=fallback_tag(digest))
                return found or listed(self._fallback_index(tag_ref), artifact_type)
            found += listed(_json(resp, url), artifact_type)  # filtered here if not there
            url = _next_link(resp)
        return found


def _read_file(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while data := fh.read(CHUNK):
            yield data


def _json(resp: requests.Response, url: str) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError as exc:
        raise RegistryError(f"{url} did not answer JSON") from exc
    if not isinstance(data, dict):
        raise RegistryError(f"{url} did not answer a JSON object")
    return data


def _next_link(resp: requests.Response) -> str:
    nxt = resp.links.get("next", {}).get("url")
    return requests.compat.urljoin(resp.url, nxt) if nxt else ""
