"""Hostile documents end in a one-line error, never a traceback, in bounded memory:
a YAML alias bomb, non-UTF-8 and oversized YAML, a crate metadata file that is a JSON
list (and rerun never parses a crate's copy of the manifest at all). A capture whose
manifest writes a credential where it would be published is refused, saying where to
put it instead."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from preserve.manifest import check_secrets, parse_manifest
from tests.conftest import ROOT
from tests.security.conftest import SECRET_ENV
from tests.security.test_fuzz_crate import HOSTILE_YAML

BOMB = HOSTILE_YAML[0]  # 391 bytes; 9**9 nodes once its aliases are expanded
# What the command may use at most: the interpreter with preserve imported is ~80 MB.
MAX_RSS_MB = 200

# Runs the command in-process and reports its own peak memory: VmHWM of this process
# image (ru_maxrss would include the forking test process's size; children not counted).
MEASURED = """
import re, sys
from preserve.cli import main
try:
    main(sys.argv[1:])
finally:
    status = open("/proc/self/status").read()
    peak = int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) // 1024
    sys.stderr.write(f"\\npeak-rss-mb={peak}\\n")
"""


def preserve_measured(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str, int]:
    proc = subprocess.run(
        [sys.executable, "-c", MEASURED, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    err, _, peak = proc.stderr.rpartition("peak-rss-mb=")
    return proc.returncode, proc.stdout, err.strip(), int(peak)


def one_line_error(stderr: str, expected: str) -> None:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: ") and expected in lines[0], stderr
    assert all(line.startswith(("error: ", "hint: ")) for line in lines), stderr


MANIFEST = """\
name: hostile
title: t
license: MIT
command: [python3, run.py, "{outdir}"]
outputs: [out.txt]
"""


def analysis_with(tmp_path: Path, manifest: bytes) -> Path:
    analysis = tmp_path / "analysis"
    analysis.mkdir()
    (analysis / "preserve.yaml").write_bytes(manifest)
    return analysis


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (BOMB, "refused: its aliases expand to more than 100000 nodes"),
        (MANIFEST.encode() + b"description: caf\xe9\n", "not UTF-8 text (byte 0xe9 at offset"),
        (b"[" * 5000, "not valid YAML"),
        (b"- &a [*a]\n", "refused: an alias refers to a node that contains it"),
        (MANIFEST.encode() + b"# padding\n" * 120_000, "is larger than 1 MiB; refusing to read it"),
        (MANIFEST.encode() + b"version: 2024-02-30\n", "a value cannot be read"),
    ],
)
def test_hostile_manifest_is_a_one_line_error(
    tmp_path: Path, manifest: bytes, expected: str
) -> None:
    analysis = analysis_with(tmp_path, manifest)
    code, _, stderr, peak = preserve_measured("capture", str(analysis), "-o", str(tmp_path / "c"))
    assert code == 1
    one_line_error(stderr, expected)
    assert peak < MAX_RSS_MB
    assert not (tmp_path / "c").exists()


@pytest.mark.docker
def test_rerun_never_parses_the_crates_copy_of_the_manifest(
    tmp_path: Path, captured_crate: Path
) -> None:
    """A crate's facts come from its JSON-LD: an alias bomb in its preserve.yaml is inert."""
    crate = tmp_path / "crate"
    shutil.copytree(captured_crate, crate)
    (crate / "analysis" / "preserve.yaml").write_bytes(BOMB)
    env = {**os.environ, SECRET_ENV: "reader-value"}
    code, _, stderr, peak = preserve_measured(
        "rerun", str(crate), "-o", str(tmp_path / "r"), "--env", SECRET_ENV, env=env
    )
    assert code == 0, stderr
    assert peak < MAX_RSS_MB


@pytest.mark.docker
@pytest.mark.parametrize("command", ["rerun", "push"])
def test_crate_metadata_that_is_a_json_list(
    tmp_path: Path, captured_crate: Path, command: str
) -> None:
    crate = tmp_path / "crate"
    shutil.copytree(captured_crate, crate)
    (crate / "ro-crate-metadata.json").write_text(json.dumps([{"@id": "./"}]))
    code, _, stderr, _ = preserve_measured(command, str(crate))
    assert code == 1
    one_line_error(stderr, "ro-crate-metadata.json is a JSON list, not an object")


GH = "ghp_" + "Hq2Wd7Lk9Xc4Vb6Nm1Zs3Aa5Ty8Ui0Op2Re4T"


@pytest.mark.parametrize(
    ("line", "expected", "hint"),
    [
        (
            f'command: [python3, run.py, --token, "{GH}", "{{outdir}}"]',
            "at command.3: the command line contains a credential (a GitHub token)",
            "use `$GITHUB_TOKEN` in the command and `env: [GITHUB_TOKEN]`",
        ),
        (
            'command: [python3, run.py, "--password=hunter2-Xy", "{outdir}"]',
            "at command.2: the command line contains a credential (the value of --password)",
            "use `$PASSWORD` in the command and `env: [PASSWORD]`",
        ),
        (
            'command: [sh, -c, "fetch --api-key k-81x7Qm {outdir}"]',
            "at command.2: the command line contains a credential (the value of --api-key)",
            "use `$API_KEY` in the command and `env: [API_KEY]`",
        ),
        (
            "env: [API_TOKEN=tok-81x7Qm2]",
            "at env: API_TOKEN is given a value that looks like a credential",
            "write `env: [API_TOKEN]` and set API_TOKEN when you run capture",
        ),
        (
            "url: https://ada:pw-81x7Qm@gitlab.example.org/ada/analysis",
            "at url: the value contains a credential",
            "credentials reach a run only through `env:`",
        ),
    ],
)
def test_a_credential_written_into_the_manifest_is_refused(
    tmp_path: Path, line: str, expected: str, hint: str
) -> None:
    base = (
        MANIFEST
        if not line.startswith("command:")
        else MANIFEST.replace('command: [python3, run.py, "{outdir}"]\n', "")
    )
    analysis = analysis_with(tmp_path, (base + line + "\n").encode())
    for extra in ([], ["--json"]):
        proc = subprocess.run(
            [sys.executable, "-m", "preserve", "capture", str(analysis), *extra],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        text = proc.stdout + proc.stderr
        assert expected in text and hint in text
        for secret in (GH, "hunter2-Xy", "k-81x7Qm", "tok-81x7Qm2", "pw-81x7Qm"):
            assert secret not in text
    assert not (tmp_path / "hostile-crate").exists()


def test_env_reference_in_the_command_is_accepted() -> None:
    """``$NAME`` with ``env: [NAME]``, the way the refusal points to, passes the check
    (tests/security/test_secrets_flow.py runs it: the value reaches the command)."""
    manifest = MANIFEST.replace(
        'command: [python3, run.py, "{outdir}"]',
        'command: [python3, run.py, --token, "$GH_TOKEN", "{outdir}"]\nenv: [GH_TOKEN]',
    )
    check_secrets(parse_manifest(manifest), "preserve.yaml")
