"""dCache storage events (``dcache+https://HOST:3880/api/v1``), exactly as the frontend works.

* One channel per watcher, found again after a restart by its ``client-id``
  (``[sources.dcache] client_id``) and kept ``channel_timeout`` seconds while the
  watcher is away, so dCache buffers what happens meanwhile.
* Watches are not recursive (dCache/dcache#5095): one subscription per directory
  that can hold a match. When such a directory is created (or moved in) the
  watcher subscribes to it and then lists it, closing the race with files
  written before the subscription took effect.
* Events carry a per-channel counter as id. ``Last-Event-ID`` is stored with the
  journal commit of the events up to it, never before; a reconnect resumes there.
* ``EVENT_LOSS`` (the gap left the ring buffer), ``IN_Q_OVERFLOW``, ``SHUTDOWN``, a
  vanished channel and every start: reconnect (with back-off) and reconcile by
  listing the watched directories through the namespace API. Files that are
  still being written (no checksum yet) are left to their ``IN_CLOSE_WRITE``.
* A file is described by the namespace API (size and checksums), which gives the
  same checksum the function's own ``HEAD`` with ``Want-Digest`` will get.

``[sources.dcache]``: ``door`` (the WebDAV door inputs are read from, e.g.
``davs://door.example:2880``), ``token`` (a bearer token or macaroon) or
``username`` and ``password``, ``client_id``, ``channel_timeout``,
``max_watches``. Credentials are sent in a header, never logged or recorded.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import random
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Self
from urllib.parse import quote, unquote, urlsplit

from pydantic import Field, SecretStr

from preserve import net
from preserve.errors import ConfigError, PreserveError, SourceError
from preserve.events.model import LISTING, Described, Event
from preserve.events.rules import Rule
from preserve.events.sources.base import Sink, SourceOptions
from preserve.events.sources.dcache_api import ChannelGone, Frontend, checksums
from preserve.events.sse import Frame, Reader
from preserve.settings import Settings
from preserve.shim.digests import checksum_token, wanted

log = logging.getLogger(__name__)
BATCH = 500
# What a function's HEAD asks for: the key must be made of the checksum it will see.
_ASKED = wanted()
_DIR_FLAGS = {"IN_CREATE", "IN_MOVED_TO"}  # new directories, created or moved in
_GAP = ("EVENT_LOSS", "SHUTDOWN")


class DcacheOptions(SourceOptions):
    door: str | None = Field(
        None,
        description="the WebDAV door inputs are read from (davs://HOST:2880); "
        "default: the frontend's host, port 2880 (2881 for https)",
    )
    token: SecretStr | None = Field(None, description="bearer token or macaroon")
    username: str | None = None
    password: SecretStr | None = None
    client_id: str = Field("preserve-watch", max_length=256, description="finds the channel again")
    channel_timeout: int = Field(
        86400, ge=1, le=86400, description="seconds dCache keeps the channel while away"
    )
    max_watches: int = Field(10000, ge=1, description="directories watched at most")
    reconnect_max: float = Field(60.0, gt=0, description="longest wait between reconnects")


class DcacheSource:
    name: ClassVar[str] = "dcache"
    options: ClassVar[type[SourceOptions]] = DcacheOptions

    def __init__(self, options: DcacheOptions, api: str, settings: Settings) -> None:
        self.opts = options
        self.api = api.rstrip("/")
        self.address = f"dcache+{self.api}"
        self.door = (options.door or _default_door(self.api)).rstrip("/")
        session = net.session(settings.network, error=SourceError)
        self.frontend = Frontend(self.api, session, _authorization(options))
        self.subscriptions: dict[str, str] = {}  # subscription URL -> directory
        self.listed: dict[str, Described] = {}  # what the last listing said, by URI
        self.channel: str | None = None
        self.flags: list[str] = sorted(_DIR_FLAGS)
        self.gap = True  # list before reading: a start, a lost event, a new channel

    @classmethod
    def from_settings(cls, options: DcacheOptions, settings: Settings, /, *, address: str) -> Self:
        if not address.startswith(("https://", "http://")):
            raise ConfigError(
                f"dcache+{address}: the frontend's address is https://HOST:3880/api/v1"
            )
        return cls(options, address, settings)

    def uri(self, path: str) -> str:
        return self.door + quote(path)

    def watched(self, glob: str) -> str:
        return self.door + glob

    # -- describing ---------------------------------------------------------------------

    def describe(self, uri: str) -> Described | None:
        known = self.listed.pop(uri, None)
        if known is not None:
            return known
        entry = self.frontend.stat(self._path(uri))
        return _described(uri, entry) if entry is not None else None

    def _path(self, uri: str) -> str:
        return unquote(uri[len(self.door) :])

    # -- watching -----------------------------------------------------------------------

    def run(self, rules: Sequence[Rule], sink: Sink, stop: threading.Event) -> None:
        wait = 0.5
        while not stop.is_set():
            started = time.monotonic()
            try:
                self._session(rules, sink, stop)
            except ChannelGone:
                log.warning("dCache %s: the channel is gone; making a new one", self.api)
                self.channel = None
            except ConfigError:
                raise  # refused credentials, too many watches: trying again will not help
            except PreserveError as exc:
                log.warning("dCache %s: %s; reconnecting", self.api, exc.message)
            if time.monotonic() - started > 60:
                wait = 0.5  # it ran a while: a new problem, start the back-off again
            stop.wait(wait * (0.5 + random.random()))
            wait = min(wait * 2, self.opts.reconnect_max)

    def _session(self, rules: Sequence[Rule], sink: Sink, stop: threading.Event) -> None:
        """Connect (channel, watches, stream), list to close any gap, then read events
        until the stream ends or a gap needs another listing after a reconnect."""
        key = f"{self.address}#channel"
        remembered = sink.cursor(key)
        channel = self.frontend.channel(self.opts.client_id, remembered)
        if channel != remembered:
            sink.remember(key, channel)
            sink.remember(self.address, "")  # a new channel's ids start again
            self.gap = True
        self.channel = channel
        self.flags = sorted(_DIR_FLAGS.union(*(r.events or () for r in rules)))
        self.frontend.keep(channel, self.opts.channel_timeout)
        self.subscriptions = self.frontend.subscriptions(channel)
        last = sink.cursor(self.address) or None
        reader = Reader(self.frontend.stream(channel, last))
        try:
            self._watch_roots(rules)  # after the stream opened: nothing falls in between
            if self.gap:
                self._offer(self._relist(rules), sink, None, stop)
                self.gap = False
            self._read(reader, rules, sink, stop)
        finally:
            reader.close()

    def _read(
        self, reader: Reader, rules: Sequence[Rule], sink: Sink, stop: threading.Event
    ) -> None:
        while not stop.is_set():
            try:
                first = reader.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            batch = [first]
            while first is not None and len(batch) < BATCH:
                try:
                    batch.append(reader.queue.get_nowait())
                except queue.Empty:
                    break
            events, last_id, gap, ended = [], None, False, False
            for frame in batch:
                if frame is None:  # a quiet stream's read timeout, a proxy, a restart
                    why = reader.error or "closed by the server"
                    log.info("dCache %s: the event stream ended (%s); reconnecting", self.api, why)
                    ended = True
                    break
                if frame.event == "SYSTEM":
                    kind = _system(frame)
                    if kind in _GAP:
                        log.warning("dCache %s: %s; closing the gap by listing", self.api, kind)
                        gap = True
                        ended = ended or kind == "SHUTDOWN"
                    elif kind == "COMPETING_CLIENT":
                        raise SourceError(
                            f"another client took over the dCache channel of {self.opts.client_id}",
                            hint="give each watcher its own [sources.dcache] client_id",
                        )
                    continue
                found, overflow = self._inotify(frame, rules)
                events += found
                gap = gap or overflow
                last_id = frame.id if frame.id is not None else last_id
            self._offer(events, sink, last_id, stop)
            if gap and not ended:
                self._offer(self._relist(rules), sink, None, stop)
            if ended:
                self.gap = self.gap or gap  # SHUTDOWN: the next session lists again
                return

    def _inotify(self, frame: Frame, rules: Sequence[Rule]) -> tuple[list[Event], bool]:
        """File events of one inotify frame (new directories are watched and listed)."""
        try:
            message = json.loads(frame.data)
            body, sub = message["event"], message["subscription"]
            mask = [str(m) for m in body.get("mask") or []]
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("dCache %s: an event that is not inotify's shape was ignored", self.api)
            return [], False
        if "IN_Q_OVERFLOW" in mask:
            return [], True
        folder = self.subscriptions.get(sub)
        if folder is None:
            return [], False  # a watch this watcher no longer has
        if "IN_IGNORED" in mask or "IN_DELETE_SELF" in mask or "IN_MOVE_SELF" in mask:
            self.subscriptions.pop(sub, None)
            return [], False
        name = body.get("name")
        if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
            return [], False
        path = f"{folder.rstrip('/')}/{name}"
        if "IN_ISDIR" in mask:
            if {"IN_CREATE", "IN_MOVED_TO"} & set(mask) and _viable(path, rules):
                self._watch_tree(path, rules)
                return self._listing(rules, {path}, fresh=True), False
            return [], False
        kind = next((m for m in mask if m != "IN_ISDIR"), "")
        return [Event(self.address, path, self.uri(path), kind, frame.id)], False

    def _offer(
        self,
        events: list[Event],
        sink: Sink,
        last_id: str | None,
        stop: threading.Event | None = None,
    ) -> None:
        """Journal ``events`` with the stream's position; wait while the journal is full."""
        cursor = (self.address, last_id) if last_id is not None else None
        for start in range(0, max(len(events), 1), BATCH):
            chunk = events[start : start + BATCH]
            last = start + BATCH >= len(events)
            while not sink.offer(chunk, cursor if last else None):
                if stop is not None and stop.wait(1.0):
                    return

    # -- watches and listings ---------------------------------------------------------

    def _watch_roots(self, rules: Sequence[Rule]) -> None:
        """Subscribe to every existing directory that can hold a match."""
        for root in sorted({r.glob.root for r in rules}):
            top = root
            while self.frontend.stat(top) is None and top != "/":
                top = top.rsplit("/", 1)[0] or "/"  # watch its parent for it to appear
            self._watch_tree(top, rules)

    def _watch_tree(self, folder: str, rules: Sequence[Rule]) -> None:
        self._subscribe(folder)
        for child in self._subfolders(folder):
            if _viable(child, rules):
                self._watch_tree(child, rules)

    def _subscribe(self, folder: str) -> None:
        if folder in self.subscriptions.values():
            return
        if len(self.subscriptions) >= self.opts.max_watches:
            raise ConfigError(
                f"dCache {self.api}: more than {self.opts.max_watches} directories to watch",
                hint="narrow the rules' on.path, or raise [sources.dcache] max_watches",
            )
        assert self.channel is not None
        self.subscriptions[self.frontend.subscribe(self.channel, folder, self.flags)] = folder

    def _subfolders(self, folder: str) -> Iterator[str]:
        for child in self.frontend.children(folder):
            if child.get("fileType") == "DIR":
                yield f"{folder.rstrip('/')}/{child['fileName']}"

    def _relist(self, rules: Sequence[Rule]) -> list[Event]:
        """Every watched directory listed: a gap closed."""
        return self._listing(rules, set(self.subscriptions.values()))

    def _listing(
        self, rules: Sequence[Rule], folders: set[str], fresh: bool = False
    ) -> list[Event]:
        """Every complete file in ``folders`` (and, when ``fresh``, their watched
        subfolders) that a rule matches, as ``listing`` events."""
        events = []
        pending = sorted(folders)
        while pending:
            folder = pending.pop()
            for child in self.frontend.children(folder):
                path = f"{folder.rstrip('/')}/{child['fileName']}"
                if child.get("fileType") == "DIR":
                    if fresh and path in self.subscriptions.values():
                        pending.append(path)
                    continue
                if not any(r.glob.match(path) is not None for r in rules):
                    continue
                described = _described(self.uri(path), child)
                if described is None:
                    continue  # no checksum yet: still being written; its close event comes
                self.listed[described.uri] = described
                events.append(Event(self.address, path, described.uri, LISTING))
        return events

    def reconcile(self, rules: Sequence[Rule], sink: Sink) -> int:
        # Listing needs no channel: walk from each root, as the watches would.
        folders: set[str] = set()
        for root in sorted({r.glob.root for r in rules}):
            if self.frontend.stat(root) is not None:
                folders |= self._viable_tree(root, rules)
        events = self._listing(rules, folders)
        self._offer(events, sink, None)
        return len(events)

    def _viable_tree(self, folder: str, rules: Sequence[Rule]) -> set[str]:
        out = {folder}
        for child in self._subfolders(folder):
            if _viable(child, rules):
                out |= self._viable_tree(child, rules)
        return out


def _viable(folder: str, rules: Sequence[Rule]) -> bool:
    return any(r.glob.could_contain(folder) for r in rules)


def _described(uri: str, entry: dict[str, Any]) -> Described | None:
    """A file's size and the checksum its function will see; None if it has none yet."""
    if entry.get("fileType") not in (None, "REGULAR"):
        return None
    sums = {a: v for a, v in checksums(entry).items() if a in _ASKED}
    token = checksum_token(sums)
    if token is None:
        return None
    size = entry.get("size")
    return Described(uri, int(size) if isinstance(size, int) else None, token)


def _system(frame: Frame) -> str:
    try:
        return str(json.loads(frame.data).get("type", ""))
    except (ValueError, AttributeError):
        return ""


def _authorization(options: DcacheOptions) -> str | None:
    if options.token is not None:
        return f"Bearer {options.token.get_secret_value()}"
    if options.username and options.password is not None:
        pair = f"{options.username}:{options.password.get_secret_value()}".encode()
        return "Basic " + base64.b64encode(pair).decode()
    return None


def _default_door(api: str) -> str:
    parts = urlsplit(api)
    secure = parts.scheme == "https"
    return f"{'davs' if secure else 'dav'}://{parts.hostname}:{2881 if secure else 2880}"
