"""Fetch and verify before anything runs: the image, every input, the environment."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from preserve.crate.model import (
    EnvRecord,
    InputRecord,
)
from preserve.crate.plan import PlannedInput, RerunPlan
from preserve.errors import BuildError, ConfigError, CrateError, DataError, IntegrityError
from preserve.hashing import closed_tree, hash_files
from preserve.mediatypes import guess
from preserve.oci.engine_images import engine_source
from preserve.oci.stores import open_store
from preserve.progress import Progress
from preserve.rerun.confine import crate_path
from preserve.runners.base import ImageSource, Runner
from preserve.secrets import is_secret, redact_uri
from preserve.settings import Settings
from preserve.shim.jsonld import iso


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
    as_recorded: bool = True  # False: new data given with --input (no comparison)
    verified: bool = True  # False: no recorded checksum, allowed by the reader


def stage_inputs(
    plan: RerunPlan,
    overrides: Mapping[str, str],
    settings: Settings,
    progress: Progress,
    allow_unverified: Collection[str] = (),
) -> dict[str, StagedInput]:
    """Every input as a verified local path: from the crate, the cache, or the reader's data.

    A crate's remote inputs are mounted only from the content-addressed cache,
    after verification against their recorded checksum; a ``file://`` input is
    never read from this machine's disk, since the crate, not the reader, names it.
    """
    staged = {}
    for item in plan.inputs:
        if item.name in overrides:
            staged[item.name] = _stage_override(item, overrides[item.name], settings, progress)
        elif item.remote:
            staged[item.name] = _stage_remote(item, settings, progress, allow_unverified)
        else:
            assert item.path is not None  # read_plan confined every input in the crate
            verify_local(plan, item, item.path)
            staged[item.name] = StagedInput(input_record(item), item.path)
    return staged


def _stage_override(
    item: PlannedInput, given: str, settings: Settings, progress: Progress
) -> StagedInput:
    """Data the reader chose; when it is the recorded input (same SHA-256), it counts as such."""
    from preserve.data.stage import stage

    uri = as_uri(given)
    progress.step(f"staging new data for input '{item.name}' from {redact_uri(uri)}")
    data = stage(item.name, uri, settings, progress=progress)
    if item.sha256 and data.sha256 == item.sha256:
        progress.step(f"input '{item.name}' from {redact_uri(uri)} is the recorded input")
        return StagedInput(input_record(item), data.path)
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
    return StagedInput(record, data.path, as_recorded=False)


def _stage_remote(
    item: PlannedInput, settings: Settings, progress: Progress, allow_unverified: Collection[str]
) -> StagedInput:
    from preserve.data.base import scheme_of
    from preserve.data.stage import cached_input, stage

    record = input_record(item)
    if item.sha256 is None:
        if item.name not in allow_unverified:
            raise DataError(
                f"input {item.name!r} ({redact_uri(item.entity_id)}) has no recorded checksum, "
                "so nothing can show that the data is what the analysis ran on",
                hint=f"pass --allow-unverified-input {item.name} to run on it anyway "
                "(the rerun crate records that), or --input "
                f"{item.name}=URI to run on data you choose",
            )
        record = replace(record, description=UNVERIFIED)
    verified = item.sha256 is not None
    if scheme_of(item.entity_id) == "file":
        # A path on the machine that captured the crate: only its verified copy in the cache.
        hit = cached_input(item.name, item.entity_id, settings, item.sha256, item.size)
        if hit is None:
            raise DataError(
                f"input {item.name!r} is a file on the machine where the analysis was captured "
                f"({redact_uri(item.entity_id)}); a rerun never reads a file a crate names "
                "from this machine",
                hint=f"give the data yourself with --input {item.name}=PATH: when its SHA-256 "
                "is the recorded one, the rerun compares as usual",
            )
        return StagedInput(record, hit.path, verified=verified)
    data = stage(
        item.name,
        item.entity_id,
        settings,
        expected_sha256=item.sha256,
        expected_size=item.size,
        progress=progress,
    )
    return StagedInput(record, data.path, verified=verified)


UNVERIFIED = (
    "Not verified: the original crate records no checksum for this input; "
    "the reader allowed it with --allow-unverified-input."
)


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
    """Every file of a folder input against the crate's checksum list, and no other file."""
    listing_id = item.data.checksum_manifest
    if listing_id is None:
        return
    listing = crate_path(plan.crate_dir, listing_id, f"the checksum list of input {item.name!r}")
    try:
        lines = listing.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CrateError(
            f"cannot read {listing_id}, the checksum listing of input '{item.name}': {exc}"
        ) from exc
    expected = {}
    for line in lines:
        sha, _, rel = line.partition("  ")
        expected[crate_path(path, rel, f"input {item.name!r}: listed file")] = (rel, sha)
    extra = sorted(rel for rel, real in closed_tree(path) if real not in expected)
    if extra:
        raise IntegrityError(
            f"input '{item.name}' holds files its checksum list does not record: "
            + ", ".join(extra[:5])
        )
    digests = hash_files(list(expected))
    for real, (rel, sha) in expected.items():
        actual = digests[real].sha256
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


@dataclass(frozen=True)
class RunEnvironment:
    values: dict[str, str]  # what the container gets
    records: list[EnvRecord]  # what the rerun crate says
    withheld: list[str]  # values kept out of the rerun crate and scrubbed from its logs


def environment(
    recorded: Sequence[Mapping[str, Any]],
    given: Mapping[str, str | None],
    environ: Mapping[str, str],
) -> RunEnvironment:
    """The recorded values (the recipe's ``env``), and the reader's for the variables the
    reader names.

    Nothing of the reader's environment reaches the run unless the reader passes it
    (``--env NAME`` or ``--env NAME=VALUE``): a variable withheld at capture needs it.
    """
    declared = {str(item["name"]): item for item in recorded}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ConfigError(
            f"--env names variable(s) the analysis does not declare: {', '.join(unknown)} "
            f"(declared: {', '.join(declared) or 'none'})",
            hint="a rerun passes only the variables the analysis was captured with",
        )
    env = RunEnvironment({}, [], [])
    for name, item in declared.items():
        if name in given:
            value = given[name] if given[name] is not None else environ.get(name)
            if value is None:
                raise ConfigError(
                    f"--env {name}: {name} is not set in your environment",
                    hint=f"set it, or pass --env {name}=VALUE",
                )
            secret = bool(item.get("withheld")) or is_secret(name, value)
            env.values[name] = value
            env.records.append(EnvRecord(name, None if secret else value, withheld=secret))
            if secret:
                env.withheld.append(value)
        elif item.get("withheld"):
            raise ConfigError(
                f"the value of {name} was withheld when the analysis was captured "
                "(it looks like a credential), and a rerun passes none of your variables "
                "unless you say so",
                hint=f"pass --env {name} to give the run your {name}, or --env {name}=VALUE",
            )
        else:
            if item.get("value") is not None:
                env.values[name] = item["value"]
            env.records.append(EnvRecord(name, item.get("value")))
    return env
