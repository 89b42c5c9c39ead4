"""The command-line front end: help, version, error boundary, exit codes."""

from __future__ import annotations

import pytest

from preserve import __version__
from preserve.cli import COMMANDS, cli
from tests.conftest import run_preserve


def test_version(run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("--version")
    assert result.exit_code == 0
    assert __version__ in result.stdout


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(run_cli, command: str) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(command, "--help")
    assert result.exit_code == 0, result.stderr
    assert "Usage:" in result.stdout
    assert cli.get_command(None, command) is not None  # type: ignore[arg-type]


def test_unknown_command_is_usage_error(run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("frobnicate")
    assert result.exit_code == 2
    assert "No such command" in result.stderr


def test_bad_config_is_one_line_error_without_traceback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "config.toml"
    config.write_text("registry = [not toml")
    proc = run_preserve("doctor", env={"PRESERVE_CONFIG": str(config)})
    assert proc.returncode == 1
    assert "error: cannot read config file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_debug_shows_traceback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "config.toml"
    config.write_text("unknown_key = 1\n")
    proc = run_preserve("--debug", "doctor", env={"PRESERVE_CONFIG": str(config)})
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr
    assert "unknown_key" in proc.stderr
