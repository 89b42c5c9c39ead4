"""Seeded secrets of every shape never leave: capture -> push (real registry) -> publish
(sandbox and the DataCite-compatible test server) -> resolve -> rerun from the DOI with a
cold cache. Each seeded value is searched for in every file of every crate, every blob of
the registry's storage (compressed layers decompressed), the sandbox DOI database and
landing pages, the DataCite server's records and requests, the caches, and all output.

The analysis is built with ``COPY . /app``, so whatever is in the analysis directory
(its manifest with the input URI, its config) would also end up in an image layer."""

from __future__ import annotations

import gzip
import json
import shutil
import textwrap
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Registry, run_preserve
from tests.doi.conftest import LANDING, PASSWORD, PREFIX, REPO
from tests.doi.datacite_server import DataCiteServer
from tests.helpers import git_commit_all, serve_directory

pytestmark = [pytest.mark.docker, pytest.mark.registry]

# Capture-time secrets.
GH_TOKEN = "ghp_" + "Zq7Xw2Lp9Rt4Yu6Io1Pa3Sd5Fg8Hj0Kl2Mn4B"
AWS_KEY_ID = "AKIA" + "QWERTYUIOP234567"
CONFIG_PASSWORD = "cfg-pw-Vb83nQ1xZ"
CONFIG_JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJyZWFkZXIiLCJpYXQiOjE1MTYyMzkwMjJ9"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
CONFIG_GITLAB = "glpat-" + "Hk2Jd8Ls0Pq4Wr6Ty1Ui"
# Input URI secrets.
URI_PASSWORD = "uri-pw-Gt5Rf2Ed"
URI_API_KEY = "apikey-Mn7Bv4Cx1Z"
URI_SESSION_TOKEN = "FwoGZXIvYXdzEJr-session-Qa9Ws8Ed"
URI_CREDENTIAL = "AKIA" + "ZXCVBNMASDFGHJKL"
URI_SIGNATURE = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
URI_TOKEN = "tok-Lp0Ok9Ij8Uh"
URI_SIG = "sig-Yg7Tf6Rd5Es"
# The reader's own values at rerun.
READER_GH_TOKEN = "ghp_" + "Rr1Ee2Aa3Dd4Ee5Rr6Tt7Oo8Kk9Ee0Nn1Xx2Yy"
READER_AWS_KEY_ID = "AKIA" + "READERKEY7654321"

SEEDED = [
    GH_TOKEN,
    AWS_KEY_ID,
    CONFIG_PASSWORD,
    CONFIG_JWT,
    CONFIG_GITLAB,
    URI_PASSWORD,
    URI_API_KEY,
    URI_SESSION_TOKEN,
    URI_CREDENTIAL,
    URI_SIGNATURE,
    URI_TOKEN,
    URI_SIG,
    READER_GH_TOKEN,
    READER_AWS_KEY_ID,
]

RUN = """
import json, os, sys
config_path, data_path, outdir, flag, token = sys.argv[1:6]
assert flag == "--token" and token == os.environ["GH_TOKEN"], "the token reached the command"
print("token from env:", os.environ["GH_TOKEN"], "and argument:", token)   # careless
print("aws key:", os.environ["AWS_ACCESS_KEY_ID"], file=sys.stderr)
config = json.load(open(config_path))
print("config:", json.dumps(config), file=sys.stderr)
size = len(open(data_path, "rb").read())
open(os.path.join(outdir, "result.txt"), "w").write(f"{size} bytes, mode {config['mode']}\\n")
"""


def _uri(base: str) -> str:
    host = base.removeprefix("http://")
    return (
        f"http://ada:{URI_PASSWORD}@{host}/run7/signal.dat?api_key={URI_API_KEY}"
        f"&X-Amz-Security-Token={URI_SESSION_TOKEN}"
        f"&X-Amz-Credential={URI_CREDENTIAL}%2F20240101%2Fus-east-1%2Fs3%2Faws4_request"
        f"&X-Amz-Date=20240101T000000Z&X-Amz-Signature={URI_SIGNATURE}"
        f"&sig={URI_SIG}&token={URI_TOKEN}&page=1"
    )


def make_analysis(tmp: Path, data_url: str) -> Path:
    analysis = tmp / "leaky"
    analysis.mkdir()
    (analysis / "run.py").write_text(RUN)
    (analysis / "Dockerfile").write_text("FROM preserve-base:bookworm\nCOPY . /app\n")
    config = {
        "mode": "fast",
        "db": {"host": "db.example.org", "password": CONFIG_PASSWORD},
        "services": [{"name": "catalogue", "auth": CONFIG_JWT}, {"notes": CONFIG_GITLAB}],
    }
    (analysis / "config.json").write_text(json.dumps(config))
    (analysis / "preserve.yaml").write_text(
        textwrap.dedent(f"""\
        name: leaky
        title: An analysis that handles credentials carelessly
        license: MIT
        authors: [{{name: Test Author, affiliation: {{name: Example Lab}}}}]
        command: [python3, /app/run.py, "{{config}}", "{{inputs.signal}}", "{{outdir}}",
                  --token, "$GH_TOKEN"]
        config: config.json
        inputs:
          signal: {{uri: "{_uri(data_url)}"}}
        outputs: [result.txt]
        env: [GH_TOKEN, AWS_ACCESS_KEY_ID, MODE=fast]
        """)
    )
    git_commit_all(analysis)
    return analysis


@pytest.fixture
def data_url(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "server"
    (root / "run7").mkdir(parents=True)
    (root / "run7" / "signal.dat").write_bytes(bytes(range(256)) * 64)
    with serve_directory(root) as url:
        yield url


def _env(registry: Registry, datacite: DataCiteServer | None = None) -> dict[str, str]:
    env = {
        "PRESERVE_REGISTRY": f"{registry.host}/sec",
        "GH_TOKEN": GH_TOKEN,
        "AWS_ACCESS_KEY_ID": AWS_KEY_ID,
    }
    if datacite is not None:
        env |= {
            "PRESERVE_DOI_PROVIDER": "datacite",
            "PRESERVE_DATACITE_ENDPOINT": datacite.url,
            "PRESERVE_DATACITE_REPOSITORY_ID": REPO,
            "PRESERVE_DATACITE_PASSWORD": PASSWORD,
            "PRESERVE_DATACITE_PREFIX": PREFIX,
            "PRESERVE_LANDING_URL": LANDING,
            "PRESERVE_DOI_RESOLVER": datacite.url,
        }
    return env


def _decoded(data: bytes) -> bytes:
    """A blob as stored, and decompressed when it is a gzip (or zlib) stream."""
    if data[:2] == b"\x1f\x8b":
        return data + gzip.decompress(data)
    if data[:1] == b"\x78":
        try:
            return data + zlib.decompress(data)
        except zlib.error:
            return data
    return data


def _leaks(where: str, data: bytes) -> list[str]:
    return [f"{where}: {s[:12]}..." for s in SEEDED if s.encode() in data]


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def test_seeded_secrets_never_leave(
    tmp_path: Path,
    base_image: str,
    registry: Registry,
    datacite: DataCiteServer,
    data_url: str,
    isolated_dirs: Path,
) -> None:
    analysis = make_analysis(tmp_path, data_url)
    crate = tmp_path / "crate"
    outputs: list[str] = []

    def run(*args: str, env: dict[str, str], ok: int = 0) -> str:
        proc = run_preserve(*args, env=env)
        outputs.extend([proc.stdout, proc.stderr])
        assert proc.returncode == ok, proc.stderr
        return proc.stdout

    env = _env(registry)
    run("capture", str(analysis), "-o", str(crate), env=env)  # progress lines on stderr
    assert "staging input 'signal' from http://***@127.0.0.1" in outputs[-1]
    assert "api_key=***" in outputs[-1] and "X-Amz-Credential=***" in outputs[-1]
    stdout = (crate / "logs" / "stdout.txt").read_text()
    assert "token from env: <withheld by preserve> and argument: <withheld by preserve>" in stdout
    run("push", str(crate), "--json", env=env)
    crate_dc = tmp_path / "crate-datacite"
    shutil.copytree(crate, crate_dc)

    doi = json.loads(run("publish", str(crate), "--json", env=env))["doi"]
    run("publish", str(crate), env=env)  # again, as text: the same DOI
    env_dc = _env(registry, datacite)
    doi_dc = json.loads(run("publish", str(crate_dc), "--json", env=env_dc))["doi"]
    run("resolve", doi, "--json", env=env)
    run("resolve", doi_dc, "--json", env=env_dc)

    reader = {"GH_TOKEN": READER_GH_TOKEN, "AWS_ACCESS_KEY_ID": READER_AWS_KEY_ID}
    shutil.rmtree(isolated_dirs / "cache")
    passed = ["--env", "GH_TOKEN", "--env", "AWS_ACCESS_KEY_ID"]
    run("rerun", doi, "-o", str(tmp_path / "rerun"), *passed, env={**env, **reader})
    shutil.rmtree(isolated_dirs / "cache")
    report = run(
        "rerun", doi_dc, "-o", str(tmp_path / "rerun-dc"), "--json", *passed, env=env_dc | reader
    )
    assert json.loads(report)["reproduced"] is True
    rerun_log = (tmp_path / "rerun" / "logs" / "stdout.txt").read_text()
    assert "token from env: <withheld by preserve>" in rerun_log

    leaks: list[str] = []
    for root in (crate, crate_dc, tmp_path / "rerun", tmp_path / "rerun-dc", isolated_dirs):
        for path in _files(root):
            leaks += _leaks(str(path), path.read_bytes())
    blobs = _files(registry.storage)
    assert len(blobs) > 10
    for path in blobs:
        leaks += _leaks(
            f"registry {path.relative_to(registry.storage)}", _decoded(path.read_bytes())
        )
    for stored in datacite.dois.values():
        leaks += _leaks(f"DataCite {stored.doi}", json.dumps(stored.attributes).encode())
    for logged in datacite.requests:
        leaks += _leaks(f"DataCite {logged.method} {logged.path}", json.dumps(logged.body).encode())
    for i, text in enumerate(outputs):
        leaks += _leaks(f"output #{i}", text.encode())
    assert leaks == []
    landing = list((isolated_dirs / "data" / "landing").rglob("*.html"))
    assert landing  # the sandbox wrote its page, and it was searched
