"""Blob upload and download against a registry, streamed from and to disk.

Upload: HEAD first (a blob that already arrived, e.g. before an interrupted
push, is skipped), then a cross-repository mount when the blob is known in
another repository of the same registry, else a monolithic PUT for small blobs
or a chunked PATCH upload for big ones (always following the latest
``Location``; after a failed chunk the upload status says where to go on).
A big file hashed for the first time is hashed in a thread while its first
chunks go out; the HEAD check runs as soon as its digest is known (and the
upload is cancelled if the registry has the blob), so a push costs one read
of the data on the wire, not two. Its digest is then cached (see
:mod:`preserve.oci.caches`), so a push run again checks before sending.
Memory stays bounded: bodies are read from disk in 1 MiB blocks.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import suppress
from http.client import HTTPException
from pathlib import Path
from typing import IO, Any, Protocol

import requests
from urllib3.exceptions import HTTPError

from preserve import net
from preserve.errors import RegistryError
from preserve.oci.caches import BlobLocations, DigestCache
from preserve.oci.digests import (
    CHUNK,
    BackgroundDigest,
    KnownDigest,
    Pipe,
    Verifier,
    sha256_bytes,
    sha256_file,
)
from preserve.oci.stores import Descriptor
from preserve.oci.transport import TRANSIENT, TransientError, Transport
from preserve.progress import Progress, Task

MONOLITHIC_MAX = 64 << 20  # blobs up to this size go in one PUT
CHUNK_SIZE = 128 << 20  # PATCH size for bigger ones
OCTETS = {"Content-Type": "application/octet-stream"}


class FileSlice:
    """``length`` bytes of a file from ``offset``, as a streaming request body."""

    def __init__(self, source: Path | bytes, offset: int, length: int, task: Task | None) -> None:
        self._source = source
        self._offset = offset
        self._length = length
        self._task = task
        self._fh: IO[bytes] | None = None
        self._left = 0
        self.rewind()

    def rewind(self) -> None:
        """Start over (the body is sent again after a 401 answered with a new token)."""
        self._close()
        src = self._source
        self._fh = io.BytesIO(src) if isinstance(src, bytes) else src.open("rb")
        self._fh.seek(self._offset)
        self._left = self._length

    def _close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK):
            yield chunk

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0 or self._fh is None:
            self._close()
            return b""
        data = self._fh.read(self._left if size < 0 else min(size, self._left))
        self._left = self._left - len(data) if data else 0
        if self._task is not None:
            self._task.advance(len(data))
        return data


class Digest(Protocol):
    def known(self) -> str | None: ...
    def wait(self) -> str: ...


class _AlreadyThere(Exception):
    """The digest became known during an upload, and the registry has the blob."""


class RegistryBlobs:
    """The blobs of one repository (implements :class:`preserve.oci.crate_io.BlobIO`)."""

    def __init__(
        self, transport: Transport, repo: str, locations: BlobLocations, digests: DigestCache
    ) -> None:
        self.t = transport
        self.repo = repo
        self.locations = locations
        self.digests = digests
        self.stats: dict[str, int] = {"present": 0, "mounted": 0, "uploaded": 0}

    def exists(self, digest: str) -> bool:
        resp = self.t.request(
            "HEAD", self.t.url(self.repo, f"blobs/{digest}"), repo=self.repo, allow=(404,)
        )
        return resp.status_code == 200

    def put_file(self, path: Path, label: str, progress: Progress) -> tuple[str, int]:
        """Upload a file; a big file not hashed before is hashed while it uploads."""
        size = path.stat().st_size
        cached = self.digests.get(path) if size > MONOLITHIC_MAX else None
        digest: Digest
        if cached:
            digest = KnownDigest(cached)
        elif size > MONOLITHIC_MAX:
            digest = BackgroundDigest(path)  # HEAD as soon as it is known (see _chunked)
        else:
            with progress.task(f"hashing {label}", size) as task:
                digest = KnownDigest(sha256_file(path, task)[0])
        self.upload(digest, size, path, label, progress)
        if size > MONOLITHIC_MAX and not cached:
            self._remember(path, digest.wait())
        return digest.wait(), size

    def _remember(self, path: Path, digest: str) -> None:
        """Cache a big file's digest at once: a killed push must find it when run again."""
        self.digests.put(path, digest)
        self.digests.save()

    def put_bytes(self, data: bytes) -> str:
        digest = sha256_bytes(data)
        self.upload(KnownDigest(digest), len(data), data, "blob", None)
        return digest

    def upload(
        self, digest: Digest, size: int, source: Path | bytes, label: str, progress: Progress | None
    ) -> str:
        """Make the blob present; say whether it was present, mounted or uploaded."""
        known = digest.known()
        if known and self.exists(known):
            how = "present"
        else:
            how = self._upload_retrying(digest, size, source, label, progress)
        self.stats[how] += 1
        self.locations.add(digest.wait(), self.repo)
        return how

    def _upload_retrying(
        self, digest: Digest, size: int, source: Path | bytes, label: str, progress: Progress | None
    ) -> str:
        for attempt in range(1, self.t.attempts + 1):
            try:
                return self._upload_once(digest, size, source, label, progress)
            except _AlreadyThere:
                return "present"
            except TransientError:
                if self.exists(digest.wait()):
                    return "uploaded"  # the last request failed, but the blob arrived
                if attempt == self.t.attempts:
                    raise
                self.t.pause(attempt, None)
        raise AssertionError("unreachable")

    def _upload_once(
        self, digest: Digest, size: int, source: Path | bytes, label: str, progress: Progress | None
    ) -> str:
        uploads = self.t.url(self.repo, "blobs/uploads/")
        known = digest.known()
        other = self.locations.other_repo(known, self.repo) if known else None
        if known and other:
            mount = f"{uploads}?mount={known}&from={other}"
            resp = self.t.request("POST", mount, repo=self.repo, body=b"", ok=(201, 202))
            if resp.status_code == 201:
                return "mounted"
        else:
            resp = self.t.request("POST", uploads, repo=self.repo, body=b"", ok=(202,))
        location = self.t.location(resp)
        if progress is None:
            self._put(location, digest.wait(), FileSlice(source, 0, size, None))
            return "uploaded"
        with progress.task(f"uploading {label}", size) as task:
            if size <= MONOLITHIC_MAX:
                self._put(location, digest.wait(), FileSlice(source, 0, size, task))
            else:
                self._chunked(location, digest, size, source, task)
        return "uploaded"

    def _put(self, location: str, digest: str, body: FileSlice | bytes) -> None:
        sep = "&" if "?" in location else "?"
        self.t.request(
            "PUT",
            f"{location}{sep}digest={digest}",
            repo=self.repo,
            headers=OCTETS,
            body=body,
            ok=(201,),
            attempts=1,  # a failed body may have been half written: start a new upload
        )

    def _chunked(
        self, location: str, digest: Digest, size: int, source: Path | bytes, task: Task
    ) -> None:
        offset = 0
        failures = 0
        checked = digest.known() is not None
        while offset < size:
            if not checked and (known := digest.known()):
                checked = True
                if isinstance(source, Path):
                    self._remember(source, known)
                if self.exists(known):  # hashed meanwhile: the registry has it after all
                    self._cancel(location)
                    raise _AlreadyThere
            end = min(offset + CHUNK_SIZE, size) - 1
            body = FileSlice(source, offset, end - offset + 1, task)
            headers = {**OCTETS, "Content-Range": f"{offset}-{end}"}
            try:
                resp = self.t.request(
                    "PATCH", location, repo=self.repo, headers=headers, body=body,
                    ok=(202,), allow=(416,), attempts=1,
                )  # fmt: skip
                if resp.status_code == 202:
                    location = self.t.location(resp)
                    offset = end + 1
                    continue
            except TransientError:
                pass
            failures += 1
            if failures >= self.t.attempts:
                raise TransientError(f"the chunked upload to {self.repo} kept failing")
            self.t.pause(failures, None)
            location, offset = self._status(location)
        self._put(location, digest.wait(), b"")

    def _cancel(self, location: str) -> None:
        with suppress(RegistryError):  # an abandoned upload is cleaned up by the registry
            self.t.request("DELETE", location, repo=self.repo, ok=(204,), allow=(404,), attempts=1)

    def _status(self, location: str) -> tuple[str, int]:
        """Where an interrupted chunked upload stands (GET on its Location)."""
        resp = self.t.request("GET", location, repo=self.repo, ok=(204,), allow=(404,))
        if resp.status_code == 404:
            raise TransientError("the registry forgot the interrupted upload; starting over")
        end = resp.headers.get("Range", "0-0").partition("-")[2]
        received = int(end) + 1 if int(end or 0) > 0 else 0
        return self.t.location(resp), received

    def fetch_blob(self, desc: Descriptor, out: Path, label: str, progress: Progress) -> None:
        """Download, hash and write at once (see :class:`Pipe`); retry what the network broke.

        A failure to write (a full disk) is not retried: downloading again
        would only fill the disk again.
        """
        url = self.t.url(self.repo, f"blobs/{desc.digest}")
        for attempt in range(1, self.t.attempts + 1):
            resp = self.t.request("GET", url, repo=self.repo, stream=True)
            try:
                with out.open("wb") as fh, progress.task(f"downloading {label}", desc.size) as task:
                    verifier = Verifier(desc.digest, desc.size, label)
                    Pipe(desc.size).run(_receiver(resp, desc.size), fh.write, verifier, task)
                resp.raw.release_conn()  # read to its end: the connection serves the next blob
                self.locations.add(desc.digest, self.repo)
                return
            except TRANSIENT as exc:
                if attempt == self.t.attempts:
                    raise RegistryError(
                        f"downloading {label} from {self.t.host} failed {attempt} times: "
                        f"{net.reason(exc)}",
                        hint="check that the registry is up and the network is stable",
                    ) from exc
                self.t.pause(attempt, None)
            except OSError as exc:
                raise RegistryError(
                    f"cannot write {label} to {out}: {exc.strerror or exc}",
                    hint="free space there, or pull elsewhere",
                ) from exc
            finally:
                net.abort(resp)  # a no-op once released; else wakes the receiving thread
        raise AssertionError("unreachable")


def _receiver(resp: requests.Response, size: int) -> Callable[[memoryview], int]:
    """``readinto`` of the raw body, raising a transient error on anything but a clean end.

    It reads from http.client's response under urllib3's, saving urllib3's
    copy and allocation of every block; bytes are the body as sent (no
    decoding), as a digest needs. An end before ``size`` bytes is a broken
    transfer (worth retrying), unlike too many bytes (the verifier's refusal).
    """
    raw: Any = getattr(resp.raw, "_fp", None) or resp.raw
    received = 0

    def readinto(view: memoryview) -> int:
        nonlocal received
        try:
            got = int(raw.readinto(view) or 0)
        except (OSError, HTTPException, HTTPError) as exc:
            raise requests.ConnectionError(f"the transfer broke off: {exc!r}") from exc
        if got == 0 and received < size:
            raise requests.exceptions.ChunkedEncodingError(
                f"the connection closed after {received} of {size} bytes"
            )
        received += got
        return got

    return readinto
