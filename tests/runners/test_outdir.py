"""The outputs folder: the container's user may write it during the run; afterwards what it
wrote is the invoking user's, with normal modes, and links are never followed."""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from preserve.fsmodes import dir_mode, file_mode
from preserve.runners.outdir import reclaim, run_outdir
from tests.conftest import ROOT

OTHER = 1000  # repo2docker's image user
NOBODY = 65534
SYSTEM_PYTHON = "/usr/bin/python3"  # readable by every user, unlike a venv under /root
RECLAIM = (
    "import sys, pathlib\n"
    "from preserve.runners.outdir import reclaim\n"
    "reclaim(pathlib.Path(sys.argv[1]))\n"
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def written_by_container(outdir: Path) -> None:
    """What a run as another user leaves: private files and folders, and a link out."""
    (outdir / "result.csv").write_text("a,b\n1,2\n")
    (outdir / "plots").mkdir()
    (outdir / "plots" / "fig.png").write_bytes(b"\x89PNG")
    (outdir / "run.sh").write_text("#!/bin/sh\n")
    (outdir / "escape").symlink_to("/etc/passwd")
    for path, m in ((outdir / "result.csv", 0o600), (outdir / "plots", 0o700)):
        path.chmod(m)
    (outdir / "run.sh").chmod(0o700)
    (outdir / "plots" / "fig.png").chmod(0o600)
    for path in (*outdir.rglob("*"), outdir / "escape"):
        os.lchown(path, OTHER, OTHER)


@pytest.mark.skipif(os.geteuid() != 0, reason="taking files over needs root; see the test below")
def test_as_root_the_outputs_are_taken_over(tmp_path: Path) -> None:
    passwd_mode = mode(Path("/etc/passwd"))
    final = tmp_path / "outputs"
    with run_outdir(final) as outdir:
        assert mode(outdir) == 0o777 and mode(outdir.parent) == 0o700
        assert outdir.parent.parent == tmp_path  # private, beside the crate being written
        written_by_container(outdir)
    assert not any(p.name.startswith(".run-") for p in tmp_path.iterdir())
    for path in (final, *final.rglob("*")):
        if path.is_symlink():
            assert path.lstat().st_uid == OTHER  # a link is left alone, never followed
            continue
        assert (path.stat().st_uid, path.stat().st_gid) == (0, 0), path
        expected = dir_mode() if path.is_dir() else file_mode(executable=path.name == "run.sh")
        assert mode(path) == expected, path
    assert mode(Path("/etc/passwd")) == passwd_mode
    assert (final / "plots" / "fig.png").read_bytes() == b"\x89PNG"


def readable_copy(lib: Path) -> Path:
    """The modules reclaim needs, where another user can import them: the checkout may sit
    under a folder only root can enter (a clone in /root, or a private mktemp folder)."""
    for module in ("__init__.py", "fsmodes.py", "runners/__init__.py", "runners/outdir.py"):
        target = lib / "preserve" / module
        target.parent.mkdir(parents=True, exist_ok=True)
        source = ROOT / "preserve" / module
        target.write_text("" if module.endswith("__init__.py") else source.read_text())
    for path in (lib, *lib.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return lib


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder another user can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="preserve-outdir-"))
    path.chmod(0o755)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")
def test_without_privileges_files_are_replaced_by_own_copies(shared_tmp: Path) -> None:
    outdir = shared_tmp / "outputs"
    outdir.mkdir()
    os.chown(outdir, NOBODY, NOBODY)
    outdir.chmod(0o777)
    written_by_container(outdir)
    (outdir / "result.csv").chmod(0o644)  # the container's umask made it readable
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-c", RECLAIM, str(outdir)],
        user=NOBODY,
        group=NOBODY,
        env={"PYTHONPATH": str(readable_copy(shared_tmp / "lib"))},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    result = outdir / "result.csv"
    assert (result.stat().st_uid, mode(result)) == (NOBODY, file_mode())
    assert result.read_text() == "a,b\n1,2\n"
    assert mode(outdir) == dir_mode() and outdir.stat().st_uid == NOBODY
    # What nobody else may read or change stays as the container left it.
    assert (outdir / "plots").stat().st_uid == OTHER
    assert (outdir / "run.sh").stat().st_uid == OTHER  # 0700: unreadable, not copied
    assert (outdir / "escape").is_symlink()
    assert not list(outdir.glob(".*reclaim"))


def test_reclaim_of_own_files_only_normalizes_modes(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "a.txt").chmod(0o600)
    (tmp_path / "d").mkdir(mode=0o700)
    reclaim(tmp_path)
    assert mode(tmp_path / "a.txt") == file_mode() and mode(tmp_path / "d") == dir_mode()
