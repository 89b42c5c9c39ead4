"""The rerun itself: the recorded command, mounts, environment and limits."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path

from preserve.crate.model import (
    LOGS_DIR,
    OUTDIR_MOUNT,
    OUTPUTS_DIR,
    RunRecord,
)
from preserve.crate.plan import RerunPlan
from preserve.progress import Progress
from preserve.rerun.fetch import StagedInput
from preserve.runners.base import Mount, RunSpec, open_runner
from preserve.runners.command import run_error, stderr_tail, substitute
from preserve.settings import Settings


def run_rerun(
    plan: RerunPlan,
    image_id: str,
    staged: Mapping[str, StagedInput],
    env: Mapping[str, str],
    timeout: float | None,
    settings: Settings,
    staging: Path,
    progress: Progress,
) -> RunRecord:
    spec = plan.spec
    outdir = staging / OUTPUTS_DIR
    outdir.mkdir()
    outdir.chmod(0o777)  # the image may run as a non-root user
    (staging / LOGS_DIR).mkdir()
    mounts = [Mount(s.host_path, s.record.mount) for s in staged.values()]
    values = {f"inputs.{name}": s.record.mount for name, s in staged.items()}
    values["outdir"] = OUTDIR_MOUNT
    config = spec.get("config")
    if config:
        mounts.append(Mount(plan.crate_dir / config["entity"], config["mount"]))
        values["config"] = config["mount"]
    mounts.append(Mount(outdir, OUTDIR_MOUNT, read_only=False))
    resources = spec.get("resources") or {}
    run_spec = RunSpec(
        image=image_id,
        command=substitute(spec["command"], values),
        mounts=tuple(mounts),
        env=dict(env),
        network=bool(spec["network"]),
        workdir=spec.get("workdir"),
        memory=resources.get("memory"),
        cpus=resources.get("cpus"),
        timeout=timeout if timeout is not None else resources.get("timeout"),
        image_ref=str(plan.image_ref) if plan.image_ref else None,
    )
    runner = open_runner(settings.runner)
    progress.step(f"running {' '.join(run_spec.command)}")
    result = runner.run(
        run_spec,
        stdout=staging / LOGS_DIR / "stdout.txt",
        stderr=staging / LOGS_DIR / "stderr.txt",
        progress=progress,
    )
    error = run_error(result, run_spec, staging / LOGS_DIR / "stderr.txt")
    missing = [o.path for o in plan.outputs if not (outdir / o.path).is_file()]
    if error is None and missing:
        error = "declared outputs missing after the run: " + ", ".join(missing)
        tail = stderr_tail(staging / LOGS_DIR / "stderr.txt")
        error += f"; last lines of stderr:\n{tail}" if tail else ""
    return RunRecord(
        id=f"#rerun-{uuid.uuid4()}",
        command=run_spec.command,
        command_template=tuple(spec["command"]),
        start=result.start,
        end=result.end,
        exit_code=result.exit_code,
        peak_memory=result.peak_memory,
        cpu_seconds=result.cpu_seconds,
        oom_killed=result.oom_killed,
        timed_out=result.timed_out,
        error=error,
        workdir=run_spec.workdir,
        network=run_spec.network,
        memory=run_spec.memory,
        cpus=run_spec.cpus,
        timeout=run_spec.timeout,
        runner=runner.name,
    )
