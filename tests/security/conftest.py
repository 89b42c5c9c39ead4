"""Fixtures of the security tests: a real captured crate to attack, and the DataCite
test server (shared with tests/doi)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.conftest import run_preserve
from tests.doi.conftest import datacite
from tests.helpers import git_commit_all

__all__ = ["captured_crate", "datacite"]

SECRET_ENV = "FUZZ_TOKEN"


@pytest.fixture(scope="session")
def captured_crate(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Path:
    """A crate captured for real (prebuilt base image): a local file input, a local folder
    input, a config with a withheld value, a withheld and a fixed environment variable."""
    root = tmp_path_factory.mktemp("captured")
    analysis = root / "victim"
    (analysis / "data" / "frames").mkdir(parents=True)
    (analysis / "data" / "mask.txt").write_text("0 1 1 0\n")
    for i in range(3):
        (analysis / "data" / "frames" / f"f{i}.txt").write_text(f"{i} {i * i}\n")
    (analysis / "config.json").write_text(json.dumps({"scale": 2, "api_token": "t0k3n-value"}))
    (analysis / "preserve.yaml").write_text(
        textwrap.dedent(f"""\
        name: victim
        title: A crate to attack
        version: "1.0"
        license: MIT
        authors: [{{name: Test Author, affiliation: {{name: Example Lab}}}}]
        environment: {{builder: image, image: {base_image}}}
        command: [sh, -c, 'cat "$1" "$2"/* > "$3/out.txt" && test -s "$4"', sh,
                  "{{inputs.mask}}", "{{inputs.frames}}", "{{outdir}}", "{{config}}"]
        config: config.json
        inputs:
          mask: {{path: data/mask.txt}}
          frames: {{path: data/frames}}
        outputs: [out.txt]
        env: [{SECRET_ENV}, MODE=fast]
        resources: {{memory: 256m, cpus: 1, timeout: 60}}
        """)
    )
    git_commit_all(analysis)
    crate = root / "crate"
    env = {SECRET_ENV: "fuzz-secret-value", "PRESERVE_DATA_DIR": str(root / "data")}
    env["PRESERVE_CACHE_DIR"] = str(root / "cache")
    proc = run_preserve("capture", str(analysis), "-o", str(crate), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    return crate
