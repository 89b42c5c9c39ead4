"""A container run through a docker-compatible command line (``podman``, ``docker``, ...).

For runners without an API to talk to: the CLI runs the container in the
foreground under a known name, so a timeout can kill it and the OOM flag can be
read afterwards. Peak memory and CPU time are not sampled.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from preserve.errors import RunError
from preserve.runners.base import RunResult

CLI_FAILED = 125  # docker's and podman's exit code when the CLI itself failed


def run_cli(
    executable: str,
    argv: list[str],
    name: str,
    *,
    timeout: float | None,
    stdout: Path,
    stderr: Path,
) -> RunResult:
    """Run ``argv`` (a ``run --name NAME ...`` of ``executable``) to completion."""
    start = datetime.now(UTC)
    timed_out = False
    try:
        with stdout.open("wb") as out, stderr.open("wb") as err:
            proc = subprocess.Popen(argv, stdout=out, stderr=err)
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                subprocess.run([executable, "kill", name], capture_output=True)
                code = proc.wait()
        end = datetime.now(UTC)
        inspect = subprocess.run(
            [executable, "inspect", "--format", "{{.State.OOMKilled}}", name],
            capture_output=True,
            text=True,
        )
    finally:
        # Also on Ctrl-C or SIGTERM (raised as KeyboardInterrupt): the container goes.
        subprocess.run([executable, "rm", "--force", name], capture_output=True)
    if code == CLI_FAILED and not timed_out:  # the CLI failed, not the analysis
        tool = Path(executable).name
        raise RunError(f"{tool} could not start the container: {stderr.read_text().strip()}")
    return RunResult(
        exit_code=code,
        start=start,
        end=max(end, start + timedelta(microseconds=1)),
        peak_memory=None,
        cpu_seconds=None,
        oom_killed=inspect.stdout.strip() == "true",
        timed_out=timed_out,
    )
