"""The run itself: mounts, environment, limits, and its record."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path

from preserve.builders.base import BuiltImage
from preserve.capture.withheld import (
    Withheld,
    scrub_logs,
)
from preserve.crate.model import (
    LOGS_DIR,
    OUTDIR_MOUNT,
    OUTPUTS_DIR,
    ConfigRecord,
    InputRecord,
    RunRecord,
)
from preserve.manifest import Manifest
from preserve.progress import Progress
from preserve.runners.base import Mount, RunSpec, open_runner
from preserve.runners.command import run_error, substitute
from preserve.settings import Settings


def run_analysis(
    directory: Path,
    manifest: Manifest,
    staging: Path,
    image: BuiltImage,
    inputs: list[InputRecord],
    sources: Mapping[str, Path],
    config: ConfigRecord | None,
    environ: Mapping[str, str],
    secrets: Withheld,
    settings: Settings,
    progress: Progress,
) -> RunRecord:
    outdir = staging / OUTPUTS_DIR
    outdir.mkdir()
    outdir.chmod(0o777)  # the image may run as a non-root user
    (staging / LOGS_DIR).mkdir()
    mounts = [Mount(sources[i.name], i.mount) for i in inputs]
    values = {f"inputs.{i.name}": i.mount for i in inputs} | {"outdir": OUTDIR_MOUNT}
    if config and manifest.config:
        mounts.append(Mount(directory / manifest.config, config.mount))
        values["config"] = config.mount
    mounts.append(Mount(outdir, OUTDIR_MOUNT, read_only=False))
    env = {
        e.name: e.value if e.value is not None else environ[e.name]
        for e in manifest.env
        if e.value is not None or e.name in environ
    }
    runner = open_runner(settings.runner)
    spec = RunSpec(
        image=image.image_id,
        command=substitute(manifest.command, values),
        mounts=tuple(mounts),
        env=env,
        network=manifest.network,
        workdir=manifest.workdir,
        memory=manifest.memory,
        cpus=manifest.cpus,
        timeout=manifest.timeout,
    )
    result = runner.run(
        spec,
        stdout=staging / LOGS_DIR / "stdout.txt",
        stderr=staging / LOGS_DIR / "stderr.txt",
        progress=progress,
    )
    scrub_logs(staging, secrets)
    return RunRecord(
        id=f"#run-{uuid.uuid4()}",
        command=spec.command,
        command_template=manifest.command,
        start=result.start,
        end=result.end,
        exit_code=result.exit_code,
        peak_memory=result.peak_memory,
        cpu_seconds=result.cpu_seconds,
        oom_killed=result.oom_killed,
        timed_out=result.timed_out,
        error=run_error(result, spec, staging / LOGS_DIR / "stderr.txt"),
        workdir=manifest.workdir,
        network=manifest.network,
        memory=manifest.memory,
        cpus=manifest.cpus,
        timeout=manifest.timeout,
        runner=runner.name,
        runner_version=runner.describe(),
    )
