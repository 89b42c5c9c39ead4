"""The ``preserve`` command: parse, call the library, render. Nothing else.

Every expected failure is a :class:`preserve.errors.PreserveError`, caught here
in one place and shown as ``error: ...`` plus a hint, without a traceback
(``--debug`` shows it). Exit codes: 0 success, 1 error, 2 usage error,
3 rerun did not reproduce.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import click
from rich.markup import escape

from preserve import __version__
from preserve.cli._context import AppContext
from preserve.cli._render import err_console
from preserve.errors import EXIT_ERROR, EXIT_USAGE, PreserveError

COMMANDS = {
    "doctor": "preserve.cli.doctor_cmd:doctor",
    "capture": "preserve.cli.capture_cmd:capture",
    "push": "preserve.cli.oci_cmd:push",
    "pull": "preserve.cli.oci_cmd:pull",
    "publish": "preserve.cli.doi_cmd:publish",
    "resolve": "preserve.cli.doi_cmd:resolve",
    "rerun": "preserve.cli.rerun_cmd:rerun",
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
    Set-up check:       preserve doctor
    """
    ctx.obj = AppContext(config_file=config_file, debug=debug)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: the one place errors become messages and exit codes."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        code = cli.main(args=argv, prog_name="preserve", standalone_mode=False)
    except PreserveError as exc:
        if debug:
            traceback.print_exc()
        # Messages are plain text: escape them, or rich would eat "[publisher]" as markup.
        err_console().print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
        if exc.hint:
            err_console().print(f"[yellow]hint:[/] {escape(exc.hint)}", highlight=False)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err_console().print("aborted")
        sys.exit(EXIT_ERROR)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code)
    except KeyboardInterrupt:
        err_console().print("interrupted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
