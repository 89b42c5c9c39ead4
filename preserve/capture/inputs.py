"""Inputs of a capture: remote data staged and referenced, credentials kept out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from preserve.crate.model import (
    MOUNT_ROOT,
    InputRecord,
)
from preserve.manifest import InputSpec, Manifest
from preserve.mediatypes import guess
from preserve.progress import Progress
from preserve.secrets import redact_uri
from preserve.settings import Settings
from preserve.shim.jsonld import iso


@dataclass
class StagedInput:
    """What is known about one input before the run."""

    spec: InputSpec
    record: InputRecord
    host_path: Path


def input_mount(name: str, source_name: str, is_dir: bool) -> str:
    return f"{MOUNT_ROOT}/inputs/{name}" + ("" if is_dir else f"/{source_name}")


def stage_inputs(
    manifest: Manifest, directory: Path, settings: Settings, progress: Progress
) -> list[StagedInput]:
    from preserve.data.stage import stage

    staged = []
    for spec in manifest.inputs:
        if spec.uri is None:
            continue
        progress.step(f"staging input '{spec.name}' from {redact_uri(spec.uri)}")
        data = stage(spec.name, spec.uri, settings, expected_sha256=spec.sha256, progress=progress)
        basename = PurePosixPath(spec.uri.split("?", 1)[0]).name or spec.name
        # A credential in the URI (user info, ?authz=<macaroon>, ...) never enters the crate.
        recorded_uri = redact_uri(spec.uri)
        record = InputRecord(
            name=spec.name,
            id=recorded_uri,
            mount=input_mount(spec.name, basename, False),
            size=data.size,
            sha256=data.sha256,
            encoding_format=data.info.encoding_format or guess(basename),
            remote=True,
            sd_date_published=iso(datetime.now(UTC)),
            checksums={k: v for k, v in data.info.checksums.items() if k != "sha256"},
            doi=spec.doi,
            description=spec.description,
        )
        staged.append(StagedInput(spec, record, data.path))
    return staged
