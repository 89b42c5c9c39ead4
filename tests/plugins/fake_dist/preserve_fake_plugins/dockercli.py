"""A runner that drives the ``docker`` command line and pulls images by reference itself.

It stands for platforms that fetch an image from a registry on their own (a
batch system, a FaaS platform): from the image seam it takes only the pinned
``reference``, never an archive or an engine's image ID, so it runs only what
was pushed to a registry. Its ``[runners.dockercli]`` table names the
executable.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from preserve.errors import RunError
from preserve.progress import Progress
from preserve.runners.base import ImageSource, ProvidedImage, RunResult, RunSpec
from preserve.runners.cli_engine import run_cli
from preserve.settings import Settings


class DockerCliOptions(BaseModel):
    """The ``[runners.dockercli]`` table."""

    model_config = ConfigDict(extra="forbid")

    executable: str = "docker"


class DockerCliRunner:
    name = "dockercli"
    options = DockerCliOptions

    def __init__(self, executable: str) -> None:
        self.executable = executable

    @classmethod
    def from_settings(cls, options: DockerCliOptions, settings: Settings) -> DockerCliRunner:
        return cls(options.executable)

    def describe(self) -> str:
        out = subprocess.run([self.executable, "--version"], capture_output=True, text=True)
        return f"docker CLI ({out.stdout.strip()})"

    def provide_image(self, image: ImageSource, *, progress: Progress) -> ProvidedImage:
        """The platform's own pull, by the pinned reference: nothing else is taken."""
        reference = image.require_reference(self.name)
        progress.step(f"dockercli: pulling {reference}")
        proc = subprocess.run(
            [self.executable, "pull", "--quiet", reference], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise RunError(f"docker could not pull {reference}: {proc.stderr.strip()}")
        return ProvidedImage(reference, None)

    def argv(self, spec: RunSpec, name: str) -> list[str]:
        argv = [self.executable, "run", "--name", name, "--pull", "never"]
        argv += ["--network", "bridge" if spec.network else "none"]
        for m in spec.mounts:
            ro = ",readonly" if m.read_only else ""
            argv += ["--mount", f"type=bind,source={m.source},target={m.target}{ro}"]
        for key, value in spec.env.items():
            argv += ["--env", f"{key}={value}"]
        if spec.workdir:
            argv += ["--workdir", spec.workdir]
        if spec.memory:
            argv += ["--memory", spec.memory, "--memory-swap", spec.memory]
        if spec.cpus:
            argv += ["--cpus", str(spec.cpus)]
        return [*argv, spec.image, *spec.command]

    def run(self, spec: RunSpec, *, stdout: Path, stderr: Path, progress: Progress) -> RunResult:
        name = f"preserve-dockercli-{uuid.uuid4().hex[:12]}"
        argv = self.argv(spec, name)
        return run_cli(
            self.executable, argv, name, timeout=spec.timeout, stdout=stdout, stderr=stderr
        )
