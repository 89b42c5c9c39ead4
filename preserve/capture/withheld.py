"""Credentials withheld from the crate: config values, environment values, logs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from preserve.crate.model import (
    ANALYSIS_DIR,
    MOUNT_ROOT,
    ConfigRecord,
    EnvRecord,
    FileRecord,
)
from preserve.hashing import hash_files
from preserve.manifest import Manifest
from preserve.mediatypes import guess
from preserve.secrets import is_secret, redact_config, scrub


@dataclass
class Withheld:
    values: list[str] = field(default_factory=list)


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


def scrub_analysis(staging: Path, files: list[FileRecord], secrets: Withheld) -> list[FileRecord]:
    out = []
    for f in files:
        path = staging / f.id
        data, n = scrub(path.read_bytes(), secrets.values)
        if n:
            path.write_bytes(data)
            d = hash_files([path])[path]
            f = FileRecord(
                id=f.id,
                size=d.size,
                sha256=d.sha256,
                encoding_format=f.encoding_format,
                name=f.name,
                description=f.description,
            )
        out.append(f)
    return out
