"""Between ``docker save`` archives and OCI image manifests in a layout.

Import: the ``docker save`` stream (docker-py ``image.save()``) is read as a tar
stream; each layer is written to the layout as an uncompressed
``application/vnd.oci.image.layer.v1.tar`` blob, so its digest equals the
config's ``diff_id``; the config bytes are kept exactly (the image ID stays
the config digest). Export: a docker-archive (``manifest.json`` + config + layer
tars) is generated as a byte stream for ``docker load``, never held in memory.
"""

from __future__ import annotations

import io
import json
import posixpath
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preserve.errors import BuildError
from preserve.oci.artifact import TAR_MEDIA_TYPE
from preserve.oci.digests import CHUNK, hex_of
from preserve.oci.layoutfs import BlobWriter, write_bytes_blob
from preserve.oci.stores import Descriptor
from preserve.progress import Task

SMALL = 1 << 20  # members up to this size are kept in memory until manifest.json is read


class IterReader(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (what tarfile's stream mode needs)."""

    def __init__(self, chunks: Iterable[bytes], task: Task | None = None) -> None:
        self._it = iter(chunks)
        self._buf = b""
        self._task = task

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._it)
            except StopIteration:
                return 0
            if self._task is not None:
                self._task.advance(len(self._buf))
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


@dataclass(frozen=True)
class SavedImage:
    config: bytes
    layers: list[Descriptor]


def import_saved(chunks: Iterable[bytes], root: Path, image: str, task: Task | None) -> SavedImage:
    """Store the layers of a ``docker save`` stream as blobs of the layout at ``root``."""
    small: dict[str, bytes] = {}
    stored: dict[str, tuple[str, int]] = {}
    links: dict[str, str] = {}
    reader = io.BufferedReader(IterReader(chunks, task), buffer_size=CHUNK)
    with tarfile.open(fileobj=reader, mode="r|") as tar:
        for member in tar:
            name = posixpath.normpath(member.name)
            if member.issym():
                links[name] = posixpath.normpath(
                    posixpath.join(posixpath.dirname(name), member.linkname)
                )
            elif member.islnk():
                links[name] = posixpath.normpath(member.linkname)
            elif member.isfile():
                fh = tar.extractfile(member)
                assert fh is not None
                if member.size <= SMALL:
                    small[name] = fh.read()
                    continue
                with BlobWriter(root) as writer:
                    while chunk := fh.read(CHUNK):
                        writer.write(chunk)
                    stored[name] = writer.commit()
    return _assemble(small, stored, links, root, image)


def _assemble(
    small: dict[str, bytes],
    stored: dict[str, tuple[str, int]],
    links: dict[str, str],
    root: Path,
    image: str,
) -> SavedImage:
    try:
        entry = json.loads(small["manifest.json"])[0]
        config_name = posixpath.normpath(entry["Config"])
        config = (
            small[config_name] if config_name in small else _read_stored(root, stored[config_name])
        )
        diff_ids = json.loads(config)["rootfs"]["diff_ids"]
        layer_names = [posixpath.normpath(n) for n in entry["Layers"]]
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise BuildError(f"`docker save` of {image} gave an archive we cannot read: {exc}") from exc
    layers: list[Descriptor] = []
    for name in layer_names:
        name = links.get(name, name)
        if name in stored:
            digest, size = stored[name]
        else:
            data = small[name]
            digest, size = write_bytes_blob(root, data), len(data)
        layers.append(Descriptor(TAR_MEDIA_TYPE, digest, size))
    if [layer.digest for layer in layers] != diff_ids:
        raise BuildError(
            f"the layers `docker save` gave for {image} do not match its config's diff_ids",
            hint="the Docker Engine may have exported compressed layers; please report this",
        )
    return SavedImage(config, layers)


def _read_stored(root: Path, blob: tuple[str, int]) -> bytes:
    return (root / "blobs" / "sha256" / hex_of(blob[0])).read_bytes()


def docker_archive(
    config: bytes,
    layers: list[Descriptor],
    open_layer: Callable[[Descriptor], Iterator[bytes]],
) -> Iterator[bytes]:
    """A docker-archive (``docker load`` input) as a stream of chunks."""
    from preserve.oci.digests import sha256_bytes

    config_name = hex_of(sha256_bytes(config)) + ".json"
    names = [f"{hex_of(layer.digest)}/layer.tar" for layer in layers]
    manifest = json.dumps([{"Config": config_name, "RepoTags": None, "Layers": names}]).encode()
    yield _header(config_name, len(config)) + config + _pad(len(config))
    seen: set[str] = set()
    for layer, name in zip(layers, names, strict=True):
        if name in seen:
            continue
        seen.add(name)
        yield _header(name, layer.size)
        yield from open_layer(layer)
        yield _pad(layer.size)
    yield _header("manifest.json", len(manifest)) + manifest + _pad(len(manifest))
    yield b"\0" * 1024


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    return info.tobuf(format=tarfile.GNU_FORMAT)


def _pad(size: int) -> bytes:
    return b"\0" * (-size % 512)
