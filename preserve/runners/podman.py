"""Run the analysis with Podman (daemonless; the ``podman`` CLI).

The image must be in Podman's own store: it is pulled by its pinned reference
when a registry offers it, else loaded (``podman load``) from the archive the
store or the Docker Engine offers. Peak memory is not sampled (no cgroup access
from outside without a daemon).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from preserve.errors import RunError
from preserve.plugins import PluginOptions
from preserve.progress import Progress
from preserve.runners.base import PIDS_LIMIT, ImageSource, ProvidedImage, RunResult, RunSpec
from preserve.runners.cli_engine import run_cli
from preserve.settings import Settings


class PodmanOptions(PluginOptions):
    """The ``[runners.podman]`` table."""

    executable: str = "podman"


def podman_argv(spec: RunSpec, name: str, image: str) -> list[str]:
    """``podman run`` arguments equivalent to the Docker runner's container."""
    argv = ["podman", "run", "--name", name, "--network", "slirp4netns" if spec.network else "none"]
    argv += ["--security-opt", "no-new-privileges", "--cap-drop", "all"]
    argv += ["--pids-limit", str(PIDS_LIMIT)]
    if spec.user:
        argv += ["--user", spec.user]
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


def pull_argv(podman: str, image: ImageSource, authfile: Path | None) -> list[str]:
    """``podman pull`` of ``image`` by its pinned reference."""
    argv = [podman, "pull", "--quiet"]
    if authfile is not None:
        argv += ["--authfile", str(authfile)]
    if image.insecure:
        argv.append("--tls-verify=false")
    return [*argv, image.require_reference("podman")]


@contextmanager
def auth_file(auth: Mapping[str, str] | None, reference: str) -> Iterator[Path | None]:
    """Registry credentials in a private file for ``--authfile`` (never on the command line)."""
    if not auth or "username" not in auth:
        yield None
        return
    token = base64.b64encode(f"{auth['username']}:{auth.get('password', '')}".encode()).decode()
    with tempfile.TemporaryDirectory() as tmp:  # 0700: only we can read the file
        path = Path(tmp, "auth.json")
        path.write_text(json.dumps({"auths": {reference.split("/", 1)[0]: {"auth": token}}}))
        yield path


class PodmanRunner:
    name = "podman"
    options = PodmanOptions

    def __init__(self, executable: str = "podman") -> None:
        self.executable = executable

    @classmethod
    def from_settings(cls, options: PodmanOptions, settings: Settings) -> PodmanRunner:
        return cls(options.executable)

    def _podman(self) -> str:
        exe = shutil.which(self.executable)
        if exe is None:
            raise RunError(
                "the podman runner was chosen, but podman is not installed",
                hint="install podman (Debian: apt install podman) or use --runner docker",
            )
        return exe

    def describe(self) -> str:
        out = subprocess.run([self._podman(), "--version"], capture_output=True, text=True)
        return out.stdout.strip() or "podman"

    def provide_image(self, image: ImageSource, *, progress: Progress) -> ProvidedImage:
        podman = self._podman()
        if image.image_id and _succeeds([podman, "image", "exists", image.image_id]):
            return ProvidedImage(image.image_id, image.image_id)
        if image.reference is not None:
            progress.step(f"podman: pulling {image.reference}")
            with auth_file(image.auth, image.reference) as authfile:
                proc = subprocess.run(
                    pull_argv(podman, image, authfile), capture_output=True, text=True
                )
            if proc.returncode != 0:
                raise RunError(f"podman could not pull {image.reference}: {proc.stderr.strip()}")
            image_id = "sha256:" + proc.stdout.strip().splitlines()[-1].removeprefix("sha256:")
            return ProvidedImage(image.reference, image_id)
        progress.step(f"podman: loading image {image.label}")
        with tempfile.TemporaryFile() as err:  # a file, not a pipe: no deadlock on a chatty load
            load = subprocess.Popen(
                [podman, "load"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err
            )
            assert load.stdin is not None
            try:
                for chunk in image.open_archive(progress):
                    load.stdin.write(chunk)
            finally:
                load.stdin.close()
                load.wait()
            err.seek(0)
            stderr = err.read().decode(errors="replace").strip()
        if load.returncode != 0:
            raise RunError(f"podman could not load {image.label}: {stderr}")
        return ProvidedImage(image.image_id or image.label, image.image_id)

    def run(self, spec: RunSpec, *, stdout: Path, stderr: Path, progress: Progress) -> RunResult:
        user = spec.user or self._user(spec.image)
        name = f"preserve-{uuid.uuid4().hex[:16]}"
        argv = podman_argv(replace(spec, user=user), name, spec.image)
        argv[0] = self._podman()
        result = run_cli(argv[0], argv, name, timeout=spec.timeout, stdout=stdout, stderr=stderr)
        return replace(result, user=user)

    def _user(self, image: str) -> str:
        """The image's ``USER``, else root ("0"), as the Docker runner does."""
        out = subprocess.run(
            [self._podman(), "image", "inspect", "--format", "{{.Config.User}}", image],
            capture_output=True,
            text=True,
        )
        return out.stdout.strip() or "0"


def _succeeds(argv: list[str]) -> bool:
    return subprocess.run(argv, capture_output=True).returncode == 0
