"""The runner interface (entry-point group ``preserve.runners``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from preserve import plugins
from preserve.progress import Progress


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class RunSpec:
    """Everything a runner needs; nothing else from the host reaches the container."""

    image: str  # image ID or reference known to the runner
    command: tuple[str, ...]
    mounts: tuple[Mount, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    network: bool = False
    workdir: str | None = None
    memory: str | None = None
    cpus: float | None = None
    timeout: float | None = None
    image_ref: str | None = None  # pinned registry reference, for runners with their own store


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    start: datetime
    end: datetime
    peak_memory: int | None  # bytes, sampled from the container's cgroup
    cpu_seconds: float | None
    oom_killed: bool = False
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.oom_killed and not self.timed_out


class Runner(Protocol):
    name: str

    def describe(self) -> str:
        """Name and version of the container engine."""

    def run(self, spec: RunSpec, *, stdout: Path, stderr: Path, progress: Progress) -> RunResult:
        """Run to completion, writing the container's stdout and stderr to files."""


def open_runner(name: str) -> Runner:
    runner: Runner = plugins.load(plugins.RUNNERS, name)()
    return runner
