"""Pushing and pulling crate artifacts over any blob store (registry or layout).

A store supplies a :class:`BlobIO`; the crate logic (layers, manifest, safe and
atomic unpacking, verification) is written once here.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from preserve.errors import CrateError
from preserve.oci.artifact import (
    EMPTY_BLOB,
    UNPACK,
    check_crate_manifest,
    crate_entries,
    crate_manifest,
    write_tar,
)
from preserve.oci.stores import TITLE, Descriptor
from preserve.oci.unpack import extract_folder, safe_title, staging
from preserve.progress import Progress


class BlobIO(Protocol):
    def put_file(self, path: Path, label: str, progress: Progress) -> tuple[str, int]:
        """Store a file as a blob (skipping it when present); return digest and size."""

    def put_bytes(self, data: bytes) -> str:
        """Store a small blob; return its digest."""

    def fetch_blob(self, desc: Descriptor, out: Path, label: str, progress: Progress) -> None:
        """Write a blob to ``out``, verifying size and digest while it streams."""


def upload_crate(
    blobs: BlobIO,
    crate_dir: Path,
    workdir: Path,
    subject: Descriptor | None,
    annotations: Mapping[str, str],
    progress: Progress,
) -> bytes:
    """Store every blob of the crate and return the manifest bytes (not yet stored)."""
    entries = crate_entries(crate_dir)
    layers: list[Descriptor] = []
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="crate-") as tmp:
        for entry in entries:
            tar_digest = None
            if entry.is_dir:
                progress.step(f"packing folder {entry.title}")
                path, tar_digest = write_tar(entry, Path(tmp) / f"{len(layers)}.tar.gz")
            else:
                path = entry.path
            digest, size = blobs.put_file(path, entry.title, progress)
            layers.append(Descriptor(entry.media_type, digest, size, entry.annotations(tar_digest)))
            if entry.is_dir:
                path.unlink()
    blobs.put_bytes(EMPTY_BLOB)
    return crate_manifest(layers, subject, annotations)


def download_crate(
    blobs: BlobIO, manifest: Mapping[str, Any], where: str, dest: Path, progress: Progress
) -> None:
    """Fetch every blob of a crate manifest into ``dest`` (complete, or not at all)."""
    layers = check_crate_manifest(manifest, where)
    titles = [safe_title(layer.annotations.get(TITLE, ""), where) for layer in layers]
    _check_distinct([str(t) for t in titles], where)
    config = Descriptor.from_json(manifest["config"])
    with staging(dest) as tmp, tempfile.TemporaryDirectory(dir=tmp.parent) as scratch:
        blobs.fetch_blob(
            config, Path(scratch) / "config", f"config blob ({config.digest})", progress
        )
        for layer, title in zip(layers, titles, strict=True):
            label = f"blob {title} ({layer.digest})"
            if layer.annotations.get(UNPACK) == "true":
                packed = Path(scratch) / "folder.tar.gz"
                blobs.fetch_blob(layer, packed, label, progress)
                extract_folder(packed, tmp, title, where)
                packed.unlink()
            else:
                out = tmp / title
                out.parent.mkdir(parents=True, exist_ok=True)
                blobs.fetch_blob(layer, out, label, progress)


def _check_distinct(titles: list[str], where: str) -> None:
    seen = set(titles)
    if len(seen) != len(titles):
        raise CrateError(f"{where} has two layers with the same title")
    for title in titles:
        parts = title.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in seen:
                raise CrateError(f"{where}: layer {title!r} lies inside the file {parts[:i]!r}")
