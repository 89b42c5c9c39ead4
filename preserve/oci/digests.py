"""Digests of blobs, computed and checked while the bytes stream (bounded memory)."""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from preserve.errors import IntegrityError
from preserve.progress import Task

CHUNK = 1 << 20  # 1 MiB reads: large enough for speed, small enough for memory


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, task: Task | None = None) -> tuple[str, int]:
    """Digest and size of a file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
            if task is not None:
                task.advance(len(chunk))
    return "sha256:" + h.hexdigest(), size


def hex_of(digest: str) -> str:
    return digest.split(":", 1)[1]


class Verifier:
    """Counts and hashes bytes as they pass; fails as soon as there are too many."""

    def __init__(self, digest: str, size: int, label: str) -> None:
        self.digest = digest
        self.size = size
        self.label = label
        self.seen = 0
        self._h = hashlib.sha256()

    def update(self, chunk: bytes) -> None:
        self.seen += len(chunk)
        if self.seen > self.size:
            raise IntegrityError(
                f"{self.label} is larger than its recorded size {self.size} bytes",
                hint="the store holds different content than the manifest describes",
            )
        self._h.update(chunk)

    def check(self) -> None:
        actual = "sha256:" + self._h.hexdigest()
        if self.seen != self.size:
            raise IntegrityError(
                f"{self.label} has {self.seen} bytes, expected {self.size}",
                hint="the transfer was cut short or the stored blob was changed",
            )
        if actual != self.digest:
            raise IntegrityError(
                f"{self.label} does not match its digest: got {actual}",
                hint="the stored blob was changed or corrupted; do not trust this content",
            )


def copy_verified(
    chunks: Iterable[bytes], out: BinaryIO, verifier: Verifier, task: Task | None = None
) -> None:
    """Write ``chunks`` to ``out``, checking size and digest on the way."""
    for chunk in chunks:
        verifier.update(chunk)
        out.write(chunk)
        if task is not None:
            task.advance(len(chunk))
    verifier.check()


class Prefetch:
    """Pull chunks from a source in a thread while the caller hashes and writes.

    Socket reads, hashing and file writes all release the GIL, so on two cores a
    download runs at the speed of its slowest stage instead of their sum. At
    most ``depth`` chunks wait in the queue (bounded memory).
    """

    def __init__(self, chunks: Iterable[bytes], depth: int = 16) -> None:
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, args=(chunks,), daemon=True)
        self._thread.start()

    def _put(self, item: bytes | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _pump(self, chunks: Iterable[bytes]) -> None:
        try:
            for chunk in chunks:
                if not self._put(chunk):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)
            return
        self._put(None)

    def __iter__(self) -> Iterator[bytes]:
        while (item := self._queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self) -> None:
        """Ask the pump to stop (close its source next, then ``join``)."""
        self._stop.set()

    def join(self) -> None:
        self._thread.join(timeout=30)


class BackgroundDigest:
    """The digest of a file, computed in a thread while the caller uploads it."""

    def __init__(self, path: Path) -> None:
        self._digest: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path,), daemon=True)
        self._thread.start()

    def _run(self, path: Path) -> None:
        try:
            self._digest = sha256_file(path)[0]
        except BaseException as exc:  # raised to the caller by wait()
            self._error = exc

    def known(self) -> str | None:
        return self._digest

    def wait(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._digest is not None
        return self._digest


class KnownDigest:
    def __init__(self, digest: str) -> None:
        self._digest = digest

    def known(self) -> str:
        return self._digest

    def wait(self) -> str:
        return self._digest
