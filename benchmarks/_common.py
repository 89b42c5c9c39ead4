"""Shared set-up for benchmarks: isolated preserve directories, timing, child RSS."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def isolated_env(base: Path) -> dict[str, str]:
    """Environment with preserve's data, cache and config under ``base``."""
    (base / "config.toml").write_text("")
    env = dict(os.environ)
    env.update(
        PRESERVE_DATA_DIR=str(base / "data"),
        PRESERVE_CACHE_DIR=str(base / "cache"),
        PRESERVE_CONFIG=str(base / "config.toml"),
    )
    for key in ("PRESERVE_REGISTRY", "PRESERVE_DOI_PROVIDER"):
        env.pop(key, None)
    return env


def workdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("BENCH_TMP", "/var/tmp")))


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median(values: list[float]) -> float:
    return statistics.median(values)


def preserve(
    *args: str, env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "preserve", *args],
        env=env,
        text=True,
        capture_output=True,
        check=check,
    )


def child_peak_rss_mib() -> float:
    """Peak RSS of the largest child process waited for so far (Linux: KiB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def deployed_function(
    base: Path, env: dict[str, str], name: str, script: str, data_uri: str, outputs: list[str]
) -> str:
    """A one-input analysis (``python3 /app/run.py DATA OUTDIR`` on the offline base image)
    captured, pushed, published and deployed on the local target as ``bench-NAME``; its DOI."""
    import json

    sys.path.insert(0, str(ROOT))
    from tests.rerun.analyses import make

    inputs = f'inputs:\n  data: {{uri: "{data_uri}"}}\n'
    analysis = make(base, name, script, outputs, inputs=inputs, args='"{inputs.data}", "{outdir}"')
    preserve("capture", str(analysis), "-o", str(base / "crate"), env=env)
    preserve("push", str(base / "crate"), env=env)
    doi: str = json.loads(preserve("publish", str(base / "crate"), "--json", env=env).stdout)["doi"]
    preserve("deploy", doi, "--to", "local", "--name", f"bench-{name}", env=env)
    return doi
