"""Registries speaking the OCI distribution API (distribution, zot, Harbor, GitLab, GHCR).

Images are pushed by the Docker Engine (it does HEAD checks, cross-repository
mounts and layer transfers; it treats 127.0.0.0/8 registries as insecure by
default) and offered to runners by pinned reference, or as an archive of the
verified blobs. Crates, manifests and referrers travel over
:mod:`preserve.oci.transport`.

What a registry sends is bounded: manifests and indexes at most 4 MiB (the
distribution spec's SHOULD), each read once per digest; referrers pagination
at most :data:`MAX_REFERRER_PAGES` pages, never the same page twice; nothing is
downloaded unless the sizes a manifest claims fit on the disk.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from preserve import net
from preserve.disk import check_free_space
from preserve.errors import CrateError, IntegrityError, RegistryError, ServiceUnavailable
from preserve.oci.artifact import UNPACK, canonical_json, check_crate_manifest
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


MAX_REFERRER_PAGES = 100  # 100 pages of referrers is far beyond any real subject


class RegistryStore:
    """A registry reached over HTTPS (plain HTTP only for loopback or insecure hosts)."""

    options = NoOptions

    def __init__(self, registry: str, settings: Settings) -> None:
        self.registry = registry
        self.settings = settings
        insecure = net.is_loopback(registry) or registry in settings.insecure_registries
        self.insecure = insecure
        self.base_url = f"{'http' if insecure else 'https'}://{registry}"
        self.transport = Transport(registry, self.base_url, settings)
        safe_host = registry.replace(":", "_").replace("/", "_")
        self.locations = BlobLocations(settings.cache_dir / "oci" / f"blobs-{safe_host}.json")
        self.digests = DigestCache(settings.cache_dir / "oci" / "file-digests.json")
        self._manifests: dict[str, tuple[bytes, str]] = {}  # digest -> bytes, media type

    @classmethod
    def accepts(cls, ref: OciRef) -> bool:
        return not ref.is_local

    @classmethod
    def from_settings(cls, options: NoOptions, settings: Settings, *, ref: OciRef) -> RegistryStore:
        return cls(ref.registry, settings)

    def ping(self) -> str:
        url = f"{self.base_url}/v2/"
        try:
            resp = self.transport.http.request("GET", url, attempts=1, timeout=10)
        except RegistryError as exc:
            raise ServiceUnavailable(
                f"the OCI registry at {self.base_url} is not reachable",
                hint="start the local registry with `make services`, or check the "
                "registry setting (PRESERVE_REGISTRY)",
            ) from exc
        if resp.status_code not in (200, 401):
            raise RegistryError(f"{url} answered HTTP {resp.status_code}; not an OCI registry?")
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
        size = resp.headers.get("Content-Length", "")
        if size.isdigit() and int(size) > net.MANIFEST_MAX:
            raise _too_large(ref, int(size))
        if not digest or not size.isdigit() or not media_type:
            data, media_type, digest = self.get_manifest(ref)
            return Descriptor(media_type, digest, len(data))
        if ref.digest and digest != ref.digest:
            raise IntegrityError(f"{self.registry} gave digest {digest} for {ref}")
        return Descriptor(media_type, digest, int(size))

    def get_manifest(self, ref: OciRef, accept: str = ACCEPT) -> tuple[bytes, str, str]:
        """Manifest bytes, media type and digest (verified when ``ref`` is pinned).

        Read at most once per digest, and never beyond :data:`preserve.net.MANIFEST_MAX`.
        """
        found = self._get_manifest(ref, accept)
        if found is None:
            raise RegistryError(
                f"{ref} was not found in {self.registry}",
                hint="check the repository, tag or digest (and that it was pushed)",
            )
        return found

    def _get_manifest(self, ref: OciRef, accept: str) -> tuple[bytes, str, str] | None:
        self._check_host(ref)
        if ref.digest and ref.digest in self._manifests:
            data, media_type = self._manifests[ref.digest]
            return data, media_type, ref.digest
        url = self.transport.url(ref.repository, f"manifests/{ref.reference}")
        resp = self.transport.request(
            "GET", url, repo=ref.repository, headers={"Accept": accept}, allow=(404,), stream=True
        )
        if resp.status_code == 404:
            resp.close()
            return None
        try:
            data = net.read_body(resp, net.MANIFEST_MAX, f"the manifest of {ref}", RegistryError)
        except RegistryError as exc:
            raise _too_large(ref, None) from exc
        digest = sha256_bytes(data)
        claimed = ref.digest or resp.headers.get("Docker-Content-Digest")
        if claimed and claimed != digest:
            raise IntegrityError(
                f"the manifest of {ref} does not match its digest {claimed} (got {digest})",
                hint="the registry returned different content; do not trust it",
            )
        media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        self._manifests[digest] = (data, media_type)
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
        manifest = net.json_object(data, f"the manifest of {pinned}", RegistryError)
        if "config" not in manifest or "layers" not in manifest:
            raise RegistryError(
                f"{pinned} is not a single-platform image manifest",
                hint="push the image the analysis ran in, by its own manifest digest",
            )
        try:
            config = Descriptor.from_json(manifest["config"])
            layers = [Descriptor.from_json(layer) for layer in manifest["layers"]]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RegistryError(f"the manifest of {pinned} has a malformed descriptor") from exc

        def archive(progress: Progress) -> Iterator[bytes]:
            blobs = self.blobs(pinned.repository)
            sizes = [config.size, *(layer.size for layer in layers)]
            check_free_space(
                self._scratch(),
                sum(sizes) if min(sizes) >= 0 else -1,
                f"the image {pinned}",
                error=RegistryError,
                hint="free space in cache_dir, or point it (PRESERVE_CACHE_DIR) elsewhere",
            )
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
        found = self._get_manifest(tag_ref, ACCEPT)
        if found is None:
            return empty_index()
        return net.json_object(found[0], f"the referrers index {tag_ref}", RegistryError)

    def pull_crate(self, ref: OciRef, dest: Path, *, progress: Progress) -> PulledCrate:
        data, _, digest = self.get_manifest(ref)
        manifest = net.json_object(data, f"the manifest of {ref}", CrateError)
        _check_room(manifest, str(ref), dest)
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
        seen: set[str] = set()
        while url:
            if url in seen or len(seen) >= MAX_REFERRER_PAGES:
                raise _endless_referrers(subject, url in seen)
            seen.add(url)
            resp = self.transport.request(
                "GET",
                url,
                repo=subject.repository,
                headers={"Accept": INDEX_MEDIA_TYPE},
                allow=(404,),
                stream=True,
            )
            if resp.status_code == 404:  # no referrers API (distribution 2.8): the tag schema
                resp.close()
                tag_ref = OciRef(self.registry, subject.repository, tag=fallback_tag(digest))
                return found or listed(self._fallback_index(tag_ref), artifact_type)
            page = net.read_body(
                resp, net.MANIFEST_MAX, f"the referrers of {subject}", RegistryError
            )
            index = net.json_object(page, f"the referrers of {subject} ({url})", RegistryError)
            found += listed(index, artifact_type)  # filtered here if not there
            url = _next_link(resp)
        return found


def _read_file(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while data := fh.read(CHUNK):
            yield data


def _too_large(ref: OciRef, size: int | None) -> RegistryError:
    said = f"{size} bytes" if size is not None else "more"
    return RegistryError(
        f"the manifest of {ref} is too large: {said}, the limit is {net.MANIFEST_MAX} bytes",
        hint="no registry or client needs to handle manifests over 4 MiB (distribution "
        "spec); this registry is misconfigured or hostile, so nothing of it was used",
    )


def _endless_referrers(subject: OciRef, loop: bool) -> RegistryError:
    why = "its Link: next header leads back to a page already read"
    if not loop:
        why = f"it has more than {MAX_REFERRER_PAGES} pages"
    return RegistryError(
        f"the referrers list of {subject} does not end: {why}",
        hint="the registry's referrers API is broken or hostile; nothing of it was used",
    )


def _check_room(manifest: Mapping[str, Any], where: str, dest: Path) -> None:
    """Refuse a crate whose claimed blob sizes do not fit on the disk, before downloading."""
    layers = check_crate_manifest(manifest, where)
    try:
        config = int(manifest["config"]["size"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CrateError(f"the manifest of {where} has a malformed config descriptor") from exc
    sizes = [config, *(layer.size for layer in layers)]
    if min(sizes) < 0:
        raise CrateError(f"the manifest of {where} claims a negative blob size")
    folders = [layer.size for layer in layers if layer.annotations.get(UNPACK) == "true"]
    check_free_space(
        dest.parent,
        sum(sizes),
        f"the crate {where}",
        error=RegistryError,
        keep_free=max(folders, default=0),  # a folder is unpacked beside its tar
        hint="free space there, or pull elsewhere; a claim far beyond the crate's real size "
        "means the manifest was not made by preserve or was tampered with",
    )


def _next_link(resp: requests.Response) -> str:
    nxt = resp.links.get("next", {}).get("url")
    return requests.compat.urljoin(resp.url, nxt) if nxt else ""
