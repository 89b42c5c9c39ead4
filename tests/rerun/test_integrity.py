"""Rerun refuses what does not verify, before anything runs, and caches none of it."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Registry, run_preserve
from tests.helpers import git_commit_all, serve_directory

pytestmark = [pytest.mark.docker, pytest.mark.registry]

SCRIPT = """
import sys, os
data = open(sys.argv[1], "rb").read()
n = data.count(b'x')
open(os.path.join(sys.argv[2], "count.txt"), "w").write(f"{len(data)} bytes, {n} x\\n")
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "server"
    root.mkdir()
    (root / "input.dat").write_bytes(b"x" * 1000 + b"y" * 24)
    with serve_directory(root) as url:
        yield root, f"{url}/input.dat"


def _analysis(tmp_path: Path, uri: str) -> Path:
    analysis = tmp_path / "counter"
    analysis.mkdir()
    (analysis / "count.py").write_text(SCRIPT)
    (analysis / "Dockerfile").write_text(
        "FROM preserve-base:bookworm\nCOPY count.py /app/count.py\n"
    )
    (analysis / "preserve.yaml").write_text(
        textwrap.dedent(f"""\
        name: counter
        title: Counting bytes
        authors: [{{name: Test Author, affiliation: {{name: Test Lab}}}}]
        command: [python3, /app/count.py, "{{inputs.data}}", "{{outdir}}"]
        inputs:
          data: {{uri: "{uri}"}}
        outputs: [count.txt]
        """)
    )
    git_commit_all(analysis)
    return analysis


def _published(tmp_path: Path, uri: str, registry: Registry) -> tuple[str, dict[str, str]]:
    env = {"PRESERVE_REGISTRY": f"{registry.host}/it"}
    analysis = _analysis(tmp_path, uri)
    proc = run_preserve("capture", str(analysis), "-o", str(tmp_path / "crate"), env=env)
    assert proc.returncode == 0, proc.stderr
    proc = run_preserve("publish", str(tmp_path / "crate"), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["doi"], env


def _fresh_cache(isolated_dirs: Path) -> Path:
    import shutil

    cache = isolated_dirs / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    return cache


def test_changed_input_is_refused_before_the_run(
    tmp_path: Path, base_image: str, registry: Registry, served, isolated_dirs
) -> None:  # type: ignore[no-untyped-def]
    root, uri = served
    doi, env = _published(tmp_path, uri, registry)
    cache = _fresh_cache(isolated_dirs)
    (root / "input.dat").write_bytes(b"x" * 1000 + b"z" * 24)  # same size, new content
    proc = run_preserve("rerun", doi, "-o", str(tmp_path / "rerun"), env=env)
    assert proc.returncode == 1
    assert "input 'data'" in proc.stderr and uri in proc.stderr
    assert "expected sha256" in proc.stderr and "got" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "rerun").exists()
    data_cache = cache / "data"
    cached = [p for p in data_cache.rglob("*") if p.is_file()] if data_cache.exists() else []
    assert cached == []


def test_tampered_blob_in_registry_is_refused(
    tmp_path: Path, base_image: str, registry: Registry, served, isolated_dirs
) -> None:  # type: ignore[no-untyped-def]
    _, uri = served
    doi, env = _published(tmp_path, uri, registry)
    cache = _fresh_cache(isolated_dirs)
    # the published count.txt, as stored by the registry
    crate_output = (tmp_path / "crate" / "outputs" / "count.txt").read_bytes()
    import hashlib

    hexd = hashlib.sha256(crate_output).hexdigest()
    blob = registry.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"
    assert blob.is_file()
    blob.write_bytes(crate_output.replace(b"1000 x", b"9999 x"))
    proc = run_preserve("rerun", doi, "-o", str(tmp_path / "rerun"), env=env)
    assert proc.returncode == 1
    assert "outputs/count.txt" in proc.stderr and hexd in proc.stderr
    assert "Traceback" not in proc.stderr
    crates = cache / "crates"
    assert not crates.exists() or not any(p.name.startswith("sha256-") for p in crates.iterdir())
    assert not (tmp_path / "rerun").exists()


def test_second_rerun_downloads_nothing(
    tmp_path: Path, base_image: str, registry: Registry, isolated_dirs
) -> None:  # type: ignore[no-untyped-def]
    import functools
    import http.server
    import threading

    root = tmp_path / "server"
    root.mkdir()
    (root / "input.dat").write_bytes(b"x" * 5000)
    hits: list[str] = []

    class Counting(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            hits.append(self.requestline)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Counting, directory=str(root))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        uri = f"http://127.0.0.1:{server.server_address[1]}/input.dat"
        doi, env = _published(tmp_path, uri, registry)
        _fresh_cache(isolated_dirs)
        proc = run_preserve("rerun", doi, "-o", str(tmp_path / "r1"), env=env)
        assert proc.returncode == 0, proc.stderr
        assert any(h.startswith("GET") for h in hits)
        before = list(hits)
        proc = run_preserve("rerun", doi, "-o", str(tmp_path / "r2"), env=env)
        assert proc.returncode == 0, proc.stderr
        assert hits == before  # the input came from the content-addressed cache
        assert "is cached" in proc.stderr  # and so did the crate
    finally:
        server.shutdown()
        server.server_close()


def test_foreign_crate_without_recipe_says_what_is_missing(tmp_path: Path) -> None:
    crate = tmp_path / "foreign"
    crate.mkdir()
    (crate / "out.txt").write_text("result")
    (crate / "ro-crate-metadata.json").write_text(
        json.dumps(
            {
                "@context": "https://w3id.org/ro/crate/1.1/context",
                "@graph": [
                    {
                        "@id": "ro-crate-metadata.json",
                        "@type": "CreativeWork",
                        "conformsTo": {"@id": "https://w3id.org/ro/crate/1.1"},
                        "about": {"@id": "./"},
                    },
                    {
                        "@id": "./",
                        "@type": "Dataset",
                        "name": "made elsewhere",
                        "datePublished": "2026-01-01",
                        "conformsTo": {"@id": "https://w3id.org/ro/wfrun/process/0.5"},
                        "hasPart": [{"@id": "out.txt"}],
                        "mentions": {"@id": "#run"},
                    },
                    {"@id": "https://w3id.org/ro/wfrun/process/0.5", "@type": "CreativeWork"},
                    {
                        "@id": "https://example.org/tool",
                        "@type": "SoftwareApplication",
                        "name": "tool",
                    },
                    {"@id": "out.txt", "@type": "File"},
                    {
                        "@id": "#run",
                        "@type": "CreateAction",
                        "instrument": {"@id": "https://example.org/tool"},
                        "result": {"@id": "out.txt"},
                    },
                ],
            }
        )
    )
    proc = run_preserve("rerun", str(crate))
    assert proc.returncode == 1
    assert "cannot be rerun" in proc.stderr
    assert "it lacks a container image" in proc.stderr and "preserve's run recipe" in proc.stderr
    assert "Traceback" not in proc.stderr
