"""A real one-node SLURM cluster (Debian ``slurm-wlm`` + ``munge``) on 127.0.0.1 for tests.

Everything is private to one cluster directory: a fresh munge key and its own
``munged`` (``--socket``, referenced by ``AuthInfo=socket=`` in ``slurm.conf``), free
ports for ``slurmctld`` and ``slurmd``, and state, spool, pid and log files, so
several test sessions on one machine do not meet. The configuration is the one in
``functions-and-events.md`` §6 (``auth/munge``, ``proctrack/linuxproc``, ``task/none``).

Pass :attr:`SlurmCluster.env` (it sets ``SLURM_CONF``) to ``sbatch``/``squeue``/
``scontrol``. Accounting storage is not configured, so ``sacct`` answers "Slurm
accounting storage is disabled": read job states with :meth:`SlurmCluster.job_states`
(``scontrol show job``), which keeps finished jobs for ``MinJobAge`` (an hour here).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"}
TERMINAL |= {"PREEMPTED", "BOOT_FAIL", "DEADLINE"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class SlurmCluster:
    root: Path
    conf: Path
    node: str
    cpus: int

    @property
    def env(self) -> dict[str, str]:
        """The environment for SLURM commands (and for jobs, which inherit it)."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), env=self.env, capture_output=True, text=True, check=check, timeout=60
        )

    def sbatch(self, *args: str) -> str:
        """Submit a batch job; its id (of the whole array for ``--array``)."""
        out = self.run("sbatch", "--parsable", *args).stdout.strip()
        return out.split(";")[0]

    def job_states(self, job_id: str) -> dict[str, str]:
        """State of every task of ``job_id`` (``JobId`` or ``ArrayJobId_TaskId`` -> state)."""
        proc = self.run("scontrol", "-o", "show", "job", job_id, check=False)
        states: dict[str, str] = {}
        for line in proc.stdout.splitlines():
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            key = fields.get("JobId", "")
            if fields.get("ArrayTaskId"):
                key = f"{fields['ArrayJobId']}_{fields['ArrayTaskId']}"
            states[key] = fields.get("JobState", "")
        return states

    def wait(self, job_id: str, count: int, timeout: float) -> dict[str, str]:
        """Wait until ``count`` tasks of ``job_id`` reached a terminal state."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.job_states(job_id)
            done = [s for s in states.values() if s in TERMINAL]
            if len(done) >= count and len(states) >= count:
                return states
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} not done within {timeout}s: {states}")
            time.sleep(0.5)

    def stop(self) -> None:
        self.run("scontrol", "shutdown", check=False)
        for name in ("slurmctld.pid", "slurmd.pid", "munge/munged.pid"):
            _stop_pid(self.root / name)


def _stop_pid(pidfile: Path, grace: float = 10.0) -> None:
    """Stop the daemon we started (by its pid file), with SIGKILL after ``grace`` seconds."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline + 2:  # a zombie (no reaping init) never goes away
        late = time.monotonic() > deadline
        try:
            os.kill(pid, signal.SIGKILL if late else signal.SIGTERM)
        except ProcessLookupError:
            return
        if _zombie(pid):
            return
        time.sleep(0.2)


def _zombie(pid: int) -> bool:
    try:
        return " Z " in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:4]
    except (OSError, IndexError):
        return True


CONFIG = """\
ClusterName=preservetest
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmUser=root
MinJobAge=3600
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


def start_cluster(root: Path, timeout: float = 60.0) -> SlurmCluster:
    """Start munged, slurmctld and slurmd under ``root``; return once the node is idle."""
    for sub in ("state", "spool", "munge"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    munge = root / "munge"
    munge.chmod(0o700)
    key = munge / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    _daemon(
        [
            "munged",
            "--force",
            f"--socket={munge}/munge.socket",
            f"--key-file={key}",
            f"--pid-file={munge}/munged.pid",
            f"--log-file={munge}/munged.log",
            f"--seed-file={munge}/munged.seed",
        ]
    )
    node = socket.gethostname().split(".")[0]
    cluster = SlurmCluster(root, root / "slurm.conf", node, os.cpu_count() or 1)
    cluster.conf.write_text(
        CONFIG.format(
            node=node,
            root=root,
            ctld_port=_free_port(),
            d_port=_free_port(),
            cpus=cluster.cpus,
        )
    )
    for daemon in ("slurmctld", "slurmd"):
        _daemon([daemon, "-f", str(cluster.conf)], env=cluster.env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = cluster.run("sinfo", "-h", "-o", "%T", check=False).stdout.strip()
        if state == "idle":
            return cluster
        time.sleep(0.3)
    logs = {p.name: p.read_text()[-2000:] for p in root.glob("*.log")}
    cluster.stop()
    raise RuntimeError(f"the SLURM node did not become idle within {timeout}s: {logs}")


def _daemon(argv: Sequence[str], env: dict[str, str] | None = None) -> None:
    """Run a daemon that forks into the background; fail loudly if it does not start."""
    proc = subprocess.run(list(argv), env=env, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed to start: {proc.stderr.strip()}")
