"""The shim, run in-process on this machine: a function spec around a small Python
script, its folders under ``tmp_path``, and a dCache test server for its data."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from preserve.shim.http import Client
from preserve.shim.invoke import Context
from tests.servers.conftest import serving
from tests.servers.dcache import DcacheServer

# Reads its input and a mode from it: writes outputs, crashes, sleeps or writes nothing.
SCRIPT = textwrap.dedent(
    """\
    import json, os, sys, time
    data = open(sys.argv[1]).read()
    config = json.load(open(sys.argv[2]))
    out = sys.argv[3]
    if data.startswith("crash"):
        print("bad calibration", file=sys.stderr); sys.exit(7)
    if data.startswith("sleep"):
        time.sleep(float(data.split()[1]))
    if data.startswith("nothing"):
        sys.exit(0)
    print("secret is", os.environ.get("API_TOKEN", "unset"))
    open(os.path.join(out, "upper.txt"), "w").write(data.upper() * config["repeat"])
    json.dump({"chars": len(data)}, open(os.path.join(out, "count.json"), "w"))
    """
)


def make_spec(root: Path, files: Path) -> dict[str, Any]:
    """A function as deploy would define it, with mounts under ``root``."""
    (files / "analysis").mkdir(parents=True)
    (files / "analysis" / "run.py").write_text(SCRIPT)
    (files / "analysis" / "config.json").write_text('{"repeat": 2, "unit": "m"}\n')
    from preserve.shim.storage import hash_file

    def bundled(rel: str) -> dict[str, Any]:
        path = files / rel
        return {
            "bundled": rel,
            "sha256": hash_file(str(path), ("sha256",))["sha256"],
            "size": path.stat().st_size,
        }

    return {
        "format": 1,
        "name": "upper",
        "function": "10.5072/preserve.test",
        "doi": "10.5072/preserve.test",
        "based_on": "https://doi.org/10.5072/preserve.test",
        "published": {
            "title": "Upper",
            "name": "upper",
            "version": "1.0",
            "license": {"@id": "https://spdx.org/licenses/MIT"},
        },
        "instrument_id": "#analysis-code",
        "image_entity_id": "#container-image",
        "image": {"id": "sha256:" + "1" * 64, "reference": None, "digest": None},
        "entities": [
            {"@id": "#analysis-code", "@type": "SoftwareSourceCode", "name": "upper"},
            {
                "@id": "#container-image",
                "@type": "ContainerImage",
                "name": "upper",
                "registry": "local",
                "identifier": "sha256:" + "1" * 64,
            },
            {"@id": "https://spdx.org/licenses/MIT", "@type": "CreativeWork", "name": "MIT"},
        ],
        "agent_id": None,
        "command": [sys.executable, f"{root}/code/run.py", "{inputs.text}", "{config}", "{outdir}"],
        "workdir": None,
        "outputs": ["upper.txt", "count.json"],
        "env": [{"name": "API_TOKEN", "withheld": True}, {"name": "MODE", "value": "fast"}],
        "network": False,
        "resources": {"memory": None, "cpus": None, "timeout": None},
        "tolerance": {"rtol": None, "atol": None},
        "inputs": {
            "text": {
                "mount": f"{root}/inputs/text/text.txt",
                "remote": True,
                "uri": "http://127.0.0.1:9/none.txt",
                "sha256": None,
                "size": None,
                "media_type": "text/plain",
                "description": None,
            },
        },
        "config": {
            **bundled("analysis/config.json"),
            "mount": f"{root}/config/config.json",
            "media_type": "application/json",
            "withheld_keys": [],
        },
        "events": {"input": None, "base": None, "output_to": None},
        "image_env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"],
        "image_workdir": None,
    }


@pytest.fixture
def dcache() -> Iterator[DcacheServer]:
    with serving(DcacheServer()) as server:
        yield server


@pytest.fixture
def shim(tmp_path: Path) -> Context:
    """A context whose root and carried files are under ``tmp_path``."""
    root, files = tmp_path / "root", tmp_path / "function"
    root.mkdir()
    spec = make_spec(root, files)
    (root / "code").mkdir()
    (root / "code" / "run.py").write_text(SCRIPT)
    lines: list[str] = []
    ctx = Context(
        spec=spec,
        files=str(files),
        root=str(root),
        client=Client(retries=1, timeout=20),
        environ={"API_TOKEN": "tok-ABCDEFGH123456"},
        target="test",
        function_image={"id": "sha256:" + "2" * 64},
        log=lines.append,
    )
    ctx.lines = lines  # type: ignore[attr-defined]
    return ctx
