"""A crate is hostile input: each attack is refused before a container starts, or contained.

Every case runs twice: on the crate directory, and published then rerun from its
DOI with a cold cache, as a reader would. `preserve publish` itself refuses most
of these crates, so they are published the way an attacker would: the crate
stored as an OCI artifact with the store's own upload, and a DOI registered with
the genuine DOI's metadata pointing at it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from preserve.doi.mint import mint
from preserve.doi.providers import open_provider
from preserve.doi.resolve import resolve
from preserve.oci.refs import OciRef
from preserve.oci.stores import open_store
from preserve.progress import QUIET
from preserve.settings import Settings
from tests.conftest import run_preserve
from tests.helpers import crate_files, load_graph, serve_directory
from tests.rerun.hostile import CASES, HOST_FILE, Case, input_entity, make_base, spec

pytestmark = [pytest.mark.docker]


@dataclass(frozen=True)
class Base:
    crate: Path  # genuine and published
    env: dict[str, str]  # shared store and DOI database; each rerun gets its own cache
    doi: str


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Base:
    root = tmp_path_factory.mktemp("hostile")
    (root / "config.toml").write_text("# defaults\n")
    env = {
        "PRESERVE_DATA_DIR": str(root / "data"),
        "PRESERVE_CACHE_DIR": str(root / "cache"),
        "PRESERVE_CONFIG": str(root / "config.toml"),
    }
    proc = run_preserve("capture", str(make_base(root)), "-o", str(root / "crate"), env=env)
    assert proc.returncode == 0, proc.stderr
    proc = run_preserve("publish", str(root / "crate"), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    return Base(root / "crate", env, json.loads(proc.stdout)["doi"])


def _publish_as_attacker(
    base: Base, crate: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Store ``crate`` beside the genuine one and register a DOI that pins it."""
    for key, value in base.env.items():
        monkeypatch.setenv(key, value)
    settings = Settings.load()
    genuine = resolve(base.doi, settings)
    assert genuine.crate_ref is not None and genuine.crate_ref.digest is not None
    store = open_store(settings, genuine.crate_ref)
    evil = store.push_crate(
        crate,
        OciRef.parse(f"local:hostile-base:{name}"),
        subject=genuine.image_ref,
        annotations={},
        progress=QUIET,
    )
    assert evil.digest is not None
    doi = f"10.5072/hostile.{name}"
    text = json.dumps(dict(genuine.attributes)).replace(base.doi, doi)
    text = text.replace(genuine.crate_ref.digest, evil.digest)
    mint(open_provider(settings, "sandbox"), doi, json.loads(text))
    return doi


def _copy(base: Base, tmp_path: Path) -> Path:
    crate = tmp_path / "crate"
    shutil.copytree(base.crate, crate, symlinks=True)
    return crate


def _rerun(base: Base, target: str, tmp_path: Path, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    cold = {"PRESERVE_CACHE_DIR": str(tmp_path / f"cache-{len(list(tmp_path.iterdir()))}")}
    return run_preserve(
        "rerun",
        target,
        "-o",
        str(tmp_path / "rerun"),
        *args,
        env={**base.env, **cold, **(env or {})},
    )


def _assert_refused(proc: subprocess.CompletedProcess[str], case: Case, tmp_path: Path) -> None:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in case.says:
        assert fragment in proc.stderr, proc.stderr
    assert "• running" not in proc.stderr  # refused before a container started
    assert not (tmp_path / "rerun").exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_crate_directory_is_refused(case: Case, base: Base, tmp_path: Path) -> None:
    crate = _copy(base, tmp_path)
    case.mutate(crate)
    proc = _rerun(base, str(crate), tmp_path, env=case.env)
    _assert_refused(proc, case, tmp_path)


@pytest.mark.parametrize("case", [c for c in CASES if c.publishable], ids=lambda c: c.name)
def test_hostile_crate_published_is_refused_from_its_doi(
    case: Case, base: Base, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crate = _copy(base, tmp_path)
    case.mutate(crate)
    doi = _publish_as_attacker(base, crate, case.name, monkeypatch)
    shutil.rmtree(crate)
    proc = _rerun(base, doi, tmp_path, env=case.env)
    _assert_refused(proc, case, tmp_path)


@pytest.mark.parametrize(
    "command",
    [
        f"ln -s {HOST_FILE} /preserve/outputs/result.txt",
        "mkfifo /preserve/outputs/result.txt",
        f"mkdir /preserve/outputs/sub && ln -s {HOST_FILE} /preserve/outputs/sub/x",
    ],
    ids=["symlink", "fifo", "nested-symlink"],
)
def test_outputs_that_are_not_files_are_removed_and_fail_the_rerun(
    command: str, base: Base, tmp_path: Path
) -> None:
    crate = _copy(base, tmp_path)
    spec(crate, lambda s: s.update(command=["sh", "-c", command]))
    proc = _rerun(base, str(crate), tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "not regular files (removed, never recorded)" in proc.stderr
    assert "result.txt (a " in proc.stderr or "sub/x (a symbolic link" in proc.stderr
    rerun = tmp_path / "rerun"  # the failed rerun is recorded, without the entry
    assert all(not p.is_symlink() and (p.is_file() or p.is_dir()) for p in rerun.rglob("*"))
    graph = load_graph(rerun)
    assert "outputs/result.txt" not in graph


def test_unverified_input_needs_the_readers_flag_which_is_recorded(
    base: Base, tmp_path: Path
) -> None:
    served = tmp_path / "server"
    served.mkdir()
    (served / "data.txt").write_text("hello\n")  # what the analysis ran on
    with serve_directory(served) as url:
        crate = _copy(base, tmp_path)
        input_entity(crate, f"{url}/data.txt", remote=True)  # no sha256 recorded
        proc = _rerun(base, str(crate), tmp_path)
        assert proc.returncode == 1 and "has no recorded checksum" in proc.stderr
        proc = _rerun(base, str(crate), tmp_path, "--allow-unverified-input", "data")
    assert proc.returncode == 0, proc.stderr
    graph = load_graph(tmp_path / "rerun")
    assert graph[f"{url}/data.txt"]["description"].startswith("Not verified")
    action = next(e for e in graph.values() if e.get("@type") == "CreateAction")
    assert "The reader allowed inputs without a recorded checksum: data." in action["description"]


def test_withheld_variable_reaches_the_run_only_when_the_reader_passes_it(
    base: Base, tmp_path: Path
) -> None:
    secret = "reader-s3cret-value"
    crate = _copy(base, tmp_path)
    spec(
        crate,
        lambda s: (
            s["env"].append({"name": "HOME_SECRET", "withheld": True}),
            s.update(
                command=[
                    "sh",
                    "-c",
                    'echo "the secret is $HOME_SECRET"; test -n "$HOME_SECRET" && '
                    'test -z "$READER_ONLY" && exec python3 /app/run.py "$@"',
                    "sh",
                    "{inputs.data}",
                    "{config}",
                    "{outdir}",
                ]
            ),
        ),
    )
    reader = {"HOME_SECRET": secret, "READER_ONLY": "never passed"}
    proc = _rerun(base, str(crate), tmp_path, "--env", "HOME_SECRET", env=reader)
    assert proc.returncode == 0, proc.stderr  # reproduced: it saw the secret, nothing else
    rerun = tmp_path / "rerun"
    assert (rerun / "logs" / "stdout.txt").read_text().startswith("the secret is ")
    assert all(secret.encode() not in p.read_bytes() for p in crate_files(rerun))
    env = {e["name"]: e for e in load_graph(rerun).values() if e.get("name") == "HOME_SECRET"}
    assert env["HOME_SECRET"]["value"] == "<withheld by preserve>"
    proc = _rerun(base, str(crate), tmp_path, "--env", "READER_ONLY", env=reader)
    assert proc.returncode == 1 and "does not declare: READER_ONLY" in proc.stderr
