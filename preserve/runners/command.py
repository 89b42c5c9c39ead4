"""The command of a run: placeholders filled, and why a run failed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from preserve.runners.base import RunResult, RunSpec

STDERR_TAIL = 20


def substitute(template: tuple[str, ...] | list[str], mounts: Mapping[str, str]) -> tuple[str, ...]:
    """Fill ``{inputs.NAME}``, ``{config}``, ``{outdir}`` in a command template."""
    out = []
    for arg in template:
        for key, value in mounts.items():
            arg = arg.replace("{" + key + "}", value)
        out.append(arg)
    return tuple(out)


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


def stderr_tail(path: Path, lines: int = STDERR_TAIL) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])
