"""Run the analysis with Podman (daemonless; the ``podman`` CLI).

The image must be in Podman's own store: it is pulled from the registry by its
pinned reference when the crate was pushed to one, or copied from the Docker
Engine (``docker-daemon:`` transport) when that engine has it. Peak memory is
not sampled (no cgroup access from outside without a daemon).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from preserve.errors import RunError
from preserve.progress import Progress
from preserve.runners.base import RunResult, RunSpec


def podman_argv(spec: RunSpec, name: str, image: str) -> list[str]:
    """``podman run`` arguments equivalent to the Docker runner's container."""
    argv = ["podman", "run", "--name", name, "--network", "slirp4netns" if spec.network else "none"]
    for m in spec.mounts:
        argv += [
            "--mount",
            f"type=bind,src={m.source},dst={m.target}" + (",ro" if m.read_only else ""),
        ]
    for key, value in spec.env.items():
        argv += ["--env", f"{key}={value}"]
    if spec.workdir:
        argv += ["--workdir", spec.workdir]
    if spec.memory:
        argv += ["--memory", spec.memory, "--memory-swap", spec.memory]
    if spec.cpus:
        argv += ["--cpus", str(spec.cpus)]
    return [*argv, image, *spec.command]


class PodmanRunner:
    name = "podman"

    def _podman(self) -> str:
        exe = shutil.which("podman")
        if exe is None:
            raise RunError(
                "the podman runner was chosen, but podman is not installed",
                hint="install podman (Debian: apt install podman) or use --runner docker",
            )
        return exe

    def describe(self) -> str:
        out = subprocess.run([self._podman(), "--version"], capture_output=True, text=True)
        return out.stdout.strip() or "podman"

    def _image(self, spec: RunSpec) -> str:
        podman = self._podman()
        if subprocess.run([podman, "image", "exists", spec.image]).returncode == 0:
            return spec.image
        source = spec.image_ref or f"docker-daemon:{spec.image}"
        tls = (
            ["--tls-verify=false"]
            if spec.image_ref and spec.image_ref.startswith(("127.", "localhost"))
            else []
        )
        proc = subprocess.run([podman, "pull", *tls, source], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RunError(f"podman could not get the image {source}: {proc.stderr.strip()}")
        return proc.stdout.strip().splitlines()[-1]

    def run(self, spec: RunSpec, *, stdout: Path, stderr: Path, progress: Progress) -> RunResult:
        image = self._image(spec)
        name = f"preserve-{int(time.time() * 1000)}"
        argv = podman_argv(spec, name, image)
        start = datetime.now(UTC)
        timed_out = False
        with stdout.open("wb") as out, stderr.open("wb") as err:
            proc = subprocess.Popen(argv, stdout=out, stderr=err)
            try:
                code = proc.wait(timeout=spec.timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                subprocess.run([self._podman(), "kill", name], capture_output=True)
                code = proc.wait()
        end = datetime.now(UTC)
        inspect = subprocess.run(
            [self._podman(), "inspect", "--format", "{{.State.OOMKilled}}", name],
            capture_output=True,
            text=True,
        )
        subprocess.run([self._podman(), "rm", "--force", name], capture_output=True)
        if code == 125 and not timed_out:  # podman itself failed, not the analysis
            raise RunError(f"podman could not start the container: {stderr.read_text().strip()}")
        return RunResult(
            exit_code=code,
            start=start,
            end=max(end, start + timedelta(microseconds=1)),
            peak_memory=None,
            cpu_seconds=None,
            oom_killed=inspect.stdout.strip() == "true",
            timed_out=timed_out,
        )
