"""Credentials withheld from the crate: config values, environment values, URIs, files.

Every value withheld here is also scrubbed from every file the crate carries
(except the outputs, which fail the capture instead, and local input data).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from preserve.capture.config_values import redact_config
from preserve.crate.model import (
    ANALYSIS_DIR,
    MOUNT_ROOT,
    ConfigRecord,
    EnvRecord,
    FileRecord,
)
from preserve.hashing import hash_files
from preserve.manifest import FILENAME, Manifest
from preserve.mediatypes import guess
from preserve.scrub import Scrubber
from preserve.secrets import is_secret, redact_uri, uri_secrets

MANIFEST_COPY = f"{ANALYSIS_DIR}/{FILENAME}"


@dataclass
class Withheld:
    values: list[str] = field(default_factory=list)

    def scrubber(self) -> Scrubber:
        return Scrubber(self.values)


def uri_values(manifest: Manifest, secrets: Withheld) -> None:
    """Credentials carried by input URIs (user info, ``?authz=``, ``X-Amz-*``...)."""
    secrets.values += [v for i in manifest.inputs if i.uri for v in uri_secrets(i.uri)]


def config_record(
    directory: Path, manifest: Manifest, staging: Path, secrets: Withheld
) -> ConfigRecord | None:
    if not manifest.config:
        return None
    src = directory / manifest.config
    content, keys, values = redact_config(src)
    secrets.values += values
    rel = f"{ANALYSIS_DIR}/{PurePosixPath(manifest.config).as_posix()}"
    out = staging / rel
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(content)
    digest = hash_files([out])[out]
    note = "Configuration, mounted read-only at {mount} during the run."
    if keys:
        note += " Values withheld (they look like credentials): " + ", ".join(keys) + "."
    mount = f"{MOUNT_ROOT}/config/{src.name}"
    return ConfigRecord(
        file=FileRecord(
            id=rel,
            size=digest.size,
            sha256=digest.sha256,
            encoding_format=guess(src.name),
            name=src.name,
            description=note.format(mount=mount),
        ),
        mount=mount,
        withheld_keys=tuple(keys),
    )


def env_records(
    manifest: Manifest, environ: Mapping[str, str], secrets: Withheld
) -> list[EnvRecord]:
    out = []
    for spec in manifest.env:
        value = spec.value if spec.value is not None else environ.get(spec.name)
        withheld = value is not None and is_secret(spec.name, value)
        if withheld and value:
            secrets.values.append(value)
        out.append(EnvRecord(name=spec.name, value=None if withheld else value, withheld=withheld))
    return out


def redact_manifest_copy(staging: Path, manifest: Manifest) -> None:
    """The crate's copy of ``preserve.yaml`` names each input URI as the crate records it.

    Replacing the whole URI also covers credentials too short to scrub blindly
    (``https://ada:pw@host``).
    """
    path = staging / MANIFEST_COPY
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    for spec in manifest.inputs:
        if spec.uri and redact_uri(spec.uri) != spec.uri:
            text = text.replace(spec.uri, redact_uri(spec.uri))
    path.write_text(text, encoding="utf-8")


def changed_files(before: list[FileRecord], after: list[FileRecord]) -> set[str]:
    """Paths, relative to the analysis directory, whose crate copy differs from the original."""
    old = {f.id: f.sha256 for f in before}
    prefix = f"{ANALYSIS_DIR}/"
    return {f.id.removeprefix(prefix) for f in after if old.get(f.id, f.sha256) != f.sha256}


def scrub_files(staging: Path, files: list[FileRecord], secrets: Withheld) -> list[FileRecord]:
    """Withheld values and token shapes out of crate files; changed files re-hashed."""
    scrubber = secrets.scrubber()
    out = []
    for f in files:
        path = staging / f.id
        if path.is_file() and (scrubber.file(path) or f.id == MANIFEST_COPY):
            d = hash_files([path])[path]
            f = replace(f, size=d.size, sha256=d.sha256)
        out.append(f)
    return out
