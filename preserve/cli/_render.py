"""Rendering helpers: JSON to stdout, human text and progress to stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from preserve.progress import QUIET, Task
from preserve.progress import Progress as ProgressSink
from preserve.secrets import redact_data, redact_text


@cache
def err_console() -> Console:
    return Console(stderr=True, soft_wrap=True)


@cache
def out_console() -> Console:
    return Console(soft_wrap=True)


def print_json(data: Any) -> None:
    """One JSON document on stdout, credentials redacted like every other output."""
    text = json.dumps(redact_data(data), indent=2, sort_keys=False, default=str)
    sys.stdout.write(text + "\n")


class _RichTask:
    def __init__(self, bars: Progress, task_id: Any) -> None:
        self._bars, self._id = bars, task_id

    def advance(self, amount: int) -> None:
        self._bars.advance(self._id, amount)


class RichProgress:
    """Progress bars on a terminal; phase notes as plain lines."""

    def step(self, message: str) -> None:
        err_console().print(f"[cyan]•[/] {escape(redact_text(message))}", highlight=False)

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Task]:
        description = escape(redact_text(description))
        columns = [TextColumn("  {task.description}"), BarColumn(), DownloadColumn()]
        columns += [TransferSpeedColumn(), TimeRemainingColumn()]
        with Progress(*columns, console=err_console(), transient=True) as bars:
            yield _RichTask(bars, bars.add_task(description, total=total))


class StepsOnly:
    """Not a terminal: phase notes only, no bars."""

    def step(self, message: str) -> None:
        err_console().print(f"• {escape(redact_text(message))}", highlight=False)

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Task]:
        with QUIET.task(description, total) as task:
            yield task


def progress_for(json_output: bool) -> ProgressSink:
    """Bars on a terminal; quiet with --json; phase lines otherwise."""
    if json_output:
        return QUIET
    if err_console().is_terminal:
        return RichProgress()
    return StepsOnly()
