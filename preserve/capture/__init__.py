"""``preserve capture``: run an analysis in its environment and record it as an RO-Crate.

The crate is assembled in a hidden directory beside the target and moved into
place only when complete, so a failure never leaves half a crate where a
complete one is expected. A run that fails still yields a crate, marked with
``FailedActionStatus``, for debugging.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from preserve import __version__
from preserve.builders.base import BuiltImage, open_builder
from preserve.capture.analysis import build_context, copy_analysis, write_extra
from preserve.capture.describe import first_affiliation, image_record, metadata_warnings
from preserve.capture.execute import run_analysis
from preserve.capture.inputs import stage_inputs
from preserve.capture.outputs import collect_outputs, log_records
from preserve.capture.withheld import (
    Withheld,
    changed_files,
    config_record,
    env_records,
    redact_manifest_copy,
    scrub_files,
    uri_values,
)
from preserve.crate.io import dumps, write_metadata
from preserve.crate.model import COMPLETED, FAILED, OUTPUTS_DIR, CrateRecord
from preserve.crate.target import check_target, finalize, staging_dir
from preserve.disk import writing
from preserve.errors import RunError
from preserve.inventory import software_inventory
from preserve.locks import exclusive, lock_path
from preserve.manifest import Manifest, load_manifest
from preserve.oci.engine_images import engine_source
from preserve.progress import QUIET, Progress
from preserve.runners.base import open_runner
from preserve.settings import Settings
from preserve.shim.jsonld import iso
from preserve.source import SourceInfo, source_info


@dataclass(frozen=True)
class CaptureResult:
    crate_dir: Path
    image: BuiltImage
    record: CrateRecord
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "crate": str(self.crate_dir),
            "status": "completed" if self.record.run.status == COMPLETED else "failed",
            "image": {
                "id": self.image.image_id,
                "digest": self.record.image.digest,
                "tag": self.image.tag,
            },
            "outputs": [
                {"path": o.id.removeprefix(f"{OUTPUTS_DIR}/"), "size": o.size, "sha256": o.sha256}
                for o in self.record.outputs
            ],
            "warnings": list(self.warnings),
        }


def default_crate_dir(manifest: Manifest) -> Path:
    return Path.cwd() / f"{manifest.name}-crate"


def capture(
    directory: Path,
    *,
    settings: Settings,
    output: Path | None = None,
    allow_dirty: bool = False,
    overwrite: bool = False,
    progress: Progress = QUIET,
    environ: Mapping[str, str] | None = None,
    builder: str | None = None,
) -> CaptureResult:
    """Build, run and record the analysis in ``directory``; see the module docstring.

    ``builder`` overrides ``environment.builder`` of ``preserve.yaml``."""
    directory = directory.resolve()
    environ = os.environ if environ is None else environ
    manifest = load_manifest(directory)
    if builder is not None:
        manifest = replace(manifest, builder=builder)
    crate_dir = (output or default_crate_dir(manifest)).resolve()
    check_target(crate_dir, overwrite)
    source = source_info(directory, allow_dirty=allow_dirty, exclude=(crate_dir,))

    with writing(crate_dir, "the crate"):
        staging = staging_dir(crate_dir)
        try:
            result = _capture_into(
                staging, directory, manifest, source, settings, progress, environ, crate_dir
            )
            finalize(staging, crate_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    result = CaptureResult(crate_dir, result.image, result.record, result.warnings)
    run = result.record.run
    if run.status == FAILED:
        raise RunError(
            f"the analysis failed: {run.error}",
            hint=f"the crate {crate_dir} records the failed run (FailedActionStatus) "
            "with its stdout and stderr under logs/",
        )
    return result


def _capture_into(
    staging: Path,
    directory: Path,
    manifest: Manifest,
    source: SourceInfo,
    settings: Settings,
    progress: Progress,
    environ: Mapping[str, str],
    crate_dir: Path,
) -> CaptureResult:
    secrets = Withheld()
    warnings = metadata_warnings(manifest, source)
    inputs = stage_inputs(manifest, directory, settings, progress)
    uri_values(manifest, secrets)
    runner = open_runner(settings)  # configuration errors before the build

    progress.step("copying the analysis into the crate")
    exclude = (crate_dir, staging)
    analysis_files, input_records, extra_files = copy_analysis(
        directory, manifest, staging, inputs, exclude=exclude
    )
    config = config_record(directory, manifest, staging, secrets)
    env = env_records(manifest, environ, secrets)
    # Withheld before the build: the image is built from what the crate may show.
    redact_manifest_copy(staging, manifest)
    scrubbed = scrub_files(staging, analysis_files, secrets)
    replaced = changed_files(analysis_files, scrubbed)
    if config and config.withheld_keys and manifest.config:
        replaced.add(PurePosixPath(manifest.config).as_posix())
    analysis_files = scrubbed
    # Concurrent captures of one analysis build it once; the others reuse the image.
    with (
        exclusive(lock_path(settings.cache_dir, "build", str(directory))),
        build_context(directory, staging, replaced, exclude) as context,
    ):
        image = open_builder(settings, manifest.builder).build(context, manifest, progress=progress)
    runnable = runner.provide_image(engine_source(image.image_id), progress=progress).name

    sources = {s.spec.name: s.host_path for s in inputs}
    sources |= {i.name: directory / str(i.path) for i in manifest.inputs if i.path is not None}
    run = run_analysis(
        directory,
        manifest,
        staging,
        runnable,
        input_records,
        sources,
        config,
        environ,
        secrets.values,
        runner,
        progress,
    )
    outputs = collect_outputs(manifest, staging, secrets, warnings)

    progress.step("recording the software inventory of the image")
    inventory = software_inventory(image.image_id, runnable, settings.cache_dir, runner)
    extra_files += write_extra(
        staging,
        "environment/software.json",
        dumps(inventory).encode(),
        "Software inventory of the image: OS, Debian, Python and conda packages.",
    )
    extra_files += log_records(staging)
    if source.dirty and source.diff is not None:
        extra_files += write_extra(
            staging,
            "analysis.diff",
            source.diff.encode(),
            "Uncommitted changes of the analysis at capture time.",
        )
    extra_files = scrub_files(staging, extra_files, secrets)

    record = CrateRecord(
        manifest=manifest,
        source=source,
        image=image_record(image, manifest),
        run=run,
        inputs=tuple(input_records),
        outputs=tuple(outputs),
        env=tuple(env),
        config=config,
        analysis_files=tuple(analysis_files),
        extra_files=tuple(extra_files),
        date_published=iso(datetime.now(UTC)),
        preserve_version=__version__,
        publisher=settings.publisher or first_affiliation(manifest),
    )
    write_metadata(record, staging)
    return CaptureResult(staging, image, record, tuple(warnings))
