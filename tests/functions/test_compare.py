"""`preserve compare` of two invocation crates of one function: the same input
reproduces, another input does not, and the report shows where."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.functions.test_local import invoke
from tests.servers.dcache import DcacheServer

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _download(storage: DcacheServer, folder: str, to: Path) -> Path:
    """The invocation crate the shim wrote to the storage, as a local folder."""
    prefix = f"{folder}/out/"
    for path, entry in storage.files.items():
        if path.startswith(prefix) and entry.data is not None:
            (to / path[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)
            (to / path[len(prefix) :]).write_bytes(entry.data)
    return to


def test_invocations_on_the_same_and_on_other_input(
    upper: str, storage: DcacheServer, run_cli: Any, tmp_path: Path
) -> None:
    crates = []
    for k, text in enumerate((b"beamtime one", b"beamtime one", b"beamtime two")):
        folder = f"/cmp-{tmp_path.name[-8:]}-{k}"
        result = invoke(run_cli, upper, storage, folder, text)
        assert result.exit_code == 0, result.stderr
        crates.append(_download(storage, folder, tmp_path / f"crate{k}"))
    same = run_cli("compare", str(crates[0]), str(crates[1]), "--json")
    assert same.exit_code == 0, same.stderr
    doc = json.loads(same.stdout)
    assert doc["reproduced"] is True and doc["outputs"]
    report = tmp_path / "other.html"
    other = run_cli("compare", str(crates[0]), str(crates[2]), "--report", str(report))
    assert other.exit_code == 3, other.stderr
    page = report.read_text()
    assert "NOT reproduced" in page and '<span class="del">-BEAMTIME ONE' in page
    assert '<span class="add">+BEAMTIME TWO' in page
