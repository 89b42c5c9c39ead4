"""The tests' one-node SLURM cluster runs real batch jobs and job arrays that use Docker."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.servers.slurm import SlurmCluster

pytestmark = [pytest.mark.slurm, pytest.mark.docker, pytest.mark.slow]


def test_a_job_array_of_docker_runs_completes(
    slurm_cluster: SlurmCluster, base_image: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    script = tmp_path / "task.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"exec docker run --rm --network none -v {out}:/out {base_image} "
        """sh -c 'echo "task $0 of $1" > /out/$0.txt' """
        '"$SLURM_ARRAY_TASK_ID" "$SLURM_ARRAY_TASK_COUNT"\n'
    )
    job = slurm_cluster.sbatch(
        "--array=1-20", f"--output={tmp_path}/%A_%a.log", f"--chdir={tmp_path}", str(script)
    )
    states = slurm_cluster.wait(job, count=20, timeout=600)
    assert sorted(states) == sorted(f"{job}_{i}" for i in range(1, 21))
    assert set(states.values()) == {"COMPLETED"}, states
    files = sorted(out.iterdir(), key=lambda p: int(p.stem))
    assert [p.read_text() for p in files] == [f"task {i} of 20\n" for i in range(1, 21)]


def test_a_failing_job_is_reported_failed(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    job = slurm_cluster.sbatch(f"--output={tmp_path}/%j.log", "--wrap", "echo oops >&2; exit 3")
    states = slurm_cluster.wait(job, count=1, timeout=120)
    assert states == {job: "FAILED"}
    assert "oops" in (tmp_path / f"{job}.log").read_text()


def test_sacct_needs_accounting_which_is_absent(slurm_cluster: SlurmCluster) -> None:
    proc = slurm_cluster.run("sacct", check=False)
    assert proc.returncode != 0 and "accounting storage is disabled" in proc.stdout + proc.stderr
