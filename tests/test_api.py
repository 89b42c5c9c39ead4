"""The public API: what ``preserve.api.__all__`` promises, and the README's example, run."""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path

import pytest

from preserve import api
from tests.conftest import ROOT
from tests.helpers import EXAMPLE, copy_analysis
from tests.rerun.conftest import demo_data_server  # noqa: F401 (the example's data server)

OPERATIONS = ("capture", "push", "pull", "publish", "resolve", "rerun")
RESULTS = ("CaptureResult", "PushResult", "PulledCrate", "PublishResult", "ResolvedDoi")


def test_all_names_the_operations_and_their_results() -> None:
    assert set(OPERATIONS) | set(RESULTS) | {"RerunResult", "Settings", "PreserveError"} <= set(
        api.__all__
    )
    for name in api.__all__:
        assert getattr(api, name).__doc__, f"api.{name} has no docstring"
    for name in OPERATIONS:
        params = inspect.signature(getattr(api, name)).parameters
        assert params["settings"].default is None, "settings are optional"
        keyword_only = [p for p in params.values() if p.kind is p.KEYWORD_ONLY]
        assert "settings" in {p.name for p in keyword_only}


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- api-example:[^>]*-->\n```python\n(.*?)```", text, re.S)
    assert block, "README.md has no API example block"
    return block.group(1)


@pytest.mark.docker
@pytest.mark.usefixtures("base_image", "demo_data_server")
def test_readme_example_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy_analysis(EXAMPLE, tmp_path / "crates" / "azimuthal-integration")
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        exec(compile(readme_example(), "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "True"  # the DOI pins the crate that was pushed
    assert printed[1].startswith("True [('profile.csv', ")
    assert (tmp_path / "rerun" / "ro-crate-metadata.json").is_file()
