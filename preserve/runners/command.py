"""The command of a run: placeholders filled, and why a run failed."""

from __future__ import annotations

from pathlib import Path

from preserve.runners.base import RunResult, RunSpec
from preserve.shim.command import expand_env, stderr_tail, substitute

__all__ = ["expand_env", "run_error", "stderr_tail", "substitute"]


def run_error(result: RunResult, spec: RunSpec, stderr: Path) -> str | None:
    """Why a run failed, with the tail of its stderr; None when it succeeded."""
    if result.ok:
        return None
    if result.timed_out:
        why = f"it exceeded the time limit of {spec.timeout:g} s and was stopped"
    elif result.oom_killed:
        why = f"it ran out of memory (limit {spec.memory or 'none set'})"
    else:
        why = f"it exited with code {result.exit_code}"
    tail = stderr_tail(stderr)
    return why + (f"; last lines of stderr:\n{tail}" if tail else "")
