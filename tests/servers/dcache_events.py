"""dCache storage events (SSE channels and inotify subscriptions) for the test dCache.

Follows dCache @77340d6: ``docs/UserGuide/src/main/markdown/frontend.md`` ("Storage
Events") and ``modules/dcache-frontend/.../restful/events/Channel.java``,
``.../resources/EventResources.java``, ``.../streams/inotify/{Inotify,InotifySelector,
InotifyEventPayload}.java``; summarised in ``functions-and-events.md`` §1.

* A channel keeps every event it emits in a ring buffer (``backlog``, dCache's
  ``frontend.limit.events.backlog``) whether or not a client is connected; ids are a
  per-channel counter from 0. ``SYSTEM`` events carry no id and are not buffered.
* A reconnect with ``Last-Event-ID`` drops buffered events up to that id and replays
  the rest; if that id is no longer buffered the client gets ``SYSTEM``
  ``{"type":"EVENT_LOSS"}`` instead (``Channel.acceptConnection``). A second GET on a
  channel sends ``{"type":"COMPETING_CLIENT"}`` to the first stream and ends it.
* ``NEW_SUBSCRIPTION``/``SUBSCRIPTION_CLOSED`` are sent only to a connected stream.
  Closing an inotify subscription first queues ``IN_IGNORED`` on it.
* Watches follow the watched entry (by pnfsId) and are NOT recursive: only events on
  direct children (and self events) reach a subscription. ``IN_DELETE_SELF`` closes it.
* Inotify payloads: ``{"name","cookie","mask"}`` with absent fields omitted, the mask
  in ``EventFlag`` order (``IN_ISDIR`` last); the envelope is
  ``{"event": payload, "subscription": URL}``.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

# AddWatchFlag names accepted in a selector (the selector JSON Schema's enum).
WATCH_FLAGS = [
    "IN_ACCESS", "IN_ATTRIB", "IN_CLOSE_WRITE", "IN_CLOSE_NOWRITE", "IN_CREATE", "IN_DELETE",
    "IN_DELETE_SELF", "IN_MODIFY", "IN_MOVE_SELF", "IN_MOVED_FROM", "IN_MOVED_TO", "IN_OPEN",
    "IN_ALL_EVENTS", "IN_CLOSE", "IN_MOVE", "IN_DONT_FOLLOW", "IN_EXCL_UNLINK", "IN_MASK_ADD",
    "IN_ONESHOT", "IN_ONLYDIR",
]  # fmt: skip
EVENT_TYPES = WATCH_FLAGS[:12]  # the flags that name an event (AddWatchFlag.ALL_EVENTS)
UNSUPPORTED = {"IN_DONT_FOLLOW", "IN_EXCL_UNLINK"}
# EventFlag declaration order, which is the order of "mask" in a payload.
MASK_ORDER = [*EVENT_TYPES, "IN_IGNORED", "IN_Q_OVERFLOW", "IN_UNMOUNT", "IN_ISDIR"]
DEFAULT_BACKLOG = 16384  # "keeping a cache of the last 16384 events" (EventResources)


def _token(nbytes: int) -> str:
    return base64.urlsafe_b64encode(os.urandom(nbytes)).decode().rstrip("=")


def new_cookie() -> str:
    """A move cookie like dCache's (``0r6/JbKH+oZ0D2ETnzGMQA``)."""
    return base64.b64encode(os.urandom(16)).decode().rstrip("=")


def expand_flags(supplied: list[str]) -> set[str]:
    """``InotifySelector.setSuppliedFlags``: IN_ALL_EVENTS/IN_CLOSE/IN_MOVE expand."""
    flags: set[str] = set()
    for flag in supplied:
        if flag == "IN_ALL_EVENTS":
            flags |= set(EVENT_TYPES)
        elif flag == "IN_CLOSE":
            flags |= {"IN_CLOSE_WRITE", "IN_CLOSE_NOWRITE"}
        elif flag == "IN_MOVE":
            flags |= {"IN_MOVED_FROM", "IN_MOVED_TO"}
        else:
            flags.add(flag)
    return flags


def payload(mask: list[str], name: str | None = None, cookie: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if name is not None:
        out["name"] = name
    if cookie is not None:
        out["cookie"] = cookie
    out["mask"] = sorted(set(mask), key=MASK_ORDER.index)
    return out


@dataclass
class Subscription:
    id: str
    pnfsid: str
    selector: dict[str, Any]  # as given by the client: path, and flags if supplied
    flags: set[str]

    def wants(self, mask: list[str]) -> bool:
        return any(flag in self.flags for flag in mask)


@dataclass
class Stream:
    """One SSE connection: the handler thread drains ``queue``; ``None`` ends it."""

    queue: queue.Queue[bytes | None] = field(default_factory=queue.Queue)
    closed: bool = False

    def send(self, frame: bytes) -> None:
        if not self.closed:
            self.queue.put(frame)

    def end(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put(None)


def sse_frame(event: str, data: str, event_id: int | None = None) -> bytes:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"data: {data}")
    return ("\n".join(lines) + "\n\n").encode()


class Channel:
    """A client's event endpoint: subscriptions, ring buffer and at most one stream."""

    def __init__(self, hub: EventHub, owner: str, client_id: str | None) -> None:
        self.hub = hub
        self.id = _token(16)
        self.owner = owner
        self.client_id = client_id
        self.timeout = hub.default_timeout
        self.subscriptions: dict[str, Subscription] = {}
        self.buffer: deque[tuple[int, str, str]] = deque(maxlen=hub.backlog)
        self.next_id = 0
        self.stream: Stream | None = None
        self.disconnected_at: float | None = time.monotonic()

    @property
    def url(self) -> str:
        return f"{self.hub.base_url()}/api/v1/events/channels/{self.id}"

    def subscription_url(self, sub: Subscription) -> str:
        return f"{self.url}/subscriptions/inotify/{sub.id}"

    def expired(self, now: float) -> bool:
        return self.disconnected_at is not None and now - self.disconnected_at > self.timeout

    # -- sending (callers hold hub.lock) --------------------------------------------

    def emit(self, event_type: str, sub: Subscription, body: dict[str, Any]) -> None:
        """An event with an id: buffered, and sent if a client is connected."""
        data = json.dumps({"event": body, "subscription": self.subscription_url(sub)})
        event_id = self.next_id
        self.next_id += 1
        self.buffer.append((event_id, event_type, data))
        if self.stream is not None:
            self.stream.send(sse_frame(event_type, data, event_id))

    def system(self, document: dict[str, Any]) -> None:
        """A ``SYSTEM`` event: no id, not buffered, only to a connected client."""
        if self.stream is not None:
            self.stream.send(sse_frame("SYSTEM", json.dumps(document, separators=(",", ":"))))

    def connect(self, last_event_id: str | None) -> Stream:
        if self.stream is not None:
            self.system({"type": "COMPETING_CLIENT"})
            self.stream.end()
        stream = Stream()
        self.stream, self.disconnected_at = stream, None
        try:
            last = int(last_event_id) if last_event_id is not None else None
        except ValueError:
            last = None
        if last is not None:
            while self.buffer and self.buffer[0][0] != last:
                self.buffer.popleft()
            if not self.buffer:
                self.system({"type": "EVENT_LOSS"})
            else:
                for event_id, event_type, data in itertools.islice(self.buffer, 1, None):
                    stream.send(sse_frame(event_type, data, event_id))
        return stream

    def disconnected(self, stream: Stream) -> None:
        if self.stream is stream:
            self.stream = None
            self.disconnected_at = time.monotonic()

    def close_subscription(self, sub: Subscription) -> None:
        if self.subscriptions.pop(sub.id, None) is None:
            return
        self.emit("inotify", sub, payload(["IN_IGNORED"]))
        self.system({"type": "SUBSCRIPTION_CLOSED", "subscription": self.subscription_url(sub)})

    def close(self) -> None:
        for sub in list(self.subscriptions.values()):
            self.close_subscription(sub)
        if self.stream is not None:
            self.stream.end()
            self.stream = None
        self.buffer.clear()


class EventHub:
    """All channels of one dCache frontend, plus the fault switches for tests."""

    MAXIMUM_PER_USER = 128
    MAX_TIMEOUT = 86400

    def __init__(self, base_url: Any) -> None:
        self.base_url = base_url  # callable -> frontend base URL
        self.lock = threading.RLock()
        self.channels: dict[str, Channel] = {}
        self.backlog = DEFAULT_BACKLOG
        self.default_timeout = 300
        # fault switches
        self.drop = 0  # the next N inotify events vanish (no id, not buffered)
        self.duplicate = 0  # the next N inotify events are delivered twice (new ids)
        self.attrib_first = False  # IN_ATTRIB before IN_CLOSE_WRITE after an upload
        self.stats = {"emitted": 0, "dropped": 0, "duplicated": 0}

    # -- channel registry -------------------------------------------------------------

    def channel(self, channel_id: str) -> Channel | None:
        with self.lock:
            self._expire()
            return self.channels.get(channel_id)

    def create(self, owner: str, client_id: str | None) -> Channel | None:
        with self.lock:
            self._expire()
            if sum(c.owner == owner for c in self.channels.values()) >= self.MAXIMUM_PER_USER:
                return None
            channel = Channel(self, owner, client_id)
            self.channels[channel.id] = channel
            return channel

    def delete(self, channel: Channel) -> None:
        with self.lock:
            self.channels.pop(channel.id, None)
            channel.close()

    def _expire(self) -> None:
        now = time.monotonic()
        for channel in [c for c in self.channels.values() if c.expired(now)]:
            self.delete(channel)

    # -- namespace activity -----------------------------------------------------------

    def child_event(
        self, dir_pnfsid: str, name: str, mask: list[str], cookie: str | None = None
    ) -> None:
        """An event on ``name`` inside the directory ``dir_pnfsid`` (watches are not recursive)."""
        self._deliver(dir_pnfsid, payload(mask, name, cookie), mask)

    def self_event(self, pnfsid: str, mask: list[str]) -> None:
        self._deliver(pnfsid, payload(mask), mask)
        if "IN_DELETE_SELF" in mask:  # Inotify.sendEventToSelections: closes the watch
            with self.lock:
                for channel in list(self.channels.values()):
                    for sub in [s for s in channel.subscriptions.values() if s.pnfsid == pnfsid]:
                        channel.close_subscription(sub)

    def _deliver(self, pnfsid: str, body: dict[str, Any], mask: list[str]) -> None:
        with self.lock:
            targets = [
                (channel, sub)
                for channel in self.channels.values()
                for sub in channel.subscriptions.values()
                if sub.pnfsid == pnfsid and sub.wants(mask)
            ]
            if not targets:
                return
            if self.drop > 0:
                self.drop -= 1
                self.stats["dropped"] += 1
                return
            copies = 1
            if self.duplicate > 0:
                self.duplicate -= 1
                self.stats["duplicated"] += 1
                copies = 2
            for channel, sub in targets:
                for _ in range(copies):
                    channel.emit("inotify", sub, body)
            self.stats["emitted"] += 1

    # -- fault switches ---------------------------------------------------------------

    def broadcast(self, document: dict[str, Any]) -> None:
        with self.lock:
            for channel in self.channels.values():
                channel.system(document)

    def overflow(self) -> None:
        """An ``IN_Q_OVERFLOW`` on every subscription, as when dCache's queue overflows."""
        with self.lock:
            for channel in self.channels.values():
                for sub in list(channel.subscriptions.values()):
                    channel.emit("inotify", sub, payload(["IN_Q_OVERFLOW"]))

    def disconnect_all(self) -> None:
        """Break every open stream (a network hiccup); channels and buffers stay."""
        with self.lock:
            for channel in self.channels.values():
                if channel.stream is not None:
                    channel.stream.end()

    def restart(self, announce: bool = True) -> None:
        """dCache restarts: ``SHUTDOWN`` to connected clients, then every channel is gone."""
        with self.lock:
            if announce:
                self.broadcast({"type": "SHUTDOWN"})
            for channel in list(self.channels.values()):
                self.channels.pop(channel.id, None)
                if channel.stream is not None:
                    channel.stream.end()
                channel.stream = None

    def set_backlog(self, size: int) -> None:
        """Shrink (or grow) every ring buffer, keeping the newest events."""
        with self.lock:
            self.backlog = size
            for channel in self.channels.values():
                channel.buffer = deque(channel.buffer, maxlen=size)
