"""The dCache source alone, against the dCache test server, with a sink that records what it
is offered (no watcher, no function): the gaps the judged scenario does not force. An
``IN_Q_OVERFLOW`` is closed by listing the watched directories; a dCache restart
(``SHUTDOWN``, then every channel gone) makes a new channel, its ids start again, and a
listing finds what was written while the watcher was away; a broken stream is resumed
from the last id (said in the log at INFO). The token never reaches a log."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from preserve.events.model import LISTING, Event
from preserve.events.rules import parse
from preserve.events.sources.base import open_source
from preserve.settings import Settings
from tests.events.fixtures import TOKEN
from tests.servers.dcache import DcacheServer


class Recorder:
    """A sink that keeps every event and stored value (the journal's part, in memory)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.values: dict[str, str] = {}
        self.lock = threading.Lock()

    def offer(
        self,
        events: Sequence[Event],
        cursor: tuple[str, str] | None = None,
        limit: int | None = None,
    ) -> bool:
        with self.lock:
            self.events += events
            if cursor is not None:
                self.values[cursor[0]] = cursor[1]
        return True

    def cursor(self, name: str) -> str | None:
        with self.lock:
            return self.values.get(name)

    def remember(self, name: str, value: str) -> None:
        with self.lock:
            self.values[name] = value

    def seen(self, name: str, kind: str) -> bool:
        with self.lock:
            return any(e.path.endswith("/" + name) and e.type == kind for e in self.events)


def until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def watching(dcache: DcacheServer, pnfsid: str) -> bool:
    hub = dcache.events
    with hub.lock:
        subscriptions = [s for c in hub.channels.values() for s in c.subscriptions.values()]
    return any(s.pnfsid == pnfsid for s in subscriptions)


@pytest.fixture
def dcache() -> Iterator[DcacheServer]:
    server = DcacheServer(token=TOKEN)
    yield server
    server.close()
    assert not server.errors, server.errors[0]


def test_overflow_and_restart_are_closed_by_listing_on_a_new_channel(
    dcache: DcacheServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = f"/src-{uuid.uuid4().hex[:8]}"
    dcache.mkdir(f"{folder}/raw", events=False)
    address = f"dcache+{dcache.api}"
    rules = parse(
        {
            "rules": [
                {
                    "name": "r",
                    "on": {"source": address, "path": f"{folder}/raw/*.txt"},
                    "run": {"function": "f", "outputs": f"file://{tmp_path}/out/{{stem}}/"},
                }
            ]
        }
    ).rules
    env = {
        "PRESERVE_SOURCES_DCACHE_TOKEN": TOKEN,
        "PRESERVE_SOURCES_DCACHE_CLIENT_ID": folder,
        "PRESERVE_SOURCES_DCACHE_RECONNECT_MAX": "1",
        "PRESERVE_SOURCES_DCACHE_DOOR": f"http://127.0.0.1:{dcache.door.port}",
    }
    settings = Settings.load(env=env, overrides={"data_dir": tmp_path / "data"})
    source, sink, stop = open_source(address, settings), Recorder(), threading.Event()
    caplog.set_level(logging.DEBUG)
    thread = threading.Thread(target=source.run, args=(rules, sink, stop), daemon=True)
    thread.start()
    try:
        channel = f"{address}#channel"
        until(lambda: sink.cursor(channel) is not None, "a channel")
        first = sink.cursor(channel)
        raw = dcache.entries[f"{folder}/raw"].pnfsid
        until(lambda: watching(dcache, raw), "a watch on raw/")
        dcache.put(f"{folder}/raw/a.txt", b"a", events=True)
        until(lambda: sink.seen("a.txt", "IN_CLOSE_WRITE"), "a.txt's close")
        until(lambda: sink.cursor(address) not in (None, ""), "the stream's position")

        dcache.put(f"{folder}/raw/b.txt", b"b", events=False)  # its events were lost
        dcache.events.overflow()
        until(lambda: sink.seen("b.txt", LISTING), "b.txt listed after IN_Q_OVERFLOW")

        dcache.put(f"{folder}/raw/c.txt", b"c", events=False)  # written while dCache restarts
        dcache.restart()
        until(lambda: sink.seen("c.txt", LISTING), "c.txt listed on the new channel")
        assert sink.cursor(channel) not in (None, first)  # the old channel is gone
        until(lambda: watching(dcache, raw), "a watch on raw/ again")
        dcache.put(f"{folder}/raw/d.txt", b"d", events=True)
        until(lambda: sink.seen("d.txt", "IN_CLOSE_WRITE"), "d.txt's close on the new channel")

        dcache.events.disconnect_all()  # a network hiccup: the channel and its buffer stay
        dcache.put(f"{folder}/raw/e.txt", b"e", events=True)
        until(lambda: sink.seen("e.txt", "IN_CLOSE_WRITE"), "e.txt's close, resumed by its id")
        assert not sink.seen("e.txt", LISTING)  # no gap: nothing to list
        assert "the event stream ended (closed by the server); reconnecting" in caplog.text
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    assert all(
        e.uri.startswith(f"http://127.0.0.1:{dcache.door.port}{folder}/") for e in sink.events
    )
    assert TOKEN not in caplog.text
