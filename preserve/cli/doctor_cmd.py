"""``preserve doctor``."""

from __future__ import annotations

import sys

import click
from rich.markup import escape

from preserve.cli._context import AppContext
from preserve.cli._render import out_console, print_json
from preserve.doctor import healthy, run_checks

MARK = {"ok": "[green]✔[/]", "warn": "[yellow]![/]", "fail": "[red]✘[/]"}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def doctor(app: AppContext, as_json: bool) -> None:
    """Check the Docker Engine, OCI store, DOI provider, disk and dependencies.

    Exits 0 only when every required check passes.
    """
    settings = app.settings()
    checks = run_checks(settings)
    ok = healthy(checks)
    if as_json:
        print_json({"ok": ok, "checks": [c.to_json() for c in checks]})
    else:
        console = out_console()
        for c in checks:
            console.print(f"{MARK[c.status]} {c.name:<13} {escape(c.detail)}", highlight=False)
            if c.hint and c.status != "ok":
                console.print(f"  {'':<13} [yellow]hint:[/] {escape(c.hint)}", highlight=False)
        console.print("all checks passed" if ok else "[red]some checks failed[/]")
    sys.exit(0 if ok else 1)
