"""Fetch and verify before anything runs: the image, every input, the environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from preserve.crate.jsonld import iso
from preserve.crate.model import (
    EnvRecord,
    InputRecord,
)
from preserve.crate.plan import PlannedInput, RerunPlan
from preserve.crate.read import confined_path
from preserve.errors import BuildError, ConfigError, CrateError, DataError, IntegrityError
from preserve.hashing import hash_files
from preserve.mediatypes import guess
from preserve.oci.engine_images import engine_source
from preserve.oci.stores import open_store
from preserve.progress import Progress
from preserve.runners.base import ImageSource, Runner
from preserve.secrets import redact_uri
from preserve.settings import Settings


def fetch_image(plan: RerunPlan, settings: Settings, runner: Runner, progress: Progress) -> str:
    """The image to run, as ``runner`` names it: from the store by its recorded digest
    (or, never pushed, from the local Docker Engine), checked against the crate's ID."""
    if plan.image_ref is not None:
        source = open_store(settings, plan.image_ref).image(plan.image_ref)
    else:
        source = _local_source(plan)
    provided = runner.provide_image(source, progress=progress)
    if plan.image_id and provided.image_id and provided.image_id != plan.image_id:
        raise IntegrityError(
            f"the image {source.label} has ID {provided.image_id}, "
            f"but the crate recorded {plan.image_id}",
            hint="the image in the registry is not the one the analysis ran in",
        )
    return provided.name


def _local_source(plan: RerunPlan) -> ImageSource:
    try:
        if plan.image_id:
            return engine_source(plan.image_id)
    except BuildError:
        pass
    raise CrateError(
        "the crate's image was never pushed, and it is not in this Docker Engine",
        hint="push the crate (`preserve push`) where it was captured, then rerun",
    )


@dataclass(frozen=True)
class StagedInput:
    record: InputRecord
    host_path: Path


def stage_inputs(
    plan: RerunPlan, overrides: Mapping[str, str], settings: Settings, progress: Progress
) -> dict[str, StagedInput]:
    from preserve.data.stage import stage

    staged = {}
    for item in plan.inputs:
        if item.name in overrides:
            uri = as_uri(overrides[item.name])
            progress.step(f"staging new data for input '{item.name}' from {redact_uri(uri)}")
            data = stage(item.name, uri, settings, progress=progress)
            record = InputRecord(
                name=item.name,
                id=redact_uri(uri),
                mount=item.mount,
                size=data.size,
                sha256=data.sha256,
                encoding_format=data.info.encoding_format or guess(uri),
                remote=True,
                sd_date_published=iso(datetime.now(UTC)),
                checksums={k: v for k, v in data.info.checksums.items() if k != "sha256"},
            )
            staged[item.name] = StagedInput(record, data.path)
        elif item.remote:
            data = stage(
                item.name,
                item.entity_id,
                settings,
                expected_sha256=item.sha256,
                expected_size=item.size,
                progress=progress,
            )
            staged[item.name] = StagedInput(input_record(item), data.path)
        else:
            path = plan.crate_dir / item.entity_id
            verify_local(plan, item, path)
            staged[item.name] = StagedInput(input_record(item), path)
    return staged


def as_uri(text: str) -> str:
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):
        return text
    path = Path(text).expanduser().resolve()
    if not path.exists():
        raise DataError(
            f"--input {text}: no such file, and not a URI",
            hint="give a URI (https://, davs://, file://) or an existing path",
        )
    return path.as_uri()


def verify_local(plan: RerunPlan, item: PlannedInput, path: Path) -> None:
    if not path.exists():
        raise IntegrityError(f"input '{item.name}' ({item.entity_id}) is missing from the crate")
    if item.is_dir:
        verify_folder(plan, item, path)
        return
    digest = hash_files([path])[path]
    if item.sha256 and digest.sha256 != item.sha256:
        raise IntegrityError(
            f"input '{item.name}' ({item.entity_id}) does not match the crate's record: "
            f"expected sha256 {item.sha256}, got {digest.sha256}"
        )


def verify_folder(plan: RerunPlan, item: PlannedInput, path: Path) -> None:
    listing_id = item.data.checksum_manifest
    if listing_id is None:
        return
    try:
        lines = plan.view.path(listing_id).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CrateError(
            f"cannot read {listing_id}, the checksum listing of input '{item.name}': {exc}"
        ) from exc
    expected = {}
    for line in lines:
        sha, _, rel = line.partition("  ")
        confined_path(path, rel)  # a listing names files of the folder, never the host's
        expected[rel] = sha
    digests = hash_files([path / rel for rel in expected])
    for rel, sha in expected.items():
        actual = digests[path / rel].sha256
        if actual != sha:
            raise IntegrityError(
                f"input '{item.name}': {rel} does not match the crate's record: "
                f"expected sha256 {sha}, got {actual}"
            )


def input_record(item: PlannedInput) -> InputRecord:
    d = item.data
    return InputRecord(
        name=item.name,
        id=item.entity_id,
        mount=item.mount,
        size=item.size or 0,
        sha256=item.sha256,
        encoding_format=d.encoding_format,
        remote=item.remote,
        is_dir=item.is_dir,
        sd_date_published=d.sd_date_published,
        checksums=dict(d.checksums),
        doi=d.doi,
        description=d.description,
        checksum_manifest=d.checksum_manifest,
    )


def environment(
    plan: RerunPlan, environ: Mapping[str, str]
) -> tuple[dict[str, str], list[EnvRecord]]:
    env: dict[str, str] = {}
    records = []
    for item in plan.spec["env"]:
        name = item["name"]
        if item.get("withheld"):
            if name not in environ:
                raise ConfigError(
                    f"the value of {name} was withheld when the analysis was captured "
                    "(it looks like a credential)",
                    hint=f"set {name} in the environment to rerun",
                )
            env[name] = environ[name]
            records.append(EnvRecord(name, None, withheld=True))
        else:
            if item.get("value") is not None:
                env[name] = item["value"]
            records.append(EnvRecord(name, item.get("value")))
    return env, records
