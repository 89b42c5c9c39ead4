"""`preserve rerun DOI` with a cold cache, when a server of the published run turned hostile.

The run is captured and published honestly; then the data server stops
answering, or the registry starts sending a 400 MiB manifest. The rerun must
end with a clear error naming the server, no traceback and nothing left behind,
within the limits the reader configured, instead of hanging or filling memory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Registry, run_preserve
from tests.rerun.analyses import make
from tests.servers.hostile_data import HostileDataServer
from tests.servers.hostile_registry import HOSTILE_SENT_LIMIT, HostileRegistry

pytestmark = [pytest.mark.docker, pytest.mark.registry]

INPUT = b"x" * 1000 + b"y" * 24
SCRIPT = """
import sys, os
data = open(sys.argv[1], "rb").read()
open(os.path.join(sys.argv[2], "count.txt"), "w").write(f"{len(data)} bytes\\n")
"""


@pytest.fixture
def data_server() -> Iterator[HostileDataServer]:
    server = HostileDataServer({"/input.dat": INPUT})
    yield server
    server.close()


def publish(tmp_path: Path, uri: str, registry_host: str) -> tuple[str, dict[str, str]]:
    inputs = f'inputs:\n  data: {{uri: "{uri}"}}\n'
    analysis = make(tmp_path, "counter", SCRIPT, ["count.txt"], inputs=inputs,
                    args='"{inputs.data}", "{outdir}"')  # fmt: skip
    env = {"PRESERVE_REGISTRY": f"{registry_host}/hostile", "PRESERVE_PUBLISHER": "Test Lab"}
    proc = run_preserve("capture", str(analysis), "-o", str(tmp_path / "crate"), env=env)
    assert proc.returncode == 0, proc.stderr
    proc = run_preserve("publish", str(tmp_path / "crate"), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["doi"], env


def rerun_cold(
    doi: str, out: Path, isolated_dirs: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    shutil.rmtree(isolated_dirs / "cache", ignore_errors=True)
    return subprocess.run(
        [sys.executable, "-m", "preserve", "rerun", doi, "-o", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,  # a hang fails the test here, not after pytest's 15 minutes
    )


def test_a_data_server_that_stopped_answering_ends_the_rerun_by_the_deadline(
    tmp_path: Path,
    base_image: str,
    registry: Registry,
    data_server: HostileDataServer,
    isolated_dirs: Path,
) -> None:
    doi, env = publish(tmp_path, data_server.url("/input.dat"), registry.host)
    data_server.attack = "silent"
    limits = {"PRESERVE_NETWORK_READ_TIMEOUT": "30", "PRESERVE_NETWORK_STAGE_DEADLINE": "3"}
    proc = rerun_cold(doi, tmp_path / "rerun", isolated_dirs, {**env, **limits})
    assert proc.returncode == 1, proc.stderr
    assert f"staging input 'data' from {data_server.host} did not finish within 3 s" in proc.stderr
    assert "PRESERVE_NETWORK_STAGE_DEADLINE" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "rerun").exists()
    cached = isolated_dirs / "cache" / "data"
    assert not cached.exists() or not any(p.is_file() for p in cached.rglob("*"))


def test_a_registry_sending_a_400_mib_manifest_ends_the_rerun_bounded(
    tmp_path: Path,
    base_image: str,
    registry: Registry,
    data_server: HostileDataServer,
    isolated_dirs: Path,
) -> None:
    with HostileRegistry(registry.host) as hostile:
        doi, env = publish(tmp_path, data_server.url("/input.dat"), hostile.host)
        hostile.attack = "huge-manifest-chunked"
        hostile.log.clear()
        proc = rerun_cold(doi, tmp_path / "rerun", isolated_dirs, env)
        assert proc.returncode == 1, proc.stderr
        assert f"the manifest of {hostile.host}/hostile/counter@sha256:" in proc.stderr
        assert "is too large" in proc.stderr and "Traceback" not in proc.stderr
        assert hostile.sent < HOSTILE_SENT_LIMIT
        assert len(hostile.requests("GET", "/manifests/")) == 1
    assert not (tmp_path / "rerun").exists()
