"""Runners against the real Docker Engine; the Podman runner's contract and its absence."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from preserve.errors import RunError
from preserve.progress import QUIET
from preserve.runners.base import PIDS_LIMIT, Mount, RunSpec, open_runner
from preserve.runners.podman import podman_argv
from preserve.settings import Settings


@pytest.mark.docker
def test_docker_runner_isolation_and_usage(tmp_path: Path, base_image: str) -> None:
    data = tmp_path / "in.txt"
    data.write_text("42")
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)
    script = (
        "import os, numpy as np\n"
        "print(open('/in/in.txt').read(), os.environ.get('KEEP'), os.environ.get('HOME_SECRET'))\n"
        "ifaces = [l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]]\n"
        "print('no network' if ifaces == ['lo'] else f'network {ifaces}')\n"
        "try:\n    open('/in/x', 'w')\nexcept OSError: print('read-only')\n"
        "a = np.ones((2000, 4000)); open('/out/sum.txt', 'w').write(str(a.sum()))\n"
        "status = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines())\n"
        "pids = [p for p in ('/sys/fs/cgroup/pids.max', '/sys/fs/cgroup/pids/pids.max')\n"
        "        if os.path.exists(p)]\n"
        "print('hardening', status['NoNewPrivs'].strip(), status['CapEff'].strip(),\n"
        "      status['CapBnd'].strip(), os.getuid(), open(pids[0]).read().strip())\n"
    )
    spec = RunSpec(
        image=base_image,
        command=("python3", "-c", script),
        mounts=(Mount(tmp_path, "/in"), Mount(out, "/out", read_only=False)),
        env={"KEEP": "yes"},
    )
    result = open_runner(Settings.load(), "docker").run(
        spec, stdout=tmp_path / "o", stderr=tmp_path / "e", progress=QUIET
    )
    assert result.ok, (tmp_path / "e").read_text()
    lines = (tmp_path / "o").read_text().split("\n")
    assert lines[0] == "42 yes None"  # only declared environment variables reach the run
    assert "no network" in lines and "read-only" in lines
    # no new privileges, no capabilities at all, the image's user, a bounded process count
    assert f"hardening 1 {'0' * 16} {'0' * 16} 0 {PIDS_LIMIT}" in lines
    assert result.user == "0"
    assert (out / "sum.txt").read_text() == "8000000.0"
    assert result.peak_memory is not None and result.peak_memory > 60 * 2**20  # the 64 MB array
    assert result.end > result.start


def test_podman_argv_matches_the_docker_contract() -> None:
    spec = RunSpec(
        image="img",
        command=("python3", "x.py"),
        mounts=(Mount(Path("/data/a"), "/in/a"), Mount(Path("/o"), "/out", False)),
        env={"A": "1"},
        memory="1g",
        cpus=2,
        workdir="/w",
    )
    argv = podman_argv(spec, "n", "img")
    assert argv[:6] == ["podman", "run", "--name", "n", "--network", "none"]
    assert "type=bind,src=/data/a,dst=/in/a,ro" in argv
    assert "type=bind,src=/o,dst=/out" in argv
    assert argv[argv.index("--memory-swap") + 1] == "1g"
    assert argv[argv.index("--security-opt") + 1] == "no-new-privileges"
    assert argv[argv.index("--cap-drop") + 1] == "all"
    assert argv[argv.index("--pids-limit") + 1] == str(PIDS_LIMIT)
    assert "--user" not in argv  # the runner passes the image's user explicitly
    with_user = podman_argv(replace(spec, user="1000:100"), "n", "img")
    assert with_user[with_user.index("--user") + 1] == "1000:100"
    assert argv[-3:] == ["img", "python3", "x.py"]


@pytest.mark.skipif(shutil.which("podman") is not None, reason="podman is installed here")
def test_podman_runner_without_podman_says_so(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="podman is not installed"):
        open_runner(Settings.load(), "podman").run(
            RunSpec(image="x", command=("true",)),
            stdout=tmp_path / "o",
            stderr=tmp_path / "e",
            progress=QUIET,
        )
