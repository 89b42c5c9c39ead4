"""What a container leaves in the output folder: regular files only."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from preserve.runners.outputs import path_problem, remove_unsafe


def test_links_fifos_and_sockets_are_removed_and_named(tmp_path: Path) -> None:
    (tmp_path / "ok.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    os.symlink("/etc/hostname", tmp_path / "sub" / "host")
    os.symlink("/etc", tmp_path / "etc")
    os.mkfifo(tmp_path / "pipe")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        found = remove_unsafe(tmp_path)
    assert found == [
        "etc (a symbolic link to /etc)",
        "pipe (a FIFO)",
        "sock (a socket)",
        "sub/host (a symbolic link to /etc/hostname)",
    ]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["ok.txt", "sub"]
    assert Path("/etc/hostname").exists()  # removing a link never touches its target


@pytest.mark.parametrize("rel", ["", "/x", "../x", "a/../b", "./x", "a/", "a\\b"])
def test_declared_paths_must_stay_in_the_folder(rel: str) -> None:
    assert path_problem(rel) is not None
    assert path_problem("plots/fit.png") is None
