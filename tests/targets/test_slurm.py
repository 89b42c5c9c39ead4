"""The slurm target on a real one-node cluster (Debian slurm-wlm + munge on 127.0.0.1):
20 inputs are one job array whose tasks run the pinned function image with Docker and
give 20 outputs and 20 crates; file:// data in shared folders; a task SLURM ends
without a result fails naming it. The podman and apptainer templates are rendered and
checked here, not run (neither runtime is installed on these machines)."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from preserve.errors import ConfigError
from preserve.functions import records
from preserve.functions.deploy import deploy, find, undeploy
from preserve.settings import Settings
from preserve.targets.base import open_target
from preserve.targets.slurm import SlurmOptions, SlurmTarget, check_template, task_states
from tests.servers import containers
from tests.servers.dcache import DcacheServer
from tests.servers.slurm import SlurmCluster
from tests.targets.conftest import call, cli_args, crate_action, home_settings

pytestmark = [pytest.mark.slurm, pytest.mark.docker, pytest.mark.slow]
REF = "127.0.0.1:5000/preserve-functions/upper@sha256:" + "ab" * 32


@pytest.fixture
def cluster(slurm_cluster: SlurmCluster, monkeypatch: pytest.MonkeyPatch) -> SlurmCluster:
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))
    return slurm_cluster


@pytest.fixture
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shared-fs")


@pytest.fixture
def on_slurm(
    upper_doi: str,
    remote: str,
    cluster: SlurmCluster,
    shared: Path,
    isolated_dirs: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """'upper' deployed on the cluster, sharing ``shared`` for file:// data."""
    monkeypatch.setenv("PRESERVE_TARGETS_SLURM_MOUNTS", str(shared))
    monkeypatch.setenv("PRESERVE_TARGETS_SLURM_POLL_INTERVAL", "0.3")
    settings = Settings.load()
    d = deploy(upper_doi, to="slurm", name="upper-slurm", settings=settings).deployment
    yield d.name
    undeploy(d.name, settings=settings)


def test_deploy_pins_the_pushed_image_and_records_the_command(
    on_slurm: str, remote: str, isolated_dirs: Path
) -> None:
    d = find(home_settings(isolated_dirs), on_slurm)
    assert d.target == "slurm" and d.image_ref.startswith(f"{remote}/preserve-functions/")
    assert d.image_ref.endswith(f"@{d.image_digest}")
    argv = shlex.split(d.sent["command"])
    assert argv[:2] == ["docker", "run"] and d.image_ref in argv
    assert argv[argv.index(d.image_ref) + 1 :] == ["run", "--calls", "$PRESERVE_CALLS"]


def test_twenty_inputs_are_one_job_array_with_twenty_outputs_and_crates(
    on_slurm: str,
    storage: DcacheServer,
    folder: str,
    run_cli: Any,
    batch_file: Any,
    cluster: SlurmCluster,
    isolated_dirs: Path,
) -> None:
    documents = [call(storage, folder, f"scan {i}".encode(), tag=str(i)) for i in range(20)]
    done = run_cli("invoke", on_slurm, "--batch", str(batch_file(documents)), "--json")
    assert done.exit_code == 0, done.stderr
    results = json.loads(done.stdout)
    assert [r["status"] for r in results] == ["completed"] * 20
    assert len({r["invocation_id"] for r in results}) == 20
    for i, r in enumerate(results):
        out = storage.files[f"{folder}/out{i}/outputs/upper.txt"].data
        assert out == f"SCAN {i}".encode() * 2
        assert r["outputs"]["upper.txt"]["sha256"] and r["target"] == "slurm"
        action = crate_action(storage, f"{folder}/out{i}/")
        assert action["actionStatus"] == "http://schema.org/CompletedActionStatus"
        assert action["identifier"] == r["key"]
    settings = home_settings(isolated_dirs)
    tasks = [records.platform_id(settings, r["invocation_id"]) or "" for r in results]
    assert len({t.split("_")[0] for t in tasks}) == 1  # one job array for the twenty calls
    # Its tasks share the calls out over the node's CPUs, several calls to a task.
    used = {int(t.split("_")[1]) for t in tasks}
    assert used == set(range(len(used))) and 2 <= len(used) <= cluster.cpus
    state = cluster.run("scontrol", "--oneliner", "show", "job", tasks[0].split("_")[0]).stdout
    assert f"JobName=preserve-{on_slurm}" in state
    assert state.count("JobState=COMPLETED") == len(used)
    again = run_cli("invoke", on_slurm, "--batch", str(batch_file(documents[:2])), "--json")
    assert [r["cached"] for r in json.loads(again.stdout)] == [True, True]


def test_file_data_in_a_shared_folder_and_the_logs_of_a_task(
    on_slurm: str, shared: Path, run_cli: Any
) -> None:
    (shared / "in.txt").write_text("local file")
    done = run_cli(
        "invoke",
        on_slurm,
        "--input",
        f"text=file://{shared}/in.txt",
        "--output-to",
        f"file://{shared}/out/",
        "--json",
    )
    assert done.exit_code == 0, done.stderr
    result = json.loads(done.stdout)
    assert (shared / "out" / "outputs" / "upper.txt").read_text() == "LOCAL FILELOCAL FILE"
    graph = json.loads((shared / "out" / "ro-crate-metadata.json").read_text())["@graph"]
    action = next(e for e in graph if e["@type"] == "CreateAction")
    assert action["identifier"] == result["key"]
    logs = run_cli("logs", on_slurm, result["invocation_id"])
    assert logs.exit_code == 0 and "running python3 /app/run.py" in logs.stdout


def test_a_failing_call_and_a_task_slurm_ended_fail_naming_the_cause(
    on_slurm: str,
    storage: DcacheServer,
    folder: str,
    run_cli: Any,
    batch_file: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crash = call(storage, folder, b"crash", tag="c")
    fine = call(storage, folder, b"fine", tag="f")
    done = run_cli("invoke", on_slurm, "--batch", str(batch_file([crash, fine])), "--json")
    assert done.exit_code == 1
    results = json.loads(done.stdout)
    assert [r["status"] for r in results] == ["failed", "completed"]
    assert "exited with code 7" in results[0]["error"]
    assert "1 of 2 calls failed" in done.stderr
    # A runtime that cannot start the image: the task ends without a result document.
    monkeypatch.setenv("PRESERVE_TARGETS_SLURM_COMMAND", "false {image}")
    lost = run_cli("invoke", on_slurm, "--json", *cli_args(call(storage, folder, b"lost", "l")))
    assert lost.exit_code == 1
    assert "slurm: function" in lost.stderr and "printed no result document" in lost.stderr


def test_an_unreachable_cluster_is_named(
    upper_doi: str, remote: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=gone\nSlurmctldHost=localhost(127.0.0.1)\nSlurmctldPort=9\n")
    monkeypatch.setenv("SLURM_CONF", str(conf))
    from preserve.errors import TargetError

    with pytest.raises(TargetError, match=r"^slurm: function .*: sinfo failed"):
        deploy(upper_doi, to="slurm", name="upper-gone", settings=Settings.load())


# -- the templates of the runtimes that do not run here ---------------------------------


def _target(**options: Any) -> SlurmTarget:
    return SlurmTarget(SlurmOptions(**options), Settings.load(env={}), {})


def test_podman_and_apptainer_templates_render_to_their_command_lines() -> None:
    podman = shlex.split(_target(runtime="podman", mounts=["/gpfs/p21"]).render(REF, ["A"]))
    assert podman[:6] == ["podman", "run", "--rm", "--init", "--pull", "missing"]
    assert podman[6:10] == ["--network", "host", "--volume", "/gpfs/p21:/gpfs/p21:rw"]
    assert podman[10:15] == ["--volume", "$PRESERVE_BATCH:$PRESERVE_BATCH:ro", "--env", "A", REF]
    apptainer = shlex.split(_target(runtime="apptainer", mounts=["/a b"]).render(REF, ["A"]))
    assert apptainer[:5] == ["apptainer", "run", "--containall", "--no-home", "--bind"]
    assert apptainer[5] == "$PRESERVE_SCRATCH:/preserve"
    assert "/a b:/a b:rw" in apptainer and f"docker://{REF}" in apptainer
    assert "--env" not in apptainer  # variables go in as APPTAINERENV_NAME


def test_the_apptainer_job_script_passes_secrets_by_environment_only(tmp_path: Path) -> None:
    from preserve.targets.base import Call, Deployment
    from preserve.targets.slurm import Batch

    target = _target(runtime="apptainer")
    d = Deployment("upper", "10.5072/x", "slurm", REF, None, None, str(tmp_path), {})
    batch = Batch.create(tmp_path, [Call("id-1", {"inputs": {}})], 1)
    secrets = {"PRESERVE_DATA_TOKEN": "s3cr3t-token"}
    script = target._script(d, batch, target.render(REF, ["PRESERVE_DATA_TOKEN"]), {}, secrets)
    assert "s3cr3t-token" not in script
    assert 'export APPTAINERENV_PRESERVE_DATA_TOKEN="$PRESERVE_DATA_TOKEN"' in script


def test_templates_may_use_only_known_fields() -> None:
    check_template("srun --mpi=none docker run {env} {image} run --calls {calls}")
    with pytest.raises(ConfigError, match="unknown field"):
        check_template("docker run {image} {secret}")
    with pytest.raises(ConfigError, match="must run"):
        check_template("docker run busybox")
    settings = Settings.load(env={}, overrides={"targets": {"slurm": {"command": "x {nope}"}}})
    with pytest.raises(ConfigError, match="unknown field"):
        open_target("slurm", settings)


def test_array_states_from_scontrol_with_pending_ranges() -> None:
    out = (
        "JobId=12 ArrayJobId=10 ArrayTaskId=2 JobState=RUNNING\n"
        "JobId=10 ArrayJobId=10 ArrayTaskId=3-5%2 JobState=PENDING\n"
        "JobId=11 ArrayJobId=10 ArrayTaskId=0 JobState=COMPLETED\n"
    )
    assert task_states(out) == {0: "COMPLETED", 2: "RUNNING", 3: "PENDING", 4: "PENDING"} | {
        5: "PENDING"
    }


def test_a_call_repeated_in_a_batch_runs_once(
    on_slurm: str, storage: DcacheServer, folder: str, run_cli: Any, batch_file: Any
) -> None:
    document = call(storage, folder, b"twice")
    done = run_cli("invoke", on_slurm, "--batch", str(batch_file([document, document])), "--json")
    assert done.exit_code == 0, done.stderr
    first, second = json.loads(done.stdout)
    assert first["cached"] is False and second["cached"] is True
    assert second["key"] == first["key"] and second["invocation_id"] == first["invocation_id"]


def cancelled(cluster: SlurmCluster, job: str, seconds: float = 30) -> bool:
    """The job reaches CANCELLED: scancel returns before slurmctld has recorded it, and a
    loaded machine showed the job in another state right after the call returned."""
    deadline = time.monotonic() + seconds
    while True:
        state = cluster.run("scontrol", "--oneliner", "show", "job", job).stdout
        if "JobState=CANCELLED" in state:
            return True
        if time.monotonic() > deadline:
            found = [w for w in state.split() if w.startswith(("JobState=", "Reason="))]
            raise AssertionError(f"job {job} not cancelled within {seconds} s: {found}")
        time.sleep(0.5)


def test_a_job_that_outlives_the_wait_is_cancelled_and_its_calls_fail(
    on_slurm: str,
    storage: DcacheServer,
    folder: str,
    run_cli: Any,
    cluster: SlurmCluster,
    isolated_dirs: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """scancel ends the task and its container (the shim is not PID 1: ``--init``)."""
    monkeypatch.setenv("PRESERVE_TARGETS_SLURM_WAIT_TIMEOUT", "3")
    slow = run_cli("invoke", on_slurm, *cli_args(call(storage, folder, b"sleep 60")), "--json")
    assert slow.exit_code == 1
    assert "slurm: function" in slow.stderr and "did not finish within 3 s" in slow.stderr
    result = json.loads(slow.stdout)
    assert result["status"] == "failed" and Path(result["crate"]).is_dir()
    settings = home_settings(isolated_dirs)
    task = records.platform_id(settings, result["invocation_id"])
    assert task is not None
    assert cancelled(cluster, task.split("_")[0])
    image = find(settings, on_slurm).image_ref
    deadline = time.monotonic() + 30  # SIGTERM, passed on by the docker client
    while containers.client().containers.list(filters={"ancestor": image}):
        assert time.monotonic() < deadline, "the cancelled task's container still runs"
        time.sleep(0.5)
    assert f"{folder}/out/outputs/upper.txt" not in storage.files
