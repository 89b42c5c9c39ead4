"""The ``slurm`` target: a SLURM cluster through ``sbatch``; many calls are one job array.

Deploy pushes the function image to the configured registry (pinned by digest)
and checks that the cluster answers. Invoke writes the calls into a batch folder
under ``work_dir`` (a file system the compute nodes share), submits one job array
whose task *t* runs the pinned image with the cluster's container runtime and the
shim's command line (``run --calls calls/t.jsonl``: its share of the calls, one
after the other in one container), and waits: each task writes one result
document per call into ``results/t.json``, and the tasks' states come from
``scontrol`` (accounting may be absent), so that a task SLURM ended without its
results (cancelled, out of time, node failure) fails its calls with its state and
the tail of its log. A task is bounded by ``--time`` (its calls' time limits); the
shim bounds each command itself. ``calls_per_task`` (default ``auto``) spreads the
calls over the CPUs the cluster has idle: every call its own task when there are
enough, else several calls per task, so that small calls do not each pay for a
task's and a container's start.

The runtime is a command template (``[targets.slurm] runtime``, or ``command``
for a site's own), rendered with shell-quoted values: ``{image}`` (pinned by
digest), ``{network}``, ``{mounts}`` (``mounts`` read-write and the batch folder
read-only), ``{env}`` (names only: values come from the job's environment),
``{calls}`` and ``{scratch}`` (a writable folder for ``/preserve``, for runtimes
with read-only images). Storage credentials reach the tasks through the
environment ``sbatch`` passes on; they never appear in the job script, the batch
folder or the record.
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
    shim_environment,
)
from preserve.targets.remote import (
    invocation_lines,
    memory_mib,
    pinned,
    shim_secrets,
    timeout_seconds,
)

NAME = "slurm"
TERMINAL = frozenset(
    {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL"}
    | {"OUT_OF_MEMORY", "PREEMPTED", "TIMEOUT"}
)
# Shell variables the job script sets for each task.
PER_TASK = {"calls": '"$PRESERVE_CALLS"', "scratch": '"$PRESERVE_SCRATCH"'}
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


# ``--init``: the shim is not the container's PID 1, so the SIGTERM of ``scancel``
# (passed on by the runtime's client) stops it and its command instead of being ignored.
RUNTIMES = {
    "docker": Runtime(
        "docker run --rm --init --pull missing --network {network} {mounts} {env} {image} "
        "run --calls {calls}",
        mount="--volume {path}:{path}:{mode}",
        env="--env {name}",
    ),
    "podman": Runtime(
        "podman run --rm --init --pull missing --network {network} {mounts} {env} {image} "
        "run --calls {calls}",
        mount="--volume {path}:{path}:{mode}",
        env="--env {name}",
    ),
    # Read-only images, the user's own identity: /preserve is a per-task scratch folder;
    # variables go in as APPTAINERENV_NAME, never on the command line.
    "apptainer": Runtime(
        "apptainer run --containall --no-home --bind {scratch}:/preserve {mounts} {image} "
        "run --calls {calls}",
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
    calls_per_task: int | Literal["auto"] = Field(
        "auto",
        description="calls one array task runs in one container (auto: spread over the idle "
        "CPUs; every call its own task when there are enough)",
    )
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
        command = self.render(ref, sorted({*shim_environment(NAME, ref, None), *secrets}))
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
        return self.invoke_many(deployment, [call], progress=progress)[0]

    def invoke_many(
        self, deployment: Deployment, calls: Sequence[Call], *, progress: Progress
    ) -> list[Outcome]:
        per_task = self._per_task(deployment, len(calls))
        batch = Batch.create(Path(deployment.endpoint_id), calls, per_task)
        limit = max(c.timeout or timeout_seconds(deployment.spec) for c in calls) * per_task
        secrets = shim_secrets(self.settings, deployment.spec, self.environ)
        plain = shim_environment(NAME, deployment.image_ref, None, self.opts.mounts)
        command = self.render(deployment.image_ref, sorted({*plain, *secrets}))
        batch.script.write_text(self._script(deployment, batch, command, plain, secrets))
        job = self._submit(deployment, batch, limit, secrets)
        progress.step(
            f"SLURM job array {job}: {len(calls)} calls of {deployment.function} "
            f"in {len(batch.tasks)} tasks"
        )
        self._wait(deployment, batch, job, progress)
        return batch.outcomes(calls, job)

    def _per_task(self, deployment: Deployment, count: int) -> int:
        """Calls per array task: as set, else spread over the CPUs the cluster has idle
        (every call its own task when there are enough), so that small calls do not each
        pay for a task's and a container's start."""
        if self.opts.calls_per_task != "auto":
            return self.opts.calls_per_task
        out = self._slurm(deployment.function, "sinfo", "--noheader", "--format=%C")
        cpus = 0
        for line in out.split():  # allocated/idle/other/total
            parts = line.split("/")
            if len(parts) == 4 and parts[1].isdigit():
                cpus += int(parts[1]) or int(parts[3])
        return max(1, math.ceil(count / max(cpus, 1)))

    def status(self, deployment: Deployment) -> str:
        try:
            out = self._slurm(deployment.function, "sinfo", "--noheader", "--format=%a")
        except TargetError as exc:
            return f"unreachable ({exc.message.rsplit(': ', 1)[-1]})"
        return "ready" if "up" in out.split() else "no partition up"

    def logs(self, deployment: Deployment, invocation_id: str | None = None) -> str:
        """Each task's log; one call's part of it by its id, or a whole task (``JOB_TASK``)."""
        texts = []
        for folder in sorted(Path(deployment.endpoint_id).glob("*/"), key=lambda p: p.name):
            batch = Batch.open(folder)
            for task, ids in enumerate(batch.ids()):
                log = batch.log(task)
                platform_id = f"{batch.job}_{task}"
                if invocation_id is None:
                    texts.append(f"== task {platform_id}: {', '.join(ids)}\n{log}")
                elif invocation_id == platform_id:
                    texts.append(log)
                elif invocation_id in ids:
                    texts.append(invocation_lines(log, invocation_id))
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
            f"# preserve: function {deployment.function} ({deployment.name})",
            f"# batch {batch.folder.name}: {batch.size} calls in {len(batch.tasks)} tasks",
            f"PRESERVE_BATCH={shlex.quote(str(batch.folder))}",
            "i=$SLURM_ARRAY_TASK_ID",
            'PRESERVE_CALLS="$PRESERVE_BATCH/calls/$i.jsonl"',
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
        limit: float,
        secrets: Mapping[str, str],
    ) -> str:
        array = f"0-{len(batch.tasks) - 1}" + (
            f"%{self.opts.max_running}" if self.opts.max_running else ""
        )
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

    def _wait(self, deployment: Deployment, batch: Batch, job: str, progress: Progress) -> None:
        """Until every task has written its results or ended without (or the wait ends)."""
        deadline = time.monotonic() + self.opts.wait_timeout if self.opts.wait_timeout else None
        count = len(batch.tasks)
        with progress.task(f"SLURM job {job}", total=batch.size) as bar:
            seen = 0
            while True:
                calls = batch.answered()
                bar.advance(calls - seen)
                seen = calls
                done = batch.finished()
                if len(done) == count:
                    return
                states = self._states(deployment, job)
                if states is not None and all(
                    states.get(t, "") in TERMINAL for t in range(count) if t not in done
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
    """One submission's folder: each task's calls (``calls/T.jsonl``), results (one
    line per call, ``results/T.json`` once the task is done) and log (``logs/T.log``)."""

    folder: Path
    tasks: list[list[int]]  # the calls' indices, per task

    @classmethod
    def create(cls, function_dir: Path, calls: Sequence[Call], per_task: int) -> Batch:
        batch_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        folder = function_dir / batch_id
        for sub in ("calls", "results", "logs", "scratch"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        # Not listable by others (parameters may name storage by signed URLs), but
        # readable by the image's own user, whoever that is.
        for path in (function_dir, folder, folder / "calls"):
            path.chmod(0o711)
        tasks = [
            list(range(i, min(i + per_task, len(calls)))) for i in range(0, len(calls), per_task)
        ]
        for t, indices in enumerate(tasks):
            lines = [
                json.dumps(
                    {
                        "invocation_id": calls[i].invocation_id,
                        "parameters": dict(calls[i].parameters),
                    }
                )
                for i in indices
            ]
            (folder / "calls" / f"{t}.jsonl").write_text("".join(f"{line}\n" for line in lines))
        return cls(folder, tasks)

    @classmethod
    def open(cls, folder: Path) -> Batch:
        count = len(list((folder / "calls").glob("*.jsonl")))
        return cls(folder, [[] for _ in range(count)])

    @property
    def script(self) -> Path:
        return self.folder / "job.sh"

    @property
    def size(self) -> int:
        return sum(len(t) for t in self.tasks)

    @property
    def job(self) -> str:
        path = self.folder / "job-id"
        return path.read_text().strip() if path.is_file() else "?"

    def ids(self) -> list[list[str]]:
        """The invocation ids of each task's calls."""
        out = []
        for t in range(len(self.tasks)):
            lines = (self.folder / "calls" / f"{t}.jsonl").read_text().splitlines()
            out.append([str(json.loads(line).get("invocation_id")) for line in lines if line])
        return out

    def finished(self) -> set[int]:
        return {
            t for t in range(len(self.tasks)) if (self.folder / "results" / f"{t}.json").exists()
        }

    def answered(self) -> int:
        """Calls with a result so far (tasks write one line per call as it ends)."""
        total = 0
        for path in (self.folder / "results").glob("*.*"):
            if path.suffix in (".json", ".part"):
                total += path.read_bytes().count(b"\n")
        return total

    def ended(self, states: Mapping[int, str], why: str | None = None) -> None:
        """Note why tasks without results have none."""
        for t in range(len(self.tasks)):
            if t not in self.finished():
                cause = why or f"SLURM ended it {states.get(t) or 'without a trace'}"
                (self.folder / "results" / f"{t}.lost").write_text(cause)

    def outcomes(self, calls: Sequence[Call], job: str) -> list[Outcome]:
        out: list[Outcome | None] = [None] * len(calls)
        for t, indices in enumerate(self.tasks):
            platform_id = f"{job}_{t}"
            documents = self._results(t)
            for k, i in enumerate(indices):
                call = calls[i]
                document = documents[k] if k < len(documents) else None
                if isinstance(document, dict) and "status" in document:
                    out[i] = Outcome(call.invocation_id, document, platform_id)
                    continue
                lost = self.folder / "results" / f"{t}.lost"
                why = lost.read_text() if lost.is_file() else "the task printed no result document"
                error = f"SLURM task {platform_id}: {why}{self.tail(t)}"
                out[i] = Outcome(call.invocation_id, None, platform_id, error=error)
        return [o for o in out if o is not None]

    def _results(self, task: int) -> list[Any]:
        path = self.folder / "results" / f"{task}.json"
        if not path.is_file():
            path = path.with_suffix(".part")
        documents: list[Any] = []
        lines = path.read_text(errors="replace").splitlines() if path.is_file() else []
        for line in lines:
            try:
                documents.append(json.loads(line))
            except ValueError:
                documents.append(None)
        return documents

    def log(self, task: int) -> str:
        path = self.folder / "logs" / f"{task}.log"
        return path.read_text(errors="replace") if path.is_file() else ""

    def tail(self, task: int) -> str:
        text = self.log(task).strip()[-LOG_TAIL:]
        return f"; its log ends:\n{text}" if text else ""
