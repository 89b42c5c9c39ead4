"""``preserve watch`` and ``preserve events`` (list, ``show KEY``, ``retry KEY``)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click
from rich.markup import escape
from rich.table import Table

from preserve.cli._context import AppContext
from preserve.cli._options import json_option
from preserve.cli._render import err_console, out_console, print_json, progress_for
from preserve.events.model import STATES, WatchResult

_JOURNAL = "The journal's file (default: DATA_DIR/events.sqlite)."


@click.command()
@click.argument("rules", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--once", is_flag=True, help="Process what is pending and what a listing finds.")
@click.option("--journal", type=click.Path(path_type=Path, dir_okay=False), help=_JOURNAL)
@json_option()
@click.pass_obj
def watch(app: AppContext, rules: Path, once: bool, journal: Path | None, as_json: bool) -> None:
    """Run the rules' functions on every matching storage event, until stopped.

    SIGINT or SIGTERM: take no more events and let running invocations finish;
    a second one hands them back to the journal and exits."""
    from preserve.events.watch import watch as do_watch

    logging.basicConfig(
        level=logging.DEBUG if app.debug else logging.WARNING,
        format="preserve watch: %(message)s",
        handlers=[logging.StreamHandler(err_console().file)],
    )
    stop, abandon = threading.Event(), threading.Event()

    def stopping(signum: int, frame: FrameType | None) -> None:
        (abandon if stop.is_set() else stop).set()
        if not as_json:
            word = "handing running invocations back" if abandon.is_set() else "stopping"
            err_console().print(f"[yellow]{word}[/] ({signal.Signals(signum).name})")

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stopping)
    result = do_watch(
        rules,
        settings=app.settings(),
        once=once,
        progress=progress_for(as_json),
        stop=stop,
        abandon=abandon,
        journal_path=journal,
    )
    if as_json:
        print_json(result.to_json())
    else:
        _say_watched(result)
    if result.handed_back:  # exit now: the interpreter would wait for the calls handed back
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _say_watched(result: WatchResult) -> None:
    states = ", ".join(f"{n} {s}" for s, n in sorted(result.invocations.items())) or "none"
    out_console().print(f"journal: {states}", highlight=False)
    if result.handed_back:
        out_console().print(f"{result.handed_back} running invocation(s) handed back")


@click.group(invoke_without_command=True)
@click.option("--state", type=click.Choice(STATES), help="Only invocations in this state.")
@click.option("--journal", type=click.Path(path_type=Path, dir_okay=False), help=_JOURNAL)
@json_option()
@click.pass_context
def events(ctx: click.Context, state: str | None, journal: Path | None, as_json: bool) -> None:
    """The journal: every invocation the watcher made, with its state."""
    ctx.meta["journal"] = journal
    if ctx.invoked_subcommand is not None:
        return
    from preserve import api

    app: AppContext = ctx.obj
    found = api.events(state, settings=app.settings(), journal=journal)
    if as_json:
        print_json(found)
        return
    table = Table(title_justify="left")
    for col in ("key", "rule", "state", "tries", "input", "crate or error"):
        table.add_column(col)
    for row in found:
        last = row["crate"] if row["state"] == "succeeded" else (row["error"] or "")
        cells = (row["key"][:16], row["rule"], row["state"], row["attempts"], row["uri"], last)
        table.add_row(*(escape(str(c)) for c in cells))
    out_console().print(table)


@events.command()
@click.argument("key")
@json_option()
@click.pass_context
def show(ctx: click.Context, key: str, as_json: bool) -> None:
    """One invocation: its state, result, crate and every event delivered for it."""
    from preserve import api

    app: AppContext = ctx.obj
    found = api.event(key, settings=app.settings(), journal=ctx.meta.get("journal"))
    if as_json:
        print_json(found)
        return
    console = out_console()
    for name in ("key", "rule", "function", "state", "attempts", "uri", "checksum", "output_to"):
        console.print(f"{name:<12} {escape(str(found[name]))}", highlight=False)
    for name in ("derived_from", "crate", "error"):
        if found.get(name):
            console.print(f"{name:<12} {escape(str(found[name]))}", highlight=False)
    for d in found["delivered"]:
        e = d["event"]
        console.print(
            f"  delivered {escape(d['received'])}: {escape(str(e.get('type')))} "
            f"id {escape(str(e.get('id', '-')))} from {escape(str(e.get('source')))}",
            highlight=False,
        )


@events.command()
@click.argument("key")
@json_option()
@click.pass_context
def retry(ctx: click.Context, key: str, as_json: bool) -> None:
    """Run a failed or dead invocation again (the watcher takes it up)."""
    from preserve import api

    app: AppContext = ctx.obj
    full = api.retry_event(key, settings=app.settings(), journal=ctx.meta.get("journal"))
    if as_json:
        print_json({"key": full, "state": "received"})
        return
    out_console().print(f"invocation {full[:16]} will run again", highlight=False)
