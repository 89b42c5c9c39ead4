from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="session")
def demo_data_server() -> Iterator[str]:
    """The example's 'facility data server' on 127.0.0.1:8765 (crates/serve-data.sh)."""
    subprocess.run(
        ["bash", str(ROOT / "crates" / "serve-data.sh"), "start"],
        check=True,
        env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
    )
    yield "http://127.0.0.1:8765"
