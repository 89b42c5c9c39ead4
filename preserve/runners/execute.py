"""Run one analysis command and record it: shared by ``capture`` and ``rerun``.

A :class:`Recipe` says what to run, whether it came from ``preserve.yaml``
(capture) or from a crate (rerun). :func:`execute` lays out the mounts, fills
the placeholders, runs the container, checks the declared outputs, and returns
the :class:`~preserve.crate.model.RunRecord`. The error it records is computed
from logs already scrubbed of withheld values.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from preserve.crate.model import LOGS_DIR, OUTDIR_MOUNT, OUTPUTS_DIR, RunRecord
from preserve.progress import Progress
from preserve.runners.base import Mount, Runner, RunSpec
from preserve.runners.command import expand_env, run_error, stderr_tail, substitute
from preserve.runners.outdir import run_outdir
from preserve.runners.outputs import remove_unsafe
from preserve.scrub import Scrubber

FULL = 1 << 20  # bytes free below which a failed run is reported as a full disk


@dataclass(frozen=True)
class Recipe:
    image: str
    command: tuple[str, ...]  # the template, with {inputs.NAME}, {config}, {outdir}
    inputs: Mapping[str, tuple[Path, str]]  # name -> (host path, mount in the container)
    outputs: Sequence[str]
    config: tuple[Path, str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    network: bool = False
    workdir: str | None = None
    memory: str | None = None
    cpus: float | None = None
    timeout: float | None = None
    user: str | None = None  # None: the image's own user (capture); a rerun passes the recorded


def execute(
    recipe: Recipe,
    staging: Path,
    *,
    runner: Runner,
    progress: Progress,
    withheld: Sequence[str] = (),
    id_prefix: str = "run",
) -> RunRecord:
    """Run ``recipe`` with its outputs in ``staging/outputs`` and its logs in ``staging/logs``.

    ``recipe.image`` is the image as ``runner.provide_image`` named it.
    """
    outdir = staging / OUTPUTS_DIR
    logs = staging / LOGS_DIR
    logs.mkdir()
    mounts = [Mount(host, mount) for host, mount in recipe.inputs.values()]
    values = {f"inputs.{name}": mount for name, (_, mount) in recipe.inputs.items()}
    values["outdir"] = OUTDIR_MOUNT
    if recipe.config:
        mounts.append(Mount(*recipe.config))
        values["config"] = recipe.config[1]
    command = substitute(recipe.command, values)  # as recorded: $NAME not filled in
    with run_outdir(outdir) as run_dir:
        spec = _spec(recipe, command, (*mounts, Mount(run_dir, OUTDIR_MOUNT, read_only=False)))
        progress.step(f"running {' '.join(command)}")
        result = runner.run(
            spec, stdout=logs / "stdout.txt", stderr=logs / "stderr.txt", progress=progress
        )
    _scrub(logs, withheld)
    error = run_error(result, spec, logs / "stderr.txt")
    unsafe = remove_unsafe(outdir)
    if unsafe:
        error = (f"{error}; " if error else "") + (
            "the run left outputs that are not regular files (removed, never recorded): "
            + ", ".join(unsafe)
        )
    missing = [o for o in recipe.outputs if not (outdir / o).is_file()]
    if error is None and missing:
        error = "declared outputs missing after the run: " + ", ".join(missing)
        tail = stderr_tail(logs / "stderr.txt")
        error += f"; last lines of stderr:\n{tail}" if tail else ""
    if error is not None and shutil.disk_usage(outdir).free < FULL:
        error += f"; the file system of {outdir} is full"
    return RunRecord(
        id=f"#{id_prefix}-{uuid.uuid4()}",
        command=command,
        command_template=recipe.command,
        start=result.start,
        end=result.end,
        exit_code=result.exit_code,
        peak_memory=result.peak_memory,
        cpu_seconds=result.cpu_seconds,
        oom_killed=result.oom_killed,
        timed_out=result.timed_out,
        error=error,
        workdir=recipe.workdir,
        network=recipe.network,
        memory=recipe.memory,
        cpus=recipe.cpus,
        timeout=recipe.timeout,
        runner=runner.name,
        runner_version=runner.describe(),
        user=result.user,
    )


def _spec(recipe: Recipe, command: tuple[str, ...], mounts: Sequence[Mount]) -> RunSpec:
    return RunSpec(
        image=recipe.image,
        command=expand_env(command, recipe.env),
        mounts=tuple(mounts),
        env=dict(recipe.env),
        network=recipe.network,
        workdir=recipe.workdir,
        memory=recipe.memory,
        cpus=recipe.cpus,
        timeout=recipe.timeout,
        user=recipe.user,
    )


def _scrub(logs: Path, withheld: Sequence[str]) -> None:
    """Withheld values and token shapes out of the logs, streaming (logs can be large)."""
    scrubber = Scrubber(withheld)
    for path in (logs / "stdout.txt", logs / "stderr.txt"):
        if path.is_file():
            scrubber.file(path)
