"""Local folders (``file:///data/incoming``), watched with ``watchdog``.

Data complete is a file closed after writing (``IN_CLOSE_WRITE``) or moved into
place (``IN_MOVED_TO``); a folder created or moved in is listed, since files may
have landed in it before its watch did. On start the folder is listed (closing
any gap while the watcher was stopped); files changed in the last
:data:`QUIET` seconds are left to their close event and a second listing.
Only regular files inside the folder count: links are not followed, devices and
pipes are ignored. A file is described by its size and SHA-256, read in place.

``[sources.file]``: ``polling = true`` for file systems where inotify sees
nothing (NFS, GPFS, CIFS): a changed file is then taken as written, so give the
rule a ``settle`` time.
"""

from __future__ import annotations

import logging
import os
import queue
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar, Self
from urllib.parse import quote, unquote, urlsplit

from pydantic import Field
from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from preserve.errors import ConfigError, SourceError
from preserve.events.model import LISTING, Described, Event
from preserve.events.rules import Rule
from preserve.events.sources.base import Sink, SourceOptions
from preserve.settings import Settings
from preserve.shim.storage import hash_file

log = logging.getLogger(__name__)
QUIET = 2.0  # seconds a listed file must be unchanged (else it may still be written)
BATCH = 500


class FolderOptions(SourceOptions):
    polling: bool = Field(False, description="poll instead of inotify (network file systems)")
    poll_interval: float = Field(1.0, gt=0, description="seconds between polls")


class FolderSource:
    name: ClassVar[str] = "file"
    options: ClassVar[type[SourceOptions]] = FolderOptions

    def __init__(self, options: FolderOptions, address: str) -> None:
        self.opts = options
        self.address = address.rstrip("/")
        self.root = Path(unquote(urlsplit(address).path)).resolve()

    @classmethod
    def from_settings(cls, options: FolderOptions, settings: Settings, /, *, address: str) -> Self:
        parts = urlsplit(address)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            raise ConfigError(f"{address}: a local folder is file:///PATH")
        return cls(options, address)

    def uri(self, path: str) -> str:
        return "file://" + quote(path)

    def watched(self, glob: str) -> str:
        return "file://" + glob

    # -- describing ---------------------------------------------------------------------

    def describe(self, uri: str) -> Described | None:
        path = self._inside(unquote(urlsplit(uri).path))
        if path is None:
            return None
        try:
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode):
                return None
            sha256 = hash_file(str(path), ("sha256",))["sha256"]
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SourceError(f"{path}: {exc.strerror}") from exc
        return Described(uri, info.st_size, f"sha256:{sha256}")

    def _inside(self, path: str) -> Path | None:
        """``path`` if it lies in the watched folder once links are resolved."""
        real = Path(os.path.realpath(path))
        return real if real == self.root or self.root in real.parents else None

    # -- watching -----------------------------------------------------------------------

    def run(self, rules: Sequence[Rule], sink: Sink, stop: threading.Event) -> None:
        if not self.root.is_dir():
            raise SourceError(
                f"{self.address}: no such folder", hint="create it, or fix the rule's on.source"
            )
        found: queue.Queue[Event | str] = queue.Queue()
        polling = self.opts.polling
        observer = PollingObserver(timeout=self.opts.poll_interval) if polling else Observer()
        observer.schedule(_Handler(self, found), str(self.root), recursive=True)
        observer.start()
        try:
            self._offer(self._listing(rules, self.root), sink, stop)
            second = time.monotonic() + QUIET + 1.0  # what was being written at the start
            while not stop.is_set():
                self._drain(found, rules, sink, stop)
                if second and time.monotonic() > second:
                    self._offer(self._listing(rules, self.root), sink, stop)
                    second = 0.0
        finally:
            observer.stop()
            observer.join(5)

    def _drain(
        self,
        found: queue.Queue[Event | str],
        rules: Sequence[Rule],
        sink: Sink,
        stop: threading.Event,
    ) -> None:
        try:
            items = [found.get(timeout=0.2)]
        except queue.Empty:
            return
        while len(items) < BATCH:
            try:
                items.append(found.get_nowait())
            except queue.Empty:
                break
        events = []
        for item in items:
            if isinstance(item, str):  # a folder created or moved in: list it
                events += self._listing(rules, Path(item), quiet=0.0)
            else:
                events.append(item)
        self._offer(events, sink, stop)

    def reconcile(self, rules: Sequence[Rule], sink: Sink) -> int:
        events = self._listing(rules, self.root, quiet=0.0)
        self._offer(events, sink, threading.Event())
        return len(events)

    def _offer(self, events: list[Event], sink: Sink, stop: threading.Event) -> None:
        for start in range(0, len(events), BATCH):
            while not sink.offer(events[start : start + BATCH]):
                if stop.wait(1.0):
                    return

    def _listing(self, rules: Sequence[Rule], top: Path, quiet: float = QUIET) -> list[Event]:
        """Regular files under ``top`` a rule matches, unchanged for ``quiet`` seconds."""
        events = []
        now = time.time()
        for path, info in _walk(top):
            text = str(path)
            if now - info.st_mtime < quiet:
                continue
            if any(r.glob.match(text) is not None for r in rules):
                events.append(Event(self.address, text, self.uri(text), LISTING))
        return events

    def event(self, path: str, kind: str) -> Event | None:
        """An event on ``path`` if it is a file inside the folder."""
        inside = self._inside(path)
        if inside is None or inside != Path(path):
            return None  # outside, or through a link
        return Event(self.address, path, self.uri(path), kind)


class _Handler(FileSystemEventHandler):
    """watchdog's thread: events into the source's queue, nothing else."""

    def __init__(self, source: FolderSource, found: queue.Queue[Event | str]) -> None:
        self.source = source
        self.found = found

    def on_any_event(self, event: FileSystemEvent) -> None:
        polling = self.source.opts.polling
        where = os.fsdecode(event.src_path)
        if isinstance(event, FileClosedEvent) or (
            polling and isinstance(event, FileCreatedEvent | FileModifiedEvent)
        ):
            self._put(self.source.event(where, "IN_CLOSE_WRITE"))
        elif isinstance(event, FileMovedEvent):
            self._put(self.source.event(os.fsdecode(event.dest_path), "IN_MOVED_TO"))
        elif isinstance(event, DirMovedEvent):
            self.found.put(os.fsdecode(event.dest_path))
        elif isinstance(event, DirCreatedEvent):
            self.found.put(where)

    def _put(self, event: Event | None) -> None:
        if event is not None:
            self.found.put(event)


def _walk(top: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Regular files under ``top``, without following links."""
    try:
        entries = list(os.scandir(top))
    except OSError as exc:
        log.warning("cannot list %s: %s", top, exc.strerror)
        return
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode):
            yield from _walk(Path(entry.path))
        elif stat.S_ISREG(info.st_mode):
            yield Path(entry.path), info
