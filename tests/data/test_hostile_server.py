"""A data server is untrusted: whatever it does, staging ends, bounded, naming it."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator

import pytest

from preserve.data import cache_root, stage
from preserve.data.http import HttpResolver
from preserve.data.webdav import WebDavResolver
from preserve.errors import DataError
from preserve.progress import QUIET
from preserve.settings import Settings
from tests.servers.hostile_data import HostileDataServer

DATA = os.urandom(200_000)
SHA = hashlib.sha256(DATA).hexdigest()
SMALL = b"0123456789" * 5  # 50 bytes: a trickle of it lasts 10 s


@pytest.fixture
def hostile() -> Iterator[HostileDataServer]:
    server = HostileDataServer({"/f.bin": DATA, "/small.bin": SMALL})
    yield server
    server.close()


def quick(**network: float) -> Settings:
    """Settings with short network limits, so each attack is over in seconds."""
    values = {"connect_timeout": 2.0, "read_timeout": 1.0, "stage_deadline": 30.0, **network}
    return Settings.load(overrides={"min_free_gib": 0, "network": values})


def leftovers(settings: Settings) -> list[str]:
    root = cache_root(settings)
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_honest_server_stages(hostile: HostileDataServer) -> None:
    settings = quick()
    staged = stage("f", hostile.url("/f.bin"), settings, expected_sha256=SHA)
    assert staged.path.read_bytes() == DATA


def test_a_server_that_never_answers_ends_in_a_read_timeout_naming_it(
    hostile: HostileDataServer,
) -> None:
    hostile.attack = "silent"
    settings = quick(read_timeout=0.5)
    with pytest.raises(DataError) as err:
        stage("frames", hostile.url("/f.bin"), settings, expected_sha256=SHA)
    message = err.value.message
    assert message.startswith(f"cannot reach {hostile.url('/f.bin')}: ReadTimeout")
    assert "tried 2 times" in message  # silent for a whole read timeout twice: given up
    assert len(hostile.requests("HEAD")) == 2 and not hostile.requests("GET")
    assert leftovers(settings) == []


def test_the_stage_deadline_ends_retries_of_a_silent_server(hostile: HostileDataServer) -> None:
    hostile.attack = "silent"
    settings = quick(read_timeout=5.0, stage_deadline=1.5)
    with pytest.raises(DataError) as err:
        stage("frames", hostile.url("/f.bin"), settings, expected_sha256=SHA)
    assert (
        err.value.message
        == f"staging input 'frames' from {hostile.host} did not finish within 1.5 s"
    )
    assert "PRESERVE_NETWORK_STAGE_DEADLINE" in (err.value.hint or "")
    assert len(hostile.requests("HEAD")) == 1  # the read timeout was shortened to the deadline


@pytest.mark.parametrize("attack", ["trickle-body", "trickle-headers"])
def test_a_trickle_that_never_trips_a_read_timeout_is_ended_by_the_deadline(
    hostile: HostileDataServer, attack: str
) -> None:
    hostile.attack = attack
    settings = quick(read_timeout=1.0, stage_deadline=2.0)
    with pytest.raises(DataError) as err:
        stage("small", hostile.url("/small.bin"), settings)
    assert (
        err.value.message == f"staging input 'small' from {hostile.host} did not finish within 2 s"
    )
    assert 0 < hostile.sent < len(SMALL)  # bytes kept coming, slower than any timeout
    assert leftovers(settings) == []  # the partial download was deleted


def test_a_size_claim_beyond_the_disk_is_refused_before_any_download(
    hostile: HostileDataServer,
) -> None:
    hostile.attack = "huge-claim"
    settings = quick()
    for _ in range(2):  # refused each time from the HEAD alone, never downloaded
        with pytest.raises(DataError, match="not enough disk space") as err:
            stage("big", hostile.url("/f.bin"), settings)
        assert str(1 << 62) in err.value.message
    assert hostile.requests("GET") == [] and hostile.sent == 0


def test_a_redirect_body_is_never_read(hostile: HostileDataServer) -> None:
    hostile.attack = "redirect-bomb"
    sink = io.BytesIO()
    HttpResolver().fetch(hostile.url("/f.bin"), sink, progress=QUIET)
    assert sink.getvalue() == DATA
    assert hostile.requests("GET") == ["/f.bin", "/f.bin?bombed"]
    # The 1 GiB redirect body: at most what socket buffers took before the hang-up.
    assert hostile.sent < len(DATA) + (64 << 20)


def test_endless_redirects_are_an_error(hostile: HostileDataServer) -> None:
    hostile.attack = "redirect-loop"
    with pytest.raises(DataError, match="redirected too often"):
        HttpResolver().stat(hostile.url("/f.bin"))


def test_an_oversized_propfind_answer_is_refused_unread(hostile: HostileDataServer) -> None:
    hostile.attack = "huge-propfind"
    with pytest.raises(DataError) as err:
        WebDavResolver().stat(hostile.url("/f.bin", scheme="dav"))
    assert "too large" in err.value.message and str(64 << 20) in err.value.message
    assert hostile.sent < 64 << 20


@pytest.mark.parametrize("attack", ["retry-after-date", "retry-after-huge"])
def test_retry_after_is_honoured_within_the_cap(hostile: HostileDataServer, attack: str) -> None:
    hostile.attack = attack
    settings = quick(max_retry_wait=0.2)  # a server cannot park the client for long
    staged = stage("f", hostile.url("/f.bin"), settings, expected_sha256=SHA)
    assert staged.path.read_bytes() == DATA
    assert hostile.retry_after_sent == 2 and len(hostile.requests("HEAD")) == 3
