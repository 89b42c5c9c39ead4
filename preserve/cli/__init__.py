"""The ``preserve`` command: parse, call :mod:`preserve.api`, render. Nothing else.

Every expected failure is a :class:`preserve.errors.PreserveError`, caught here
in one place and shown as ``error: ...`` plus a hint, without a traceback
(``--debug`` shows it); with ``--json`` also as one JSON document on stdout,
``{"error": ..., "hint": ..., "exit_code": ...}``, usage errors included.
Exit codes: 0 success, 1 error, 2 usage error, 3 rerun did not reproduce.
"""

from __future__ import annotations

import signal
import sys
import traceback
from pathlib import Path
from typing import NoReturn

import click
from rich.markup import escape

from preserve import __version__
from preserve.cli._context import AppContext
from preserve.cli._render import err_console, print_json
from preserve.errors import (
    EXIT_ERROR,
    EXIT_USAGE,
    InvocationFailed,
    NotReproduced,
    PreserveError,
)
from preserve.signals import Terminated, terminate_as_interrupt

COMMANDS = {
    "doctor": "preserve.cli.doctor_cmd:doctor",
    "capture": "preserve.cli.capture_cmd:capture",
    "push": "preserve.cli.oci_cmd:push",
    "pull": "preserve.cli.oci_cmd:pull",
    "publish": "preserve.cli.doi_cmd:publish",
    "resolve": "preserve.cli.doi_cmd:resolve",
    "rerun": "preserve.cli.rerun_cmd:rerun",
    "compare": "preserve.cli.compare_cmd:compare",
    "plugins": "preserve.cli.plugins_cmd:plugins_",
    "deploy": "preserve.cli.functions_cmd:deploy",
    "invoke": "preserve.cli.functions_cmd:invoke",
    "functions": "preserve.cli.functions_cmd:functions_",
    "undeploy": "preserve.cli.functions_cmd:undeploy",
    "logs": "preserve.cli.functions_cmd:logs",
    "cite": "preserve.cli.publication_cmd:cite",
    "attach": "preserve.cli.publication_cmd:attach",
    "serve": "preserve.cli.serve_cmd:serve",
    "watch": "preserve.cli.events_cmd:watch",
    "events": "preserve.cli.events_cmd:events",
}


class LazyGroup(click.Group):
    """Import a command's module only when it runs, to keep start-up fast."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        module = __import__(module_name, fromlist=[attr])
        command: click.Command = getattr(module, attr)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="preserve")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Config file (TOML). Default: $PRESERVE_CONFIG, else ~/.config/preserve/config.toml.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None, debug: bool) -> None:
    """Preserve, publish and rerun photon/neutron-science analyses.

    \b
    After an analysis:  preserve capture DIR -> push -> publish (DOI)
    From a paper:       preserve rerun DOI
    Any two runs:       preserve compare A B
    On new data:        preserve deploy DOI --to local -> invoke NAME --input X=URI
    As data arrives:    preserve watch RULES.yaml; preserve events
    Set-up check:       preserve doctor
    """
    ctx.obj = AppContext(config_file=config_file, debug=debug)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: the one place errors become messages and exit codes."""
    args = argv if argv is not None else sys.argv[1:]
    debug, as_json = "--debug" in args, "--json" in args
    try:
        with terminate_as_interrupt():
            code = cli.main(args=argv, prog_name="preserve", standalone_mode=False)
    except PreserveError as exc:
        if debug:
            traceback.print_exc()
        # rerun --json has printed its report, invoke --json its result: each says why.
        reported = isinstance(exc, NotReproduced | InvocationFailed)
        _fail(exc.message, exc.hint, exc.exit_code, as_json and not reported)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):  # click turns it into Abort
            _interrupted(exc.__context__, as_json)
        _fail("aborted", None, EXIT_ERROR, as_json)
    except click.ClickException as exc:
        code = EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code
        if as_json:
            hint = exc.ctx.get_usage() if isinstance(exc, click.UsageError) and exc.ctx else None
            print_json({"error": exc.format_message(), "hint": hint, "exit_code": code})
        exc.show()
        sys.exit(code)
    except KeyboardInterrupt as exc:
        _interrupted(exc, as_json)
    sys.exit(code if isinstance(code, int) else 0)


def _interrupted(exc: KeyboardInterrupt, as_json: bool) -> NoReturn:
    """Ctrl-C or SIGTERM: the cleanup ran on the way out; exit as the signal says."""
    signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT
    _fail(f"stopped by {signal.Signals(signum).name}", None, 128 + signum, as_json)


def _fail(message: str, hint: str | None, code: int, as_json: bool) -> NoReturn:
    """Show an error (stderr; with --json also on stdout, as JSON) and exit with ``code``."""
    if as_json:
        print_json({"error": message, "hint": hint, "exit_code": code})
    # Messages are plain text: escape them, or rich would eat "[publisher]" as markup.
    err_console().print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    if hint:
        err_console().print(f"[yellow]hint:[/] {escape(hint)}", highlight=False)
    sys.exit(code)
