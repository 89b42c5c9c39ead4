"""Run the recorded command inside the function's container, as the published run did.

The command template's placeholders are filled with the same paths the
published run used (``/preserve/inputs/NAME/FILE``, ``/preserve/config/FILE``,
``/preserve/outputs``). The environment is the image's own (recorded from its
configuration at deploy time) plus the variables the run declared: recorded
values as recorded, withheld ones from the shim's environment (where the
platform's secrets put them). Nothing else of the shim's environment (platform
variables, credentials for storage) reaches the analysis. The process runs in
its own session and is killed, with its children, at the deadline.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from preserve.shim.documents import ShimError

STDERR_TAIL = 20


def substitute(template: Sequence[str], values: Mapping[str, str]) -> tuple[str, ...]:
    """Fill ``{inputs.NAME}``, ``{config}``, ``{outdir}`` in a command template."""
    out = []
    for arg in template:
        for key, value in values.items():
            arg = arg.replace("{" + key + "}", value)
        out.append(arg)
    return tuple(out)


_ENV_REF = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def expand_env(command: Sequence[str], env: Mapping[str, str]) -> tuple[str, ...]:
    """``$NAME`` / ``${NAME}`` of the run's declared variables filled in, as a shell would.

    Exec-form commands get no shell, so a credential kept out of the command line
    (``--token $TOKEN`` with ``env: [TOKEN]``) is filled in here, only in the
    arguments handed to the process; the recorded command keeps ``$TOKEN``.
    Other ``$`` text is left alone.
    """

    def fill(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return env[name] if name in env else m.group(0)

    return tuple(_ENV_REF.sub(fill, arg) for arg in command)


@dataclass(frozen=True)
class Ran:
    command: tuple[str, ...]
    start: datetime
    end: datetime
    exit_code: int
    timed_out: bool
    cpu_seconds: float | None
    peak_memory: int | None  # bytes (the process tree's largest resident set)
    error: str | None


def environment(spec: Mapping[str, object], environ: Mapping[str, str]) -> dict[str, str]:
    """The analysis' environment: the image's, plus the run's declared variables."""
    env: dict[str, str] = {}
    for item in spec.get("image_env") or []:  # type: ignore[attr-defined]
        key, sep, value = str(item).partition("=")
        if sep:
            env[key] = value
    for item in spec.get("env") or []:  # type: ignore[attr-defined]
        name = item["name"]
        if item.get("withheld"):
            if name not in environ:
                raise ShimError(
                    f"the function needs {name}, whose value was withheld when the analysis "
                    "was published (it looks like a credential)",
                    hint=f"give the function {name} as a secret of the platform",
                    status=500,
                )
            env[name] = environ[name]
        elif item.get("value") is not None:
            env[name] = item["value"]
    return env


def run(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str,
    stdout_path: str,
    stderr_path: str,
    timeout: float | None,
) -> Ran:
    start = datetime.now(timezone.utc)
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        try:
            proc = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,  # its own process group, killed as a whole
            )
        except OSError as exc:
            end = datetime.now(timezone.utc)
            why = f"the command could not start: {exc.strerror or exc} ({command[0]})"
            return Ran(tuple(command), start, end, 127, False, None, None, why)
        status, usage, timed_out = _wait(proc, timeout)
    end = datetime.now(timezone.utc)
    code = (
        os.waitstatus_to_exitcode(status)
        if hasattr(os, "waitstatus_to_exitcode")
        else _code(status)
    )
    cpu = usage.ru_utime + usage.ru_stime if usage else None
    peak = usage.ru_maxrss * 1024 if usage else None  # KiB on Linux
    error = _error(code, timed_out, timeout, stderr_path)
    return Ran(tuple(command), start, end, code, timed_out, cpu, peak, error)


def _wait(proc: subprocess.Popen[bytes], timeout: float | None) -> tuple[int, Any, bool]:
    """Wait for ``proc`` with wait4 (its own resource usage); kill its group at the deadline."""
    box: list[object] = []

    def reap() -> None:
        _, status, usage = os.wait4(proc.pid, 0)
        box.extend((status, usage))

    waiter = threading.Thread(target=reap, daemon=True)
    waiter.start()
    waiter.join(timeout)
    timed_out = waiter.is_alive()
    if timed_out:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        waiter.join()
    proc.returncode = -1  # reaped by wait4 above; keep Popen from waiting again
    status, usage = box
    return int(status), usage, timed_out  # type: ignore[call-overload]


def _code(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _error(code: int, timed_out: bool, timeout: float | None, stderr_path: str) -> str | None:
    if timed_out:
        why = f"it exceeded the time limit of {timeout:g} s and was stopped"
    elif code != 0:
        why = f"it exited with code {code}"
    else:
        return None
    tail = stderr_tail(stderr_path)
    return why + (f"; last lines of stderr:\n{tail}" if tail else "")


def stderr_tail(path: str | os.PathLike[str], lines: int = STDERR_TAIL) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 65536))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])
