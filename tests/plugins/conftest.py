"""The third-party plug-in distribution in ``fake_dist/``, installed for real into this venv."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from preserve import plugins

FAKE_DIST = Path(__file__).parent / "fake_dist"
DIST_NAME = "preserve-fake-plugins"


@pytest.fixture(scope="session")
def fake_plugins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``pip install`` of the local folder (no index, no network); uninstalled afterwards."""
    src = tmp_path_factory.mktemp("fake-dist") / "fake_dist"
    shutil.copytree(FAKE_DIST, src)  # a build writes into its source: not into the repository
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run(
        [*pip, "install", "--no-index", "--no-deps", "--no-build-isolation", str(src)],
        check=True,
    )
    importlib.invalidate_caches()
    plugins._group.cache_clear()  # this process reads the new entry points too
    try:
        yield DIST_NAME
    finally:
        subprocess.run([*pip, "uninstall", "--yes", DIST_NAME], check=True)
        plugins._group.cache_clear()
