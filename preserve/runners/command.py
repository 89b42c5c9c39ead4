"""The command of a run: placeholders filled, and why a run failed."""

from __future__ import annotations

import re
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


_ENV_REF = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def expand_env(command: tuple[str, ...], env: Mapping[str, str]) -> tuple[str, ...]:
    """``$NAME`` / ``${NAME}`` of the run's declared variables filled in, as a shell would.

    Exec-form commands get no shell, so a credential kept out of the command line
    (``--token $TOKEN`` with ``env: [TOKEN]``) is filled in here, only in the
    arguments handed to the container; the recorded command keeps ``$TOKEN``.
    Other ``$`` text is left alone.
    """

    def fill(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return env[name] if name in env else m.group(0)

    return tuple(_ENV_REF.sub(fill, arg) for arg in command)


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
