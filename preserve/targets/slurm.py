"""The ``slurm`` target: a SLURM cluster through ``sbatch``; many calls are one job array.

Deploy pushes the function image to the configured registry (pinned by digest)
and checks that the cluster answers. Invoke writes each call's parameters into a
batch folder under ``work_dir`` (a file system the compute nodes share), submits
one job array whose task *i* runs the pinned image with the cluster's container
runtime and the shim's command line (``run --parameters FILE``), and waits:
each task writes the shim's result document into ``results/i.json``, and the
tasks' states come from ``scontrol`` (accounting may be absent), so that a
task SLURM ended without a result (cancelled, out of time, node failure) fails
with its state and the tail of its log. A task is bounded by ``--time`` (the
function's time limit); the shim bounds the command itself.

The runtime is a command template (``[targets.slurm] runtime``, or ``command``
for a site's own), rendered with shell-quoted values: ``{image}`` (pinned by
digest), ``{network}``, ``{mounts}`` (``mounts`` and the batch folder, read-only
but for ``mounts``), ``{env}`` (names only: values come from the job's
environment), ``{parameters}``, ``{invocation_id}`` and ``{scratch}`` (a
writable folder for ``/preserve``, for runtimes with read-only images).
Storage credentials reach the tasks through the environment ``sbatch`` passes
on; they never appear in the job script, the batch folder or the record.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import string
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from preserve.errors import ConfigError, TargetError
from preserve.progress import Progress
from preserve.settings import Settings
from preserve.targets.base import (
    Call,
    Deployed,
    Deployment,
    FunctionImage,
    Outcome,
    TargetOptions,
)
from preserve.targets.remote import memory_mib, pinned, shim_env, shim_secrets, timeout_seconds

NAME = "slurm"
TERMINAL = frozenset(
    {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL"}
    | {"OUT_OF_MEMORY", "PREEMPTED", "TIMEOUT"}
)
# Shell variables the job script sets for each task.
PER_TASK = {
    "parameters": '"$PRESERVE_CALL"',
    "invocation_id": '"$PRESERVE_INVOCATION_ID"',
    "scratch": '"$PRESERVE_SCRATCH"',
}
FIELDS = frozenset({"image", "network", "mounts", "env", *PER_TASK})
LOG_TAIL = 2000


@dataclass(frozen=True)
class Runtime:
    """How one container runtime is told to run the function image."""

    command: str  # the template
    mount: str  # one folder shared at the same path: {path}, {mode}
    env: str | None  # one variable passed on by name; None: exported as ``env_prefix``NAME
    image: str = "{ref}"
    env_prefix: str = ""


RUNTIMES = {
    "docker": Runtime(
        "docker run --rm --pull missing --network {network} {mounts} {env} {image} "
        "run --parameters {parameters} --invocation-id {invocation_id}",
        mount="--volume {path}:{path}:{mode}",
        env="--env {name}",
    ),
    "podman": Runtime(
        "podman run --rm --pull missing --network {network} {mounts} {env} {image} "
        "run --parameters {parameters} --invocation-id {invocation_id}",
        mount="--volume {path}:{path}:{mode}",
        env="--env {name}",
    ),
    # Read-only images, the user's own identity: /preserve is a per-task scratch folder;
    # variables go in as APPTAINERENV_NAME, never on the command line.
    "apptainer": Runtime(
        "apptainer run --containall --no-home --bind {scratch}:/preserve {mounts} {image} "
        "run --parameters {parameters} --invocation-id {invocation_id}",
        mount="--bind {path}:{path}:{mode}",
        env=None,
        image="docker://{ref}",
        env_prefix="APPTAINERENV_",
    ),
}


class SlurmOptions(TargetOptions):
    runtime: Literal["docker", "podman", "apptainer"] = Field(
        "docker", description="the container runtime of the compute nodes"
    )
    command: str | None = Field(
        None, description="the site's own command template (default: the runtime's)"
    )
    work_dir: Path | None = Field(
        None,
        description="batch folders, on a file system the compute nodes share "
        "(default: <data_dir>/functions/slurm)",
    )
    sbatch: list[str] = Field(
        default_factory=list, description="more sbatch options, e.g. --partition=debug"
    )
    mounts: list[str] = Field(
        default_factory=list,
        description="shared folders the function may read and write (file:// data)",
    )
    network: str = Field("host", description="the container network of the tasks")
    max_running: int | None = Field(None, gt=0, description="tasks of one array running at once")
    poll_interval: float = Field(1.0, gt=0, description="seconds between looks at the job")
    wait_timeout: float | None = Field(
        None, gt=0, description="seconds to wait for a job array (default: as long as it runs)"
    )


class SlurmTarget:
    name: ClassVar[str] = NAME
    needs_registry: ClassVar[bool] = True
    options: ClassVar[type[TargetOptions]] = SlurmOptions

    def __init__(
        self, options: SlurmOptions, settings: Settings, environ: Mapping[str, str]
    ) -> None:
        self.opts = options
        self.settings = settings
        self.environ = environ
        self.runtime = RUNTIMES[options.runtime]
        self.template = options.command or self.runtime.command
        check_template(self.template)
        self.work_dir = options.work_dir or settings.data_dir / "functions" / "slurm"

    @classmethod
    def from_settings(
        cls, options: SlurmOptions, settings: Settings, /, *, address: str = ""
    ) -> SlurmTarget:
        if address:
            raise TargetError(
                f"the slurm target takes no address (got {address!r})",
                hint="use --to slurm; the cluster is the one sbatch reaches (SLURM_CONF)",
            )
        return cls(options, settings, os.environ)

    # -- the Protocol ------------------------------------------------------------------

    def deploy(self, image: FunctionImage, *, progress: Progress) -> Deployed:
        ref = pinned(image, NAME)
        progress.step("asking the SLURM cluster whether it answers")
        self._slurm(image.function, "sinfo", "--noheader", "--format=%P %a")
        secrets = shim_secrets(self.settings, image.spec, self.environ)
        command = self.render(ref, sorted({*shim_env(NAME, ref, None), *secrets}))
        sent = {
            "runtime": self.opts.runtime,
            "command": command,
            "sbatch": list(self.opts.sbatch),
            "mounts": list(self.opts.mounts),
            "work_dir": str(self.work_dir),
            "secrets": sorted(secrets),  # names only, never values
        }
        return Deployed(endpoint_id=str(self.work_dir / image.name), image_ref=ref, sent=sent)

    def invoke(self, deployment: Deployment, call: Call, *, progress: Progress) -> Outcome:
        outcome = self.invoke_many(deployment, [call], progress=progress)[0]
        if outcome.result is None:
            raise TargetError(f"{NAME}: function {deployment.function}: {outcome.error}")
        return outcome

    def invoke_many(
        self, deployment: Deployment, calls: Sequence[Call], *, progress: Progress
    ) -> list[Outcome]:
        batch = Batch.create(Path(deployment.endpoint_id), calls)
        limit = max(c.timeout or timeout_seconds(deployment.spec) for c in calls)
        secrets = shim_secrets(self.settings, deployment.spec, self.environ)
        plain = {**shim_env(NAME, deployment.image_ref, None), **self._files_env()}
        command = self.render(deployment.image_ref, sorted({*plain, *secrets}))
        batch.script.write_text(self._script(deployment, batch, command, plain, secrets))
        job = self._submit(deployment, batch, len(calls), limit, secrets)
        progress.step(f"SLURM job array {job}: {len(calls)} calls of {deployment.function}")
        self._wait(deployment, batch, job, len(calls), progress)
        return [batch.outcome(i, c, job) for i, c in enumerate(calls)]

    def status(self, deployment: Deployment) -> str:
        try:
            out = self._slurm(deployment.function, "sinfo", "--noheader", "--format=%a")
        except TargetError as exc:
            return f"unreachable ({exc.message.rsplit(': ', 1)[-1]})"
        return "ready" if "up" in out.split() else "no partition up"

    def logs(self, deployment: Deployment, invocation_id: str | None = None) -> str:
        """Each task's log; one call's by its id or its task (``JOB_TASK``)."""
        texts = []
        for batch in sorted(Path(deployment.endpoint_id).glob("*/"), key=lambda p: p.name):
            job_file = batch / "job-id"
            job = job_file.read_text().strip() if job_file.is_file() else "?"
            for ids in sorted(batch.glob("calls/*.id"), key=lambda p: int(p.stem)):
                names = (ids.read_text().strip(), f"{job}_{ids.stem}")
                if invocation_id is not None and invocation_id not in names:
                    continue
                log = batch / "logs" / f"{ids.stem}.log"
                text = log.read_text(errors="replace") if log.is_file() else ""
                texts.append(text if invocation_id else f"== {names[0]} (task {names[1]})\n{text}")
        return "".join(texts)

    def undeploy(self, deployment: Deployment) -> None:
        folder = Path(deployment.endpoint_id)
        jobs = [p.read_text().strip() for p in folder.glob("*/job-id")]
        if jobs:
            self._slurm(deployment.function, "scancel", *jobs, check=False)
        shutil.rmtree(folder, ignore_errors=True)

    # -- the job -------------------------------------------------------------------------

    def render(self, ref: str, env_names: Sequence[str]) -> str:
        """The task's command: the template with shell-quoted values."""
        rt = self.runtime
        shared = [rt.mount.format(path=shlex.quote(p), mode="rw") for p in self.opts.mounts]
        batch = rt.mount.format(path='"$PRESERVE_BATCH"', mode="ro")  # the calls' parameters
        values = {
            "image": shlex.quote(rt.image.format(ref=ref)),
            "network": shlex.quote(self.opts.network),
            "mounts": " ".join([*shared, batch]),
            "env": " ".join(rt.env.format(name=n) for n in env_names) if rt.env else "",
            **PER_TASK,
        }
        return " ".join(self.template.format(**values).split())

    def _files_env(self) -> dict[str, str]:
        return {"PRESERVE_SHIM_FILES": os.pathsep.join(self.opts.mounts)}

    def _script(
        self,
        deployment: Deployment,
        batch: Batch,
        command: str,
        plain: Mapping[str, str],
        secrets: Mapping[str, str],
    ) -> str:
        """The job script: no secret in it (they are in the job's environment)."""
        lines = [
            "#!/bin/sh",
            f"# preserve: function {deployment.function} ({deployment.name}), batch {batch.id}",
            f"PRESERVE_BATCH={shlex.quote(str(batch.folder))}",
            "i=$SLURM_ARRAY_TASK_ID",
            'PRESERVE_CALL="$PRESERVE_BATCH/calls/$i.json"',
            'PRESERVE_INVOCATION_ID=$(cat "$PRESERVE_BATCH/calls/$i.id")',
            'PRESERVE_SCRATCH="$PRESERVE_BATCH/scratch/$i"',
            'mkdir -p "$PRESERVE_SCRATCH"',
            *(f"export {k}={shlex.quote(v)}" for k, v in sorted(plain.items())),
        ]
        prefix = self.runtime.env_prefix
        if prefix:
            names = sorted({*plain, *secrets})
            lines += [f'[ -n "${{{n}+x}}" ] && export {prefix}{n}="${n}"' for n in names]
        lines += [
            f'{command} > "$PRESERVE_BATCH/results/$i.part"',
            "status=$?",
            'mv "$PRESERVE_BATCH/results/$i.part" "$PRESERVE_BATCH/results/$i.json"',
            'rm -rf "$PRESERVE_SCRATCH"',
            "exit $status",
            "",
        ]
        return "\n".join(lines)

    def _submit(
        self,
        deployment: Deployment,
        batch: Batch,
        count: int,
        limit: float,
        secrets: Mapping[str, str],
    ) -> str:
        array = f"0-{count - 1}" + (f"%{self.opts.max_running}" if self.opts.max_running else "")
        minutes = math.ceil(limit / 60) + 1  # the shim's own limit comes first
        out = self._slurm(
            deployment.function,
            "sbatch",
            "--parsable",
            f"--array={array}",
            f"--job-name=preserve-{deployment.name}",
            f"--output={batch.folder}/logs/%a.log",
            f"--time={minutes}",
            f"--chdir={batch.folder}",
            "--export=ALL",
            *resources(deployment.spec),
            *self.opts.sbatch,
            str(batch.script),
            env=secrets,
        )
        job = out.strip().split(";")[0]
        if not job.isdigit():
            raise TargetError(f"{NAME}: function {deployment.function}: sbatch said {out!r}")
        (batch.folder / "job-id").write_text(job + "\n")
        return job

    def _wait(
        self, deployment: Deployment, batch: Batch, job: str, count: int, progress: Progress
    ) -> None:
        """Until every task has a result or ended without one (or the wait times out)."""
        deadline = time.monotonic() + self.opts.wait_timeout if self.opts.wait_timeout else None
        with progress.task(f"SLURM job {job}", total=count) as bar:
            seen = 0
            while True:
                done = batch.finished(count)
                bar.advance(len(done) - seen)
                seen = len(done)
                if len(done) == count:
                    return
                states = self._states(deployment, job)
                if states is not None and all(
                    states.get(i, "") in TERMINAL for i in range(count) if i not in done
                ):
                    time.sleep(min(self.opts.poll_interval, 2.0))  # a shared FS may lag
                    batch.ended(states)
                    return
                if deadline is not None and time.monotonic() > deadline:
                    self._slurm(deployment.function, "scancel", job, check=False)
                    batch.ended({}, f"did not finish within {self.opts.wait_timeout:g} s")
                    return
                time.sleep(self.opts.poll_interval)

    def _states(self, deployment: Deployment, job: str) -> dict[int, str] | None:
        """The state of each task SLURM still knows; None when it forgot the job."""
        try:
            out = self._slurm(deployment.function, "scontrol", "--oneliner", "show", "job", job)
        except TargetError as exc:
            if "Invalid job id" in exc.message:
                return {}  # purged (MinJobAge): every task without a result is lost
            raise
        return task_states(out)

    def _slurm(
        self, function: str, *argv: str, env: Mapping[str, str] | None = None, check: bool = True
    ) -> str:
        """Run a SLURM command; its stdout, or a TargetError naming the cause."""
        try:
            proc = subprocess.run(
                list(argv),
                capture_output=True,
                text=True,
                env={**self.environ, **(env or {})},
                timeout=120,
            )
        except FileNotFoundError as exc:
            raise TargetError(
                f"{NAME}: function {function}: {argv[0]} is not installed here",
                hint="run preserve on a machine that can submit jobs (a login node)",
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise TargetError(
                f"{NAME}: function {function}: {argv[0]} did not answer within 120 s",
                hint="the SLURM controller may be down or overloaded",
            ) from exc
        if check and proc.returncode != 0:
            why = (proc.stderr or proc.stdout).strip().splitlines()
            raise TargetError(
                f"{NAME}: function {function}: {argv[0]} failed: {why[-1] if why else ''}",
                hint="check that the SLURM controller is up (sinfo) and the options in "
                "[targets.slurm]",
            )
        return proc.stdout


def check_template(template: str) -> None:
    """A command template may use only the known fields."""
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise ConfigError(f"[targets.slurm] command: {exc}") from exc
    unknown = sorted(fields - FIELDS)
    if unknown or "image" not in fields:
        raise ConfigError(
            "[targets.slurm] command: "
            + (f"unknown field(s) {', '.join(unknown)}" if unknown else "it must run {image}"),
            hint=f"a template may use {', '.join(sorted(FIELDS))}",
        )


def resources(spec: Mapping[str, Any]) -> list[str]:
    """The recorded memory and CPUs, as sbatch options."""
    out = []
    memory = memory_mib(spec)
    if memory is not None:
        out.append(f"--mem={memory}M")
    cpus = (spec.get("resources") or {}).get("cpus")
    if cpus:
        out.append(f"--cpus-per-task={math.ceil(float(cpus))}")
    return out


def task_states(scontrol: str) -> dict[int, str]:
    """``scontrol --oneliner show job`` of an array: task -> state (ranges are pending)."""
    states: dict[int, str] = {}
    for line in scontrol.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        task, state = fields.get("ArrayTaskId", ""), fields.get("JobState", "")
        if task.isdigit():
            states[int(task)] = state
        elif task:  # "3-19%2", "4,7": tasks not started yet
            for part in task.split("%")[0].split(","):
                low, _, high = part.partition("-")
                for i in range(int(low), int(high or low) + 1):
                    states[i] = state
    return states


@dataclass
class Batch:
    """One submission's folder: calls, results, logs."""

    folder: Path
    id: str

    @classmethod
    def create(cls, function_dir: Path, calls: Sequence[Call]) -> Batch:
        batch_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        folder = function_dir / batch_id
        for sub in ("calls", "results", "logs", "scratch"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)  # parameters may name storage by signed URLs
        for i, call in enumerate(calls):
            (folder / "calls" / f"{i}.json").write_text(json.dumps(dict(call.parameters)))
            (folder / "calls" / f"{i}.id").write_text(call.invocation_id + "\n")
        return cls(folder, batch_id)

    @property
    def script(self) -> Path:
        return self.folder / "job.sh"

    def finished(self, count: int) -> set[int]:
        return {i for i in range(count) if (self.folder / "results" / f"{i}.json").exists()}

    def ended(self, states: Mapping[int, str], why: str | None = None) -> None:
        """Note why tasks without a result have none."""
        for i in range(len(list((self.folder / "calls").glob("*.id")))):
            if not (self.folder / "results" / f"{i}.json").exists():
                cause = why or f"SLURM ended the task {states.get(i) or 'without a trace'}"
                (self.folder / "results" / f"{i}.lost").write_text(cause)

    def outcome(self, index: int, call: Call, job: str) -> Outcome:
        platform_id = f"{job}_{index}"
        result = self.folder / "results" / f"{index}.json"
        if result.is_file():
            text = result.read_text(errors="replace").strip()
            try:
                document = json.loads(text.splitlines()[-1]) if text else None
            except ValueError:
                document = None
            if isinstance(document, dict) and "status" in document:
                return Outcome(call.invocation_id, document, platform_id)
            why = "the task printed no result document"
        else:
            lost = self.folder / "results" / f"{index}.lost"
            why = lost.read_text() if lost.is_file() else "the task left no result"
        return Outcome(
            call.invocation_id,
            None,
            platform_id,
            error=f"task {platform_id}: {why}{self.tail(index)}",
        )

    def tail(self, index: int) -> str:
        log = self.folder / "logs" / f"{index}.log"
        text = log.read_text(errors="replace").strip()[-LOG_TAIL:] if log.is_file() else ""
        return f"; its log ends:\n{text}" if text else ""
