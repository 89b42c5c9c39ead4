"""Shared fixtures. Real services come from session fixtures that start them and poll.

Every test runs with its own data, cache and config directories, so nothing of
the developer's real configuration or stores leaks in or is touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

if TYPE_CHECKING:
    from tests.servers.slurm import SlurmCluster

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "registry" / "services.sh"
BASE_IMAGE = "preserve-base:bookworm"


@pytest.fixture(autouse=True)
def isolated_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("PRESERVE_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("PRESERVE_CACHE_DIR", str(home / "cache"))
    (home / "config.toml").write_text("# empty: built-in defaults\n")
    monkeypatch.setenv("PRESERVE_CONFIG", str(home / "config.toml"))
    for name in list(os.environ):
        if name.startswith("PRESERVE_") and name not in (
            "PRESERVE_DATA_DIR",
            "PRESERVE_CACHE_DIR",
            "PRESERVE_CONFIG",
        ):
            monkeypatch.delenv(name)
    return home


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up within {timeout}s")


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Docker Engine, started through the project's own script if needed. At the end
    of the session, the function containers this session's deployments left are removed
    (a failed test never undeploys), so no warm container outlives the run."""
    subprocess.run(["bash", str(SERVICES), "docker"], check=True)
    yield "unix:///var/run/docker.sock"
    remove_function_containers(tmp_path_factory.getbasetemp())


def remove_function_containers(under: Path, ancestor: str | None = None) -> list[str]:
    """Remove the local target's function containers whose data directory is under
    ``under`` (this test session's), optionally only those running an image built on
    ``ancestor``, with their function images (built per data directory, so this
    session's too). Other sessions' containers sharing the Engine are left alone."""
    from docker.errors import APIError, NotFound

    from preserve.engine import docker_client
    from preserve.targets.local import HOME_LABEL

    root = str(under.resolve()) + os.sep
    filters: dict[str, object] = {"label": HOME_LABEL}
    if ancestor:
        filters["ancestor"] = ancestor
    removed = []
    for container in docker_client().containers.list(all=True, filters=filters):
        if not (container.labels.get(HOME_LABEL, "") + os.sep).startswith(root):
            continue
        image = container.attrs["Image"]
        container.remove(force=True)
        removed.append(container.name)
        # Gone already, or another of this session's containers still runs it.
        with contextlib.suppress(NotFound, APIError):
            docker_client().images.remove(image, force=True)
    return removed


@pytest.fixture(scope="session")
def base_image(docker_engine: str) -> str:
    """The offline test/demo base image (debootstrap + docker import, cached by tag)."""
    subprocess.run(["bash", str(SERVICES), "base-image"], check=True)
    return BASE_IMAGE


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """A real one-node SLURM cluster on 127.0.0.1 (``tests/servers/slurm.py``)."""
    from tests.servers.slurm import start_cluster

    subprocess.run(["bash", str(SERVICES), "slurm"], check=True)
    cluster = start_cluster(tmp_path_factory.mktemp("slurm"))
    yield cluster
    cluster.stop()


@dataclass
class Registry:
    host: str  # 127.0.0.1:PORT
    storage: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{self.host}"


def start_registry(storage: Path, extra_env: dict[str, str] | None = None) -> Registry:
    port = free_port()
    host = f"127.0.0.1:{port}"
    env = dict(os.environ)
    env.update(
        {
            "REGISTRY_HTTP_ADDR": host,
            "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(storage),
            **(extra_env or {}),
        }
    )
    log = (storage.parent / f"registry-{port}.log").open("wb")
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(ROOT / "registry" / "config.yml")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_until(
        lambda: requests.get(f"http://{host}/v2/", timeout=1).status_code in (200, 401),
        20,
        "docker-registry",
    )
    return Registry(host=host, storage=storage, process=proc)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A real CNCF distribution registry (Debian docker-registry) on a free loopback port."""
    if shutil.which("docker-registry") is None:
        subprocess.run(["bash", str(SERVICES), "install"], check=True)
    storage = tmp_path_factory.mktemp("registry") / "storage"
    storage.mkdir()
    reg = start_registry(storage)
    yield reg
    reg.process.terminate()
    reg.process.wait(10)


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run ``preserve ARGS...`` in-process through the real entry point."""
    from preserve.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


def run_preserve(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):  # type: ignore[no-untyped-def]
    """Run the installed ``preserve`` command as a user would, in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "preserve", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
