"""SIGTERM and Ctrl-C stop the container and leave no partial folder; the running
container is inspected for its hardening (no new privileges, no capabilities,
pids limit, user)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from preserve.capture import capture
from preserve.engine import docker_client
from preserve.runners.base import PIDS_LIMIT
from preserve.settings import Settings
from tests.rerun.analyses import CONTROLLED, make

pytestmark = [pytest.mark.docker]


def _analysis(tmp_path: Path, mode: str) -> Path:
    analysis = make(
        tmp_path,
        "interrupted",
        CONTROLLED,
        ["done.txt"],
        inputs="inputs:\n  mode: {path: mode.txt}\n",
        args='"{inputs.mode}", "{outdir}"',
    )
    (analysis / "mode.txt").write_text(mode)
    from tests.helpers import git_commit_all

    git_commit_all(analysis, "mode")
    return analysis


def _container_of(tmp_path: Path, proc: subprocess.Popen[str]) -> Any:
    """The running container whose output folder lies under ``tmp_path``."""
    client = docker_client()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        # the low-level list: other tests' containers may vanish while it is read
        for found in client.api.containers(filters={"label": "org.preserve.run=true"}):
            mounts = found.get("Mounts") or []
            if any(str(m.get("Source", "")).startswith(str(tmp_path)) for m in mounts):
                return client.containers.get(found["Id"])
        time.sleep(0.2)
    _, err = proc.communicate()
    raise AssertionError(f"no container appeared: {err}")


@pytest.mark.parametrize(
    ("command", "signum"),
    [("rerun", signal.SIGTERM), ("rerun", signal.SIGINT), ("capture", signal.SIGTERM)],
    ids=["rerun-sigterm", "rerun-sigint", "capture-sigterm"],
)
def test_signal_stops_the_container_and_cleans_up(
    command: str, signum: int, tmp_path: Path, base_image: str
) -> None:
    if command == "rerun":
        crate = tmp_path / "crate"
        capture(_analysis(tmp_path, "sleep 0"), settings=Settings.load(), output=crate)
        (tmp_path / "long.txt").write_text("sleep 300")
        args = ["rerun", str(crate), "-o", str(tmp_path / "out")]
        args += ["--input", f"mode={tmp_path / 'long.txt'}"]
    else:
        args = ["capture", str(_analysis(tmp_path, "sleep 300")), "-o", str(tmp_path / "out")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "preserve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    container = _container_of(tmp_path, proc)
    host = container.attrs["HostConfig"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert host["PidsLimit"] == PIDS_LIMIT and host["NetworkMode"] == "none"
    assert container.attrs["Config"]["User"] == "0"

    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    assert docker_client().api.containers(all=True, filters={"id": container.id}) == []
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")]
    assert leftovers == [] and not (tmp_path / "out").exists()
