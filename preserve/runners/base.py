"""The runner interface (entry-point group ``preserve.runners``) and how images reach it.

Images travel independently of any one engine. A store (or the local Docker
Engine, for a capture) offers an image pinned by digest as an
:class:`ImageSource`; the runner takes what suits its platform
(:meth:`Runner.provide_image`): the Docker Engine pulls a registry reference or
loads the archive, Podman does the same into its own store, and a platform that
pulls by reference itself takes only ``reference``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from preserve import plugins
from preserve.errors import RunError
from preserve.progress import Progress

if TYPE_CHECKING:
    from preserve.settings import Settings


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool = True


# Every container (capture and rerun alike) runs with no new privileges, no
# capabilities and a bounded number of processes; the capture runs so, which
# demonstrates that the recorded run needed none of them.
PIDS_LIMIT = 4096


@dataclass(frozen=True)
class RunSpec:
    """Everything a runner needs; nothing else from the host reaches the container."""

    image: str  # as the runner's provide_image() named it
    command: tuple[str, ...]
    mounts: tuple[Mount, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    network: bool = False
    workdir: str | None = None
    memory: str | None = None
    cpus: float | None = None
    timeout: float | None = None
    user: str | None = None  # None: the image's configured user (reported in RunResult.user)


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    start: datetime
    end: datetime
    peak_memory: int | None  # bytes, sampled from the container's cgroup
    cpu_seconds: float | None
    oom_killed: bool = False
    timed_out: bool = False
    user: str | None = None  # the user the command ran as ("0" for an image without USER)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.oom_killed and not self.timed_out


Archive = Callable[[Progress], Iterator[bytes]]


@dataclass(frozen=True)
class ImageSource:
    """An image pinned by digest, as the place that holds it offers it to a runner."""

    label: str  # for messages: the pinned reference, or the image ID
    image_id: str | None  # config digest: the ID the Docker Engine and Podman give the image
    reference: str | None = None  # REGISTRY/REPO@sha256:..., for platforms that pull themselves
    insecure: bool = False  # the registry of ``reference`` speaks plain HTTP
    auth: Mapping[str, str] | None = field(default=None, repr=False)  # username, password
    archive: Archive | None = field(default=None, repr=False)  # `docker save` tar, verified

    def open_archive(self, progress: Progress) -> Iterator[bytes]:
        """The image as a ``docker load`` stream (RunError when this source has none)."""
        if self.archive is None:
            raise RunError(
                f"the image {self.label} is offered only by reference, not as an archive",
                hint="use a runner that pulls images by reference",
            )
        return self.archive(progress)

    def require_reference(self, runner: str) -> str:
        """``reference``, or a RunError saying that ``runner`` pulls from registries only."""
        if self.reference is None:
            raise RunError(
                f"the {runner} runner pulls images from a registry, but {self.label} is not in one",
                hint="push the crate to a registry (preserve push --to REGISTRY/REPO) and rerun "
                "from there, or choose another runner",
            )
        return self.reference


@dataclass(frozen=True)
class ProvidedImage:
    """An image made runnable by a runner: the name for :attr:`RunSpec.image`."""

    name: str
    image_id: str | None  # when the platform reports one: checked against the crate's


class Runner(Protocol):
    name: str

    def describe(self) -> str:
        """Name and version of the container engine."""

    def provide_image(self, image: ImageSource, *, progress: Progress) -> ProvidedImage:
        """Make ``image`` runnable on this platform (pull, load, or nothing)."""

    def run(self, spec: RunSpec, *, stdout: Path, stderr: Path, progress: Progress) -> RunResult:
        """Run to completion, writing the container's stdout and stderr to files."""


def open_runner(settings: Settings, name: str | None = None) -> Runner:
    """The runner ``name`` (default: ``runner``), configured from ``[runners.NAME]``."""
    runner: Runner = plugins.create(plugins.RUNNERS, name or settings.runner, settings)
    return runner
