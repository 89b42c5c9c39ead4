"""``preserve doctor`` against the real Docker Engine and a real registry."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Registry, free_port, run_preserve

pytestmark = [pytest.mark.docker]


def test_all_green_on_defaults(docker_engine: str) -> None:
    proc = run_preserve("doctor")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all checks passed" in proc.stdout
    assert "Docker Engine" in proc.stdout
    assert "local OCI layout store" in proc.stdout
    assert "not globally resolvable" in proc.stdout


def test_json_output(docker_engine: str, registry: Registry) -> None:
    proc = run_preserve("doctor", "--json", env={"PRESERVE_REGISTRY": registry.host})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    names = [c["name"] for c in report["checks"]]
    assert names == ["docker", "store", "doi", "runner", "disk", "dependencies"]
    store = next(c for c in report["checks"] if c["name"] == "store")
    assert registry.host in store["detail"]
    docker = report["checks"][0]
    assert "API" in docker["detail"]


def test_registry_down_is_red_with_hint(docker_engine: str) -> None:
    closed = f"127.0.0.1:{free_port()}"
    proc = run_preserve("doctor", env={"PRESERVE_REGISTRY": closed})
    assert proc.returncode == 1
    assert "✘ store" in proc.stdout
    assert "hint:" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_docker_down_is_red_with_hint(tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = run_preserve("doctor", env={"DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"})
    assert proc.returncode == 1
    assert "✘ docker" in proc.stdout
    assert "not reachable" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_low_disk_fails(docker_engine: str) -> None:
    proc = run_preserve("doctor", "--json", env={"PRESERVE_MIN_FREE_GIB": "1000000"})
    assert proc.returncode == 1
    disk = next(c for c in json.loads(proc.stdout)["checks"] if c["name"] == "disk")
    assert disk["status"] == "fail"
    assert "PRESERVE_CACHE_DIR" in disk["hint"]


def test_runner_configuration_is_checked(docker_engine: str) -> None:
    proc = run_preserve("doctor", "--json", env={"PRESERVE_RUNNERS_DOCKER_COLOUR": "red"})
    assert proc.returncode == 1
    runner = next(c for c in json.loads(proc.stdout)["checks"] if c["name"] == "runner")
    assert runner["status"] == "fail"
    assert runner["detail"] == "invalid configuration in [runners.docker]: colour: unknown key"
    assert "PRESERVE_RUNNERS_DOCKER_<KEY>" in runner["hint"]
