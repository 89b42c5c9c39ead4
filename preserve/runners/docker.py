"""Run the analysis in the Docker Engine (Debian's docker.io, or any Engine API)."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from preserve.engine import docker_client, engine_version
from preserve.errors import RunError
from preserve.oci.engine_images import provide_in_engine
from preserve.plugins import NoOptions
from preserve.progress import Progress
from preserve.runners.base import PIDS_LIMIT, ImageSource, ProvidedImage, RunResult, RunSpec
from preserve.runners.cgroup import CgroupSampler
from preserve.settings import Settings


class DockerRunner:
    name = "docker"
    options = NoOptions

    @classmethod
    def from_settings(cls, options: NoOptions, settings: Settings) -> DockerRunner:
        return cls()

    def provide_image(self, image: ImageSource, *, progress: Progress) -> ProvidedImage:
        return provide_in_engine(image, progress)

    def describe(self) -> str:
        info = engine_version()
        return f"Docker Engine {info.get('Version')}"

    def run(self, spec: RunSpec, *, stdout: Path, stderr: Path, progress: Progress) -> RunResult:
        import requests
        from docker.errors import APIError, ImageNotFound
        from docker.types import Mount

        client = docker_client()
        name = f"preserve-run-{uuid.uuid4().hex[:16]}"
        try:
            user = spec.user or image_user(client.images.get(spec.image).attrs)
            container = client.containers.create(
                spec.image,
                command=list(spec.command),
                mounts=[
                    Mount(m.target, str(m.source), type="bind", read_only=m.read_only)
                    for m in spec.mounts
                ],
                environment=dict(spec.env),
                network_mode="bridge" if spec.network else "none",
                working_dir=spec.workdir,
                mem_limit=spec.memory,
                memswap_limit=spec.memory,  # no swap: an OOM is an OOM
                nano_cpus=int(spec.cpus * 1e9) if spec.cpus else None,
                user=user,
                security_opt=["no-new-privileges"],
                cap_drop=["ALL"],
                pids_limit=PIDS_LIMIT,
                labels={"org.preserve.run": "true"},
                name=name,
                detach=True,
            )
            container.start()
            container.reload()
            sampler = CgroupSampler(int(container.attrs["State"]["Pid"])).start()
            timed_out = False
            try:
                container.wait(timeout=spec.timeout)
            except requests.exceptions.RequestException:
                timed_out = True
                container.kill()
                container.wait(timeout=30)
            finally:
                sampler.stop()
            _save_logs(container, stdout, stderr)
            container.reload()
            state: dict[str, Any] = container.attrs["State"]
        except ImageNotFound as exc:
            raise RunError(f"image {spec.image} is not in the Docker Engine") from exc
        except APIError as exc:
            raise RunError(f"the Docker Engine refused the run: {exc.explanation or exc}") from exc
        finally:
            # Also on Ctrl-C or SIGTERM (raised as KeyboardInterrupt): the container goes,
            # found by name in case the interruption came before create() returned.
            with contextlib.suppress(APIError, requests.exceptions.RequestException):
                client.api.remove_container(name, force=True)
        return RunResult(
            exit_code=int(state["ExitCode"]),
            start=_parse_time(state["StartedAt"]),
            end=_parse_time(state["FinishedAt"]),
            peak_memory=sampler.peak_memory,
            cpu_seconds=sampler.cpu_seconds,
            oom_killed=bool(state.get("OOMKilled")),
            timed_out=timed_out,
            user=user,
        )


def image_user(attrs: dict[str, Any]) -> str:
    """The user an image's command runs as: its ``USER``, else root ("0")."""
    return str((attrs.get("Config") or {}).get("User") or "0")


def _save_logs(container: Any, stdout: Path, stderr: Path) -> None:
    for path, out, err in ((stdout, True, False), (stderr, False, True)):
        with path.open("wb") as fh:
            for chunk in container.logs(stdout=out, stderr=err, stream=True, follow=False):
                fh.write(chunk)


def _parse_time(text: str) -> datetime:
    """Docker's RFC 3339 timestamps carry nanoseconds; Python takes microseconds."""
    main, _, frac = text.rstrip("Z").partition(".")
    micro = (frac + "000000")[:6] if frac else "000000"
    return datetime.fromisoformat(f"{main}.{micro}").replace(tzinfo=UTC)
