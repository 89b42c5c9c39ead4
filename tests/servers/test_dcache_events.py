"""The dCache test server's storage events: channels, inotify subscriptions, the SSE wire
format and event sequences, Last-Event-ID replay, and the fault switches."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests

from tests.servers.dcache import DcacheServer
from tests.servers.sse import SseEvent, SseReader

UPLOAD = ["IN_CREATE", "IN_OPEN", "IN_MODIFY", "IN_CLOSE_WRITE", "IN_ATTRIB"]


def new_channel(dcache: DcacheServer, session: requests.Session, client_id: str = "t") -> str:
    resp = session.post(f"{dcache.api}/events/channels", json={"client-id": client_id}, timeout=5)
    assert resp.status_code == 201, resp.text
    location: str = resp.headers["Location"]
    return location


def subscribe(session: requests.Session, channel: str, path: str, flags: object = None) -> str:
    selector: dict[str, object] = {"path": path}
    if flags is not None:
        selector["flags"] = flags
    resp = session.post(f"{channel}/subscriptions/inotify", json=selector, timeout=5)
    assert resp.status_code == 201, resp.text
    location: str = resp.headers["Location"]
    return location


def masks(events: list[SseEvent]) -> list[tuple[str, list[str]]]:
    return [(e.json()["event"].get("name", ""), e.json()["event"]["mask"]) for e in events]


@pytest.fixture
def watched(dcache: DcacheServer, ada: requests.Session) -> Iterator[tuple[str, str, SseReader]]:
    """A channel with an open stream watching /in; NEW_SUBSCRIPTION already consumed."""
    dcache.mkdir("/in", events=False)
    channel = new_channel(dcache, ada)
    reader = SseReader(channel, ada)
    sub = subscribe(ada, channel, "/in")
    first = reader.next()
    assert first is not None and first.event == "SYSTEM" and first.id is None
    assert first.json() == {"type": "NEW_SUBSCRIPTION", "subscription": sub}
    yield channel, sub, reader
    reader.close()


def test_service_metadata_and_event_types(dcache: DcacheServer, ada: requests.Session) -> None:
    info = requests.get(f"{dcache.api}/events", timeout=5)
    assert info.status_code == 200  # the only events resource open to anonymous users
    assert info.json()["channels"]["lifetimeWhenDisconnected"]["default"] == 300
    assert requests.get(f"{dcache.api}/events/eventTypes", timeout=5).status_code == 401
    assert ada.get(f"{dcache.api}/events/eventTypes", timeout=5).json() == ["inotify", "metronome"]
    schema = ada.get(f"{dcache.api}/events/eventTypes/inotify/selector", timeout=5).json()
    assert schema["required"] == ["path"] and schema["properties"]["flags"]["type"] == "array"


def test_channel_lifecycle(dcache: DcacheServer, ada: requests.Session) -> None:
    anonymous = requests.post(f"{dcache.api}/events/channels", timeout=5)
    assert anonymous.status_code == 401
    channel = new_channel(dcache, ada, client_id="watcher-1")
    other = new_channel(dcache, ada, client_id="")
    assert channel.startswith(f"{dcache.api}/events/channels/")
    listing = f"{dcache.api}/events/channels"
    assert ada.get(listing, params={"client-id": "watcher-1"}, timeout=5).json() == [channel]
    assert ada.get(listing, params={"client-id": ""}, timeout=5).json() == [other]
    assert sorted(ada.get(listing, timeout=5).json()) == sorted([channel, other])
    json_accept = {"Accept": "application/json"}
    assert ada.get(channel, headers=json_accept, timeout=5).json() == {"timeout": 300}
    assert ada.patch(channel, json={"timeout": 3600}, timeout=5).status_code == 204
    assert ada.get(channel, headers=json_accept, timeout=5).json() == {"timeout": 3600}
    assert ada.patch(channel, json={"timeout": 0}, timeout=5).status_code == 400
    assert ada.patch(channel, json={"timeout": 86401}, timeout=5).status_code == 400
    bob = requests.get(channel, auth=("bob", "builder"), headers=json_accept, timeout=5)
    assert bob.status_code == 403
    assert ada.delete(channel, timeout=5).status_code == 204
    gone = ada.get(channel, headers=json_accept, timeout=5)
    assert gone.status_code == 404
    assert gone.json() == {"errors": [{"message": "No such channel", "status": "404"}]}


def test_too_many_channels_is_429(dcache: DcacheServer, ada: requests.Session) -> None:
    dcache.events.MAXIMUM_PER_USER = 2
    new_channel(dcache, ada)
    new_channel(dcache, ada)
    assert ada.post(f"{dcache.api}/events/channels", timeout=5).status_code == 429


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ({"path": "/nope"}, "Not found: "),
        ({"path": "/in", "flags": "IN_CLOSE_WRITE"}, "Bad selector: "),  # not an array
        ({"path": "/in", "flags": ["IN_CLOSED"]}, "Bad selector: "),
        ({"path": "/in", "recursive": True}, "Bad selector: "),
        ({"path": "/in", "flags": ["IN_DONT_FOLLOW"]}, "Bad selector: Unsupported flags"),
        ({"flags": ["IN_CREATE"]}, "Bad selector: Missing path"),
        ({"path": "/in/f", "flags": ["IN_ONLYDIR"]}, "Failed condition: "),
    ],
)
def test_bad_selectors_are_refused(
    dcache: DcacheServer, ada: requests.Session, selector: dict[str, object], message: str
) -> None:
    dcache.put("/in/f", b"x")
    channel = new_channel(dcache, ada)
    resp = ada.post(f"{channel}/subscriptions/inotify", json=selector, timeout=5)
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["message"].startswith(message)


def test_subscriptions_merge_per_path_and_list(dcache: DcacheServer, ada: requests.Session) -> None:
    dcache.mkdir("/in", events=False)
    channel = new_channel(dcache, ada)
    sub = subscribe(ada, channel, "/in", ["IN_CLOSE_WRITE"])
    assert ada.get(sub, timeout=5).json() == {"path": "/in", "flags": ["IN_CLOSE_WRITE"]}
    again = ada.post(
        f"{channel}/subscriptions/inotify",
        json={"path": "/in", "flags": ["IN_MOVED_TO"]},
        allow_redirects=False,
        timeout=5,
    )
    assert again.status_code == 303 and again.headers["Location"] == sub
    assert ada.get(f"{channel}/subscriptions", timeout=5).json() == [sub]
    assert ada.delete(sub, timeout=5).status_code == 204
    assert ada.get(sub, timeout=5).status_code == 404


def test_a_webdav_upload_emits_the_real_sequence(
    dcache: DcacheServer, ada: requests.Session, watched: tuple[str, str, SseReader]
) -> None:
    _, sub, reader = watched
    dcache.upload_delay = 0.3
    seen_empty: list[int] = []

    def upload() -> None:
        ada.put(dcache.url("/in/scan1.h5"), data=b"frames", timeout=10)

    thread = threading.Thread(target=upload)
    thread.start()
    create = reader.next()
    assert create is not None
    # IN_CREATE comes while the file is still empty
    seen_empty.append(len(dcache.files["/in/scan1.h5"].data))
    rest = reader.take(4)
    thread.join()
    events = [create, *rest]
    assert masks(events) == [("scan1.h5", [m]) for m in UPLOAD]
    assert seen_empty == [0]
    assert [e.event for e in events] == ["inotify"] * 5
    assert [int(e.id or -1) for e in events] == [0, 1, 2, 3, 4]
    assert create.data == (
        '{"event": {"name": "scan1.h5", "mask": ["IN_CREATE"]}, "subscription": "' + sub + '"}'
    )


def test_close_write_and_attrib_may_come_in_either_order(
    dcache: DcacheServer, ada: requests.Session, watched: tuple[str, str, SseReader]
) -> None:
    _, _, reader = watched
    dcache.events.attrib_first = True
    ada.put(dcache.url("/in/a.h5"), data=b"x", timeout=5)
    assert [m for _, [m] in masks(reader.take(5))][-2:] == ["IN_ATTRIB", "IN_CLOSE_WRITE"]


def test_mkcol_move_and_delete_events(
    dcache: DcacheServer, ada: requests.Session, watched: tuple[str, str, SseReader]
) -> None:
    _, _, reader = watched
    dcache.put("/elsewhere/part", b"data")
    ada.request("MKCOL", dcache.url("/in/sub"), timeout=5)
    dest = {"Destination": dcache.url("/in/final.h5")}
    ada.request("MOVE", dcache.url("/elsewhere/part"), headers=dest, timeout=5)
    ada.request("MOVE", dcache.url("/in/final.h5"), headers={"Destination": dcache.url("/in/b")})
    ada.delete(dcache.url("/in/b"), timeout=5)
    events = [e.json()["event"] for e in reader.take(5)]
    assert events[0] == {"name": "sub", "mask": ["IN_CREATE", "IN_ISDIR"]}
    assert events[1]["name"] == "final.h5" and events[1]["mask"] == ["IN_MOVED_TO"]
    moved_from, moved_to = events[2], events[3]
    assert (moved_from["name"], moved_from["mask"]) == ("final.h5", ["IN_MOVED_FROM"])
    assert (moved_to["name"], moved_to["mask"]) == ("b", ["IN_MOVED_TO"])
    assert moved_from["cookie"] == moved_to["cookie"] != events[1]["cookie"]
    assert events[4] == {"name": "b", "mask": ["IN_DELETE"]}


def test_watches_are_not_recursive(
    dcache: DcacheServer, ada: requests.Session, watched: tuple[str, str, SseReader]
) -> None:
    _, _, reader = watched
    ada.put(dcache.url("/in/run1/deep/f.h5"), data=b"x", timeout=5)
    [event] = reader.take(1)
    assert event.json()["event"] == {"name": "run1", "mask": ["IN_CREATE", "IN_ISDIR"]}
    assert reader.quiet()  # nothing about run1/deep or f.h5


def test_flags_select_events(dcache: DcacheServer, ada: requests.Session) -> None:
    dcache.mkdir("/in", events=False)
    channel = new_channel(dcache, ada)
    reader = SseReader(channel, ada)
    subscribe(ada, channel, "/in", ["IN_CLOSE_WRITE", "IN_MOVED_TO"])
    assert reader.take(1)[0].event == "SYSTEM"
    ada.put(dcache.url("/in/f"), data=b"x", timeout=5)
    [event] = reader.take(1)
    assert event.json()["event"] == {"name": "f", "mask": ["IN_CLOSE_WRITE"]}
    assert reader.quiet()
    reader.close()


def upload_then_disconnect(
    dcache: DcacheServer, ada: requests.Session, reader: SseReader
) -> str | None:
    """Upload /in/one, read its 5 events, disconnect; the last event id seen."""
    ada.put(dcache.url("/in/one"), data=b"1", timeout=5)
    last = reader.take(5)[-1].id
    reader.close()
    return last


def test_last_event_id_replays_what_was_missed(
    dcache: DcacheServer, ada: requests.Session, watched: tuple[str, str, SseReader]
) -> None:
    channel, _, reader = watched
    last = upload_then_disconnect(dcache, ada, reader)
    ada.put(dcache.url("/in/two"), data=b"2", timeout=5)  # while disconnected
    for _ in range(2):  # the same Last-Event-ID twice gives the same output
        again = SseReader(channel, ada, last_event_id=last)
        replay = again.take(5)
        assert [e.id for e in replay] == ["5", "6", "7", "8", "9"]
        assert masks(replay) == [("two", [m]) for m in UPLOAD]
        assert again.quiet()
        again.close()


def test_a_lost_gap_gives_event_loss(
    dcache: DcacheServer, ada: requests.Session, watched: tuple[str, str, SseReader]
) -> None:
    channel, _, reader = watched
    last = upload_then_disconnect(dcache, ada, reader)
    dcache.events.set_backlog(3)
    ada.put(dcache.url("/in/two"), data=b"2", timeout=5)
    again = SseReader(channel, ada, last_event_id=last)
    [loss] = again.take(1)
    assert (loss.event, loss.id, loss.json()) == ("SYSTEM", None, {"type": "EVENT_LOSS"})
    again.close()


def test_a_second_connection_ends_the_first(
    dcache: DcacheServer, ada: requests.Session, watched: tuple[str, str, SseReader]
) -> None:
    channel, _, reader = watched
    second = SseReader(channel, ada)
    [competing] = reader.take(1)
    assert competing.json() == {"type": "COMPETING_CLIENT"}
    assert reader.next() is None  # the first stream ended
    ada.put(dcache.url("/in/f"), data=b"x", timeout=5)
    assert len(second.take(5)) == 5
    second.close()


def test_drop_and_duplicate_switches(
    dcache: DcacheServer, ada: requests.Session, watched: tuple[str, str, SseReader]
) -> None:
    _, _, reader = watched
    dcache.events.drop = 3  # IN_CREATE, IN_OPEN, IN_MODIFY vanish without a trace
    ada.put(dcache.url("/in/a"), data=b"x", timeout=5)
    got = reader.take(2)
    assert masks(got) == [("a", ["IN_CLOSE_WRITE"]), ("a", ["IN_ATTRIB"])]
    assert [e.id for e in got] == ["0", "1"]  # no gap in ids: the loss is invisible
    dcache.events.duplicate = 5
    ada.put(dcache.url("/in/b"), data=b"x", timeout=5)
    doubled = reader.take(10)
    assert [m for _, [m] in masks(doubled)] == [m for m in UPLOAD for _ in (1, 2)]
    assert len({e.id for e in doubled}) == 10  # duplicates carry new ids


def test_loss_overflow_and_shutdown_switches(
    dcache: DcacheServer, ada: requests.Session, watched: tuple[str, str, SseReader]
) -> None:
    channel, sub, reader = watched
    dcache.events.broadcast({"type": "EVENT_LOSS"})
    assert reader.take(1)[0].json() == {"type": "EVENT_LOSS"}
    dcache.events.overflow()
    [overflow] = reader.take(1)
    assert overflow.json() == {"event": {"mask": ["IN_Q_OVERFLOW"]}, "subscription": sub}
    dcache.restart()
    [shutdown] = reader.take(1)
    assert shutdown.json() == {"type": "SHUTDOWN"}
    assert reader.next() is None
    assert ada.get(channel, headers={"Accept": "application/json"}, timeout=5).status_code == 404
    assert SseReader(channel, ada).status == 404


def test_deleting_the_watched_directory_ends_the_subscription(
    dcache: DcacheServer, ada: requests.Session
) -> None:
    dcache.mkdir("/in", events=False)
    channel = new_channel(dcache, ada)
    reader = SseReader(channel, ada)
    sub = subscribe(ada, channel, "/in", ["IN_DELETE_SELF", "IN_CREATE"])
    reader.take(1)  # NEW_SUBSCRIPTION
    ada.delete(dcache.url("/in"), timeout=5)
    events = reader.take(3)
    assert events[0].json()["event"] == {"mask": ["IN_DELETE_SELF"]}
    assert events[1].json()["event"] == {"mask": ["IN_IGNORED"]}
    assert events[2].json() == {"type": "SUBSCRIPTION_CLOSED", "subscription": sub}
    assert ada.get(f"{channel}/subscriptions", timeout=5).json() == []
    reader.close()


def test_a_watch_follows_its_directory_when_moved(
    dcache: DcacheServer, ada: requests.Session, watched: tuple[str, str, SseReader]
) -> None:
    _, _, reader = watched
    dcache.mkdir("/archive", events=False)
    move = {"action": "mv", "destination": "/archive/in"}
    assert ada.post(f"{dcache.api}/namespace/in", json=move, timeout=5).status_code == 201
    [self_event] = reader.take(1)
    assert self_event.json()["event"] == {"mask": ["IN_MOVE_SELF", "IN_ISDIR"]}
    ada.put(dcache.url("/archive/in/late.h5"), data=b"x", timeout=5)
    assert masks(reader.take(1)) == [("late.h5", ["IN_CREATE"])]
