"""Test helpers shared across areas: analyses in git, data servers, crate validation."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

# Headless Chromium as the browser tests drive it: no network of its own, no sync,
# no updates (with an empty --user-data-dir per test).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VALIDATOR = ROOT.parent / "shared" / "tools" / "validate-crate"
EXAMPLE = ROOT / "crates" / "azimuthal-integration"
FACILITY_DATA = ROOT / "crates" / "facility-data"


def git_commit_all(directory: Path, message: str = "analysis") -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Ada",
        "GIT_AUTHOR_EMAIL": "ada@example.org",
        "GIT_COMMITTER_NAME": "Ada",
        "GIT_COMMITTER_EMAIL": "ada@example.org",
    }
    if not (directory / ".git").exists():
        subprocess.run(["git", "init", "-q", str(directory)], check=True)
    subprocess.run(["git", "-C", str(directory), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(directory), "commit", "-q", "-m", message], check=True, env=env
    )
    return subprocess.run(
        ["git", "-C", str(directory), "rev-parse", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def git_head(directory: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(directory), "rev-parse", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def copy_analysis(src: Path, dst: Path, *, commit: bool = True) -> Path:
    shutil.copytree(src, dst)
    if commit:
        git_commit_all(dst)
    return dst


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_directory(directory: Path, port: int = 0) -> Iterator[str]:
    """A plain HTTP file server on 127.0.0.1; yields its base URL."""
    handler = functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def validate_crate(
    crate: Path, tmp: Path, level: str = "recommended", *, online: bool = False
) -> tuple[int, list[dict[str, Any]]]:
    """Run the community validator (wrapper in ../shared); (exit code, issues).

    Offline by default; ``online`` lets it send its HEAD requests to web data
    entities (loopback test servers), so that their availability is checked too."""
    report = tmp / f"report-{crate.name}.json"
    # The wrapper runs `rocrate-validator`, installed beside this interpreter.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    proc = subprocess.run(
        [
            sys.executable,
            str(VALIDATOR),
            str(crate),
            "--profile",
            "process-run-crate-0.5",
            "--level",
            level,
            "--json",
            str(report),
            *(["--online"] if online else []),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
    )
    assert report.is_file(), proc.stdout + proc.stderr
    issues = json.loads(report.read_text()).get("issues", [])
    return proc.returncode, issues


def offline_unverifiable(issue: dict[str, Any]) -> bool:
    """The availability of a web data entity, which the offline validator cannot check:
    it answers HEAD requests only from its cache, and caches only GET responses."""
    return "resource availability" in str(issue.get("check", "")) or (
        "Web-based Data Entity" in issue.get("message", "")
        and "is not available" in issue.get("message", "")
    )


def crate_files(crate: Path) -> list[Path]:
    return [p for p in crate.rglob("*") if p.is_file()]


def load_graph(crate: Path) -> dict[str, dict[str, Any]]:
    doc = json.loads((crate / "ro-crate-metadata.json").read_text())
    return {e["@id"]: e for e in doc["@graph"]}


@contextmanager
def small_filesystem(path: Path, size: str = "256k") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (the tests run as root), to fill up."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)
