"""With ``--json``, every failure is one JSON document on stdout: error, hint, exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from preserve.cli import COMMANDS
from tests.conftest import run_preserve


def error_document(stdout: str) -> dict[str, object]:
    doc = json.loads(stdout)  # exactly one document, nothing else
    assert isinstance(doc, dict) and set(doc) == {"error", "hint", "exit_code"}
    return doc


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_usage_error_is_json(command: str) -> None:
    proc = run_preserve(command, "--no-such-option", "--json")
    assert proc.returncode == 2
    doc = error_document(proc.stdout)
    assert doc["exit_code"] == 2
    assert "No such option" in str(doc["error"]) and "--no-such-option" in str(doc["error"])
    assert f"preserve {command}" in str(doc["hint"])  # the usage line
    assert "No such option" in proc.stderr  # people still read stderr


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - {"plugins"}))
def test_configuration_error_is_json(command: str, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("registry = [not toml")
    args = {"capture": [str(tmp_path)], "doctor": [], "rerun": [str(tmp_path)]}
    args |= {"push": [str(tmp_path)], "pull": ["local:x"], "publish": [str(tmp_path)]}
    args |= {"resolve": ["10.5072/x"], "deploy": ["10.5072/x"], "functions": []}
    args |= {"invoke": ["x", "--input", "a=b"], "undeploy": ["x"], "logs": ["x"]}
    args |= {"cite": ["10.5072/x"], "serve": []}
    args |= {"attach": ["10.5072/x", "-o", str(tmp_path / "bundle")]}
    (tmp_path / "rules.yaml").write_text("rules: []\n")
    args |= {"watch": [str(tmp_path / "rules.yaml")], "events": []}
    args |= {"compare": [str(tmp_path), str(tmp_path)]}
    proc = run_preserve(command, *args[command], "--json", env={"PRESERVE_CONFIG": str(config)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = error_document(proc.stdout)
    assert str(doc["error"]).startswith("cannot read config file")
    assert doc["exit_code"] == 1
    assert "Traceback" not in proc.stderr


def test_library_error_is_json_with_its_hint() -> None:
    proc = run_preserve("resolve", "10.5072/not-minted-here", "--json")
    assert proc.returncode == 1
    doc = error_document(proc.stdout)
    assert (
        doc["error"]
        == "DOI 10.5072/not-minted-here is not in the local sandbox store of this machine"
    )
    assert "only on the machine that minted them" in str(doc["hint"])


def test_without_json_stdout_stays_empty() -> None:
    proc = run_preserve("resolve", "10.5072/not-minted-here")
    assert proc.returncode == 1 and proc.stdout == ""
    assert "error: DOI 10.5072/not-minted-here" in proc.stderr
