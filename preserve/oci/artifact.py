"""The crate artifact: an OCI 1.1 image manifest with one layer per crate file.

Layout (see README, "Artifact format"):

* ``artifactType`` = :data:`CRATE_ARTIFACT_TYPE`, ``config`` = the empty
  descriptor (the 2-byte ``{}`` blob, which is uploaded too: distribution 2.8
  refuses manifests whose blobs it does not hold);
* one layer per file in sorted path order, titled with its POSIX path inside the
  crate (``org.opencontainers.image.title``, as ORAS does), typed by extension;
* a top-level folder holding :data:`DIR_LAYER_THRESHOLD` files or more becomes
  one deterministic ``tar+gzip`` layer titled with the folder's name, its members
  under that name, annotated ``io.deis.oras.content.unpack: "true"`` and
  ``io.deis.oras.content.digest`` (the tar's digest): ORAS's directory
  convention, so oras-py and the oras CLI unpack it too, and the manifest stays
  small. Only top-level folders: oras-py unpacks a layer into the parent of its
  title and the oras CLI under its title, which agree only for a name without
  ``/``;
* ``subject`` = the image manifest descriptor, ``annotations`` = exactly the
  caller's mapping.

Everything is canonical JSON, so the same crate and inputs give the same digest.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preserve.errors import CrateError
from preserve.mediatypes import guess
from preserve.oci.stores import (
    CRATE_ARTIFACT_TYPE,
    EMPTY_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    TITLE,
    Descriptor,
)

DIR_LAYER_THRESHOLD = 1000
UNPACK = "io.deis.oras.content.unpack"
TAR_DIGEST = "io.deis.oras.content.digest"
TAR_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
TARGZ_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
METADATA_FILE = "ro-crate-metadata.json"
EMPTY_BLOB = b"{}"
EMPTY_DESCRIPTOR = Descriptor(
    EMPTY_MEDIA_TYPE,
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    2,
)


class NotACrate(CrateError):
    """A manifest that is not a crate artifact (an image, another tool's artifact)."""


def canonical_json(data: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, no spaces, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def media_type_for(title: str) -> str:
    """The layer media type of a crate file: the same table as its RO-Crate encodingFormat."""
    return guess(title)


@dataclass(frozen=True)
class Entry:
    """One future layer: a file, or a big folder packed as a tar."""

    title: str  # POSIX path inside the crate
    path: Path
    is_dir: bool = False

    @property
    def media_type(self) -> str:
        return TARGZ_MEDIA_TYPE if self.is_dir else media_type_for(self.title)

    def annotations(self, tar_digest: str | None = None) -> dict[str, str]:
        out = {TITLE: self.title}
        if self.is_dir:
            out[UNPACK] = "true"
        if tar_digest:
            out[TAR_DIGEST] = tar_digest
        return out


def crate_entries(crate_dir: Path) -> list[Entry]:
    """The layers of ``crate_dir``, sorted by title."""
    if not (crate_dir / METADATA_FILE).is_file():
        raise CrateError(
            f"{crate_dir} is not an RO-Crate: it has no {METADATA_FILE}",
            hint="push the directory written by `preserve capture`",
        )
    entries: list[Entry] = []
    _collect(crate_dir, crate_dir, entries)
    return sorted(entries, key=lambda e: e.title)


def _collect(root: Path, folder: Path, out: list[Entry]) -> None:
    for item in sorted(os.scandir(folder), key=lambda d: d.name):
        path = Path(item.path)
        title = path.relative_to(root).as_posix()
        if item.is_dir(follow_symlinks=False):
            top = folder == root
            if top and _count_files(path, DIR_LAYER_THRESHOLD) >= DIR_LAYER_THRESHOLD:
                out.append(Entry(title, path, is_dir=True))
            else:
                _collect(root, path, out)
        elif item.is_file():  # a link to a file is read through
            out.append(Entry(title, path))
        else:
            raise CrateError(
                f"{path} in the crate is neither a regular file nor a folder",
                hint="replace links to folders and special files by real files",
            )


def _count_files(folder: Path, limit: int) -> int:
    """Files below ``folder``, counting stops at ``limit``."""
    count = 0
    for _, _, files in os.walk(folder):
        count += len(files)
        if count >= limit:
            break
    return count


def write_tar(entry: Entry, dest: Path) -> tuple[Path, str]:
    """A deterministic tar+gzip of a folder (sorted, mtime 0, uid/gid 0, members under the
    title; gzip without name or time); returns it and the digest of the uncompressed tar."""
    with dest.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        hashed = _Hashing(gz)
        with tarfile.open(fileobj=hashed, mode="w", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            for path in _walk_sorted(entry.path):
                tar_member(tar, entry, path)
    return dest, f"sha256:{hashed.sha256.hexdigest()}"


def tar_member(tar: tarfile.TarFile, entry: Entry, path: Path) -> None:
    name = f"{entry.title}/{path.relative_to(entry.path).as_posix()}"
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if path.is_dir() and not path.is_symlink():
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
    elif path.is_file():
        info.size = path.stat().st_size
        info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
        with path.open("rb") as fh:
            tar.addfile(info, fh)
    else:
        raise CrateError(f"{path} in the crate is neither a regular file nor a folder")


class _Hashing:
    """A write-only file that hashes what passes through it."""

    def __init__(self, out: gzip.GzipFile) -> None:
        self.out = out
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        return self.out.write(data)

    def tell(self) -> int:
        return self.out.tell()


def _walk_sorted(folder: Path) -> Iterator[Path]:
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        yield item
        if item.is_dir() and not item.is_symlink():
            yield from _walk_sorted(item)


def crate_manifest(
    layers: list[Descriptor], subject: Descriptor | None, annotations: Mapping[str, str]
) -> bytes:
    """The canonical bytes of the crate's image manifest."""
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": CRATE_ARTIFACT_TYPE,
        "config": EMPTY_DESCRIPTOR.to_json(),
        "layers": [layer.to_json() for layer in layers],
    }
    if subject is not None:
        manifest["subject"] = Descriptor(subject.media_type, subject.digest, subject.size).to_json()
    if annotations:
        manifest["annotations"] = {str(k): str(v) for k, v in annotations.items()}
    return canonical_json(manifest)


def parse_manifest(data: bytes, where: str) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise CrateError(f"the manifest of {where} is not JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise CrateError(f"the manifest of {where} is not a JSON object")
    return manifest


def check_crate_manifest(manifest: Mapping[str, Any], where: str) -> list[Descriptor]:
    """The layers of a crate manifest; CrateError when it is not a crate artifact."""
    kind = manifest.get("artifactType")
    if kind != CRATE_ARTIFACT_TYPE:
        raise NotACrate(
            f"{where} is not a crate artifact (artifactType {kind!r})",
            hint=f"crate artifacts have artifactType {CRATE_ARTIFACT_TYPE}",
        )
    try:
        return [Descriptor.from_json(layer) for layer in manifest.get("layers", [])]
    except (KeyError, TypeError, ValueError) as exc:
        raise CrateError(f"the manifest of {where} has a malformed layer: {exc}") from exc
