"""Concurrent reruns and captures share one cold cache safely.

Eight reruns of one DOI start together on an empty cache (and with the image
gone from the Docker Engine), five rounds: the crate, the image and the remote
input are each fetched once under a lock, the others wait and find them cached;
every rerun reproduces.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_preserve
from tests.helpers import git_commit_all, serve_directory

pytestmark = [pytest.mark.docker, pytest.mark.slow]

READERS = 8
ROUNDS = 5

SCRIPT = """
import hashlib, sys, os
data = open(sys.argv[1], "rb").read()
open(os.path.join(sys.argv[2], "digest.txt"), "w").write(hashlib.sha256(data).hexdigest() + "\\n")
"""


@pytest.fixture(scope="module")
def data_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("served")
    (root / "frames.bin").write_bytes(os.urandom(3 << 20))
    with serve_directory(root) as url:
        yield f"{url}/frames.bin"


def _analysis(root: Path, uri: str) -> Path:
    analysis = root / "concurrent"
    analysis.mkdir()
    (analysis / "run.py").write_text(SCRIPT)
    (analysis / "Dockerfile").write_text("FROM preserve-base:bookworm\nCOPY run.py /app/run.py\n")
    (analysis / "preserve.yaml").write_text(
        textwrap.dedent(f"""\
        name: concurrent-sandbox
        title: Concurrent reruns
        license: MIT
        authors: [{{name: Test Author, affiliation: {{name: Test Lab}}}}]
        command: [python3, /app/run.py, "{{inputs.frames}}", "{{outdir}}"]
        inputs:
          frames: {{uri: "{uri}"}}
        outputs: [digest.txt]
        """)
    )
    git_commit_all(analysis)
    return analysis


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "preserve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def test_eight_concurrent_reruns_of_one_doi_on_a_cold_cache(
    tmp_path: Path, base_image: str, data_url: str, isolated_dirs: Path
) -> None:
    analysis = _analysis(tmp_path, data_url)
    proc = run_preserve("capture", str(analysis), "-o", str(tmp_path / "crate"), "--json")
    assert proc.returncode == 0, proc.stderr
    image_id = json.loads(proc.stdout)["image"]["id"]
    proc = run_preserve("publish", str(tmp_path / "crate"), "--json")
    assert proc.returncode == 0, proc.stderr
    doi = json.loads(proc.stdout)["doi"]

    for round_ in range(ROUNDS):
        subprocess.run(["docker", "image", "rm", "-f", image_id], capture_output=True)
        cache = tmp_path / f"cache-{round_}"  # cold, shared by the readers of this round
        readers = [
            _start(
                ["rerun", doi, "-o", str(tmp_path / f"r{round_}-{i}"), "--json"],
                {"PRESERVE_CACHE_DIR": str(cache)},
            )
            for i in range(READERS)
        ]
        results = [(p.wait(timeout=600), *p.communicate()) for p in readers]
        for code, out, err in results:
            assert code == 0, f"round {round_}: {err}"
            report = json.loads(out)
            assert report["reproduced"] is True
            assert [o["verdict"] for o in report["outputs"]] == ["identical"]
        # one entry each, no leftovers of the losers
        assert len(list((cache / "crates").iterdir())) == 1
        assert [p.name for p in (cache / "data" / "sha256").iterdir()] == [
            (tmp_path / "crate" / "outputs" / "digest.txt").read_text().strip()
        ]


def test_concurrent_captures_share_one_cache(
    tmp_path: Path, base_image: str, data_url: str, isolated_dirs: Path
) -> None:
    analysis = _analysis(tmp_path, data_url)
    captures = [
        _start(["capture", str(analysis), "-o", str(tmp_path / f"crate-{i}"), "--json"], {})
        for i in range(4)
    ]
    results = [(p.wait(timeout=600), *p.communicate()) for p in captures]
    for code, out, err in results:
        assert code == 0, err
        assert json.loads(out)["status"] == "completed"
    digests = {(tmp_path / f"crate-{i}" / "outputs" / "digest.txt").read_text() for i in range(4)}
    assert len(digests) == 1
    # built once (the others waited and reused it), its inventory recorded once
    assert len({json.loads(out)["image"]["id"] for _, out, _ in results}) == 1
    inventories = list((isolated_dirs / "cache" / "inventory").iterdir())
    assert len(inventories) == 1 and json.loads(inventories[0].read_text())["dpkg"]
