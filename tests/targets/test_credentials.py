"""Credentials never leave: seeded platform credentials (OSCAR's password, OpenWhisk's
key, OpenFaaS' password) and a storage token the data needs (the dCache test server
refuses calls without it), used for real on every remote target; then every output,
crate, log, manifest, batch folder and the deployment record is searched for them."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers.conftest import serving
from tests.servers.dcache import DcacheServer
from tests.servers.openfaas import OpenFaasServer
from tests.servers.openwhisk import OpenWhiskServer
from tests.servers.oscar import OscarServer
from tests.servers.slurm import SlurmCluster
from tests.targets.conftest import cli_args, everything_written

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.slurm, pytest.mark.slow]
TOKEN = "tok-" + secrets.token_urlsafe(24)


@pytest.fixture
def guarded() -> Iterator[DcacheServer]:
    """Storage that wants the token (Bearer) for every request."""
    with serving(DcacheServer(token=TOKEN)) as server:
        yield server


def test_no_credential_in_output_crates_logs_or_records(
    upper_doi: str,
    remote: str,
    guarded: DcacheServer,
    slurm_cluster: SlurmCluster,
    run_cli: Any,
    isolated_dirs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRESERVE_DATA_TOKEN", TOKEN)
    monkeypatch.setenv("PRESERVE_DATA_TOKEN_HOSTS", "127.0.0.1")
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))
    with (
        serving(OscarServer(network="host")) as oscar,
        serving(OpenWhiskServer(network="host")) as whisk,
        serving(OpenFaasServer(network="host")) as faas,
    ):
        monkeypatch.setenv("PRESERVE_TARGETS_OSCAR_USER", oscar.user)
        monkeypatch.setenv("PRESERVE_TARGETS_OSCAR_PASSWORD", oscar.password)
        monkeypatch.setenv("PRESERVE_TARGETS_OSCAR_POLL_INTERVAL", "0.2")
        monkeypatch.setenv("PRESERVE_TARGETS_OPENWHISK_AUTH", whisk.auth)
        monkeypatch.setenv("PRESERVE_TARGETS_OPENFAAS_PASSWORD", faas.password)
        monkeypatch.setenv("PRESERVE_TARGETS_KNATIVE_DATA_TOKEN_SECRET", "dcache-token")
        seeded = [TOKEN, oscar.password, whisk.auth.split(":")[1], faas.password]
        targets = {
            "slurm": "slurm",
            "oscar": f"oscar+{oscar.url}",
            "ow": f"openwhisk+{whisk.url}/guest",
            "faas": f"openfaas+{faas.url}",
            "kn": f"knative:{tmp_path / 'manifests'}",
        }
        said: list[str] = []
        for short, to in targets.items():
            name = f"upper-secret-{short}"
            deployed = run_cli("deploy", upper_doi, "--to", to, "--name", name, "--json")
            assert deployed.exit_code == 0, deployed.stderr
            said += [deployed.stdout, deployed.stderr]
            if short == "kn":  # manifests only: no cluster to call
                said.append((tmp_path / "manifests" / f"{name}.yaml").read_text())
                continue
            guarded.put(f"/{short}/in.txt", f"data for {short}".encode())
            document = {
                "inputs": {"text": guarded.url(f"/{short}/in.txt")},
                "output_to": guarded.url(f"/{short}/out/", "dav"),
            }
            done = run_cli("invoke", name, *cli_args(document), "--json")
            assert done.exit_code == 0, done.stderr  # the token reached the function
            result = json.loads(done.stdout)
            assert guarded.files[f"/{short}/out/outputs/upper.txt"].data.startswith(b"DATA FOR")
            for args in ([name], [name, result["invocation_id"]]):
                logs = run_cli("logs", *args)
                assert logs.exit_code == 0, logs.stderr
                said += [done.stdout, done.stderr, logs.stdout, logs.stderr]
        listed = run_cli("functions", "--json")
        said += [listed.stdout, listed.stderr]
        platform = [json.dumps(a.document()) for a in whisk.actions.values()]
        stored = [e.data.decode("utf-8", "replace") for e in guarded.files.values()]
        # The record, the SLURM batch folders, the failed-call crates: the data directory.
        written = everything_written(isolated_dirs / "data", *said, *stored)
        for short in targets:
            undone = run_cli("undeploy", f"upper-secret-{short}")
            written += undone.stdout + undone.stderr
    for secret in seeded:
        assert secret not in written
    assert "upper.txt" in written and "dcache-token" in written  # the search saw them all
    assert "PRESERVE_BATCH=" in written  # a SLURM job script was read too
    # The platforms were given what the function needs, through their secret channels.
    assert any(TOKEN in text for text in platform)
