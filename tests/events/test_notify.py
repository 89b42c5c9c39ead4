"""sd_notify(3) as the watcher speaks it: a datagram to ``$NOTIFY_SOCKET``, or nothing."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from preserve.events.notify import notify


@pytest.fixture
def manager() -> Iterator[tuple[socket.socket, str]]:
    """A service manager's notification socket (a short path: unix sockets allow 108 bytes)."""
    with tempfile.TemporaryDirectory(prefix="sd-") as folder:
        path = str(Path(folder) / "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.settimeout(5)
        sock.bind(path)
        yield sock, path
        sock.close()


def test_ready_and_status_reach_the_socket(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    assert notify({"READY": "1", "STATUS": "watching\nthings"}, {"NOTIFY_SOCKET": path})
    assert sock.recv(4096) == b"READY=1\nSTATUS=watching things"


def test_the_abstract_namespace_form() -> None:
    name = f"preserve-notify-{os.urandom(6).hex()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.bind("\0" + name)
        assert notify({"STOPPING": "1"}, {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(4096) == b"STOPPING=1"


@pytest.mark.parametrize("value", [None, "", "relative/path", "vsock:2:1234"])
def test_nothing_is_sent_without_a_socket_it_can_use(value: str | None) -> None:
    environ = {} if value is None else {"NOTIFY_SOCKET": value}
    assert notify({"READY": "1"}, environ) is False


def test_a_manager_that_went_away_is_only_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gone = str(tmp_path / "gone")
    assert notify({"READY": "1"}, {"NOTIFY_SOCKET": gone}) is False
    assert "could not tell the service manager READY" in caplog.text
