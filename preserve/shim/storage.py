"""Inputs staged and verified, outputs uploaded with their checksums: the shim's storage.

Inputs: ``http(s)://``, ``dav(s)://`` (dCache's WebDAV door) and ``file://``.
A ``HEAD`` with ``Want-Digest`` describes an input before any byte moves (size
and the checksums the storage keeps, e.g. dCache's adler32); the download is
hashed while it streams and refused when its size or any reported checksum
differs, and when it differs from what the published run recorded. Verified
files are cached by SHA-256 (and indexed by the storage's checksum), so a warm
function does not download the same input twice; nothing unverified is cached.

Outputs: ``PUT`` with ``Content-MD5`` (dCache refuses a corrupted upload) and
``Want-Digest``, the storage's answer checked against the file's own digests;
``file://`` is written beside the target and renamed into place.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import quote, unquote, urlsplit

from preserve.shim.digests import (
    ALGORITHMS,
    WANT_DIGEST,
    WANT_REPR_DIGEST,
    Hasher,
    checksums_from_headers,
    new_hasher,
)
from preserve.shim.documents import ShimError
from preserve.shim.http import Client
from preserve.shim.redact import redact_uri

CHUNK = 1 << 20
WANT = {"Want-Digest": WANT_DIGEST, "Want-Repr-Digest": WANT_REPR_DIGEST}  # as the host asks
UPLOAD_DIGESTS = "sha-256, adler32"


@dataclass(frozen=True)
class Described:
    """What the storage says about an input before it is read."""

    uri: str
    size: int | None
    checksums: dict[str, str] = field(default_factory=dict)  # algorithm -> hex
    media_type: str | None = None


@dataclass(frozen=True)
class Staged:
    """A verified input file on the function's disk."""

    uri: str
    path: str
    size: int
    sha256: str
    checksums: dict[str, str]  # what the storage reported (adler32, md5...), verified
    media_type: str | None


def scheme(uri: str) -> str:
    return urlsplit(uri).scheme.lower()


def local_path(uri: str, roots: tuple[str, ...] | None = None) -> str:
    """The path of a ``file://`` URI; with ``roots``, it must lie in one of those folders
    once links are resolved (the function sees only the folders it was given)."""
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise ShimError(f"{redact_uri(uri)}: file:// URIs name this machine only", status=400)
    path = unquote(parts.path)
    if roots is None:
        return path
    real = os.path.realpath(path)
    for root in roots:
        top = os.path.realpath(root)
        if real == top or real.startswith(top.rstrip("/") + "/"):
            return real
    raise ShimError(
        f"{redact_uri(uri)} is outside the folders this function may use "
        f"({', '.join(roots) or 'none'})",
        hint="file:// data must be in a folder the target shares with the function "
        "(the local target: [targets.local] mounts)",
        status=403,
    )


def describe(client: Client, uri: str, deadline: float | None) -> Described:
    if scheme(uri) == "file":
        path = local_path(uri, client.file_roots)
        try:
            return Described(uri, os.stat(path).st_size)
        except OSError as exc:
            raise ShimError(f"{redact_uri(uri)}: {exc.strerror}", status=404) from exc
    response = client.request("HEAD", uri, headers=WANT, deadline=deadline)
    response.close()
    length = response.header("content-length")
    return Described(
        uri,
        int(length) if length and length.isdigit() else None,
        checksums_from_headers(response.headers),
        (response.header("content-type") or "").split(";")[0].strip() or None,
    )


class Cache:
    """Verified files by SHA-256, and an index from the storage's checksums to them."""

    def __init__(self, root: str) -> None:
        self.files = os.path.join(root, "sha256")
        self.index = os.path.join(root, "checksums")
        os.makedirs(self.files, exist_ok=True)
        os.makedirs(self.index, exist_ok=True)

    def find(self, described: Described, expected_sha256: str | None) -> str | None:
        """The cached SHA-256 of what ``described`` names, if the cache has it."""
        candidates = [expected_sha256, described.checksums.get("sha256")]
        for algorithm, value in sorted(described.checksums.items()):
            candidates.append(self._indexed(algorithm, value, described.size))
        for sha256 in candidates:
            if sha256 and os.path.isfile(os.path.join(self.files, sha256)):
                size = os.path.getsize(os.path.join(self.files, sha256))
                if described.size is None or size == described.size:
                    return sha256
        return None

    def _indexed(self, algorithm: str, value: str, size: int | None) -> str | None:
        try:
            with open(os.path.join(self.index, f"{algorithm}-{value}-{size}")) as fh:
                return fh.read().strip() or None
        except OSError:
            return None

    def remember(self, checksums: Mapping[str, str], size: int, sha256: str) -> None:
        for algorithm, value in checksums.items():
            if algorithm != "sha256":
                with open(os.path.join(self.index, f"{algorithm}-{value}-{size}"), "w") as fh:
                    fh.write(sha256)

    def path(self, sha256: str) -> str:
        return os.path.join(self.files, sha256)


def stage(
    client: Client,
    name: str,
    described: Described,
    cache: Cache,
    *,
    expected_sha256: str | None = None,
    expected_size: int | None = None,
    deadline: float | None = None,
) -> Staged:
    """Input ``name`` as a verified local file (see the module docstring)."""
    uri = described.uri
    check_expected(uri, described, expected_sha256, expected_size, name)
    if scheme(uri) == "file":
        path = local_path(uri, client.file_roots)
        digests = hash_file(path, ("sha256",))
        _check_recorded(name, uri, expected_sha256, digests["sha256"])
        return Staged(uri, path, os.path.getsize(path), digests["sha256"], {}, None)
    cached = cache.find(described, expected_sha256)
    if cached:
        size = os.path.getsize(cache.path(cached))
        return Staged(
            uri, cache.path(cached), size, cached, described.checksums, described.media_type
        )
    algorithms = sorted({"sha256", *(a for a in described.checksums if a in ALGORITHMS)})
    response = client.request("GET", uri, headers=WANT, deadline=deadline)
    arrived = {**described.checksums, **checksums_from_headers(response.headers)}
    fd, tmp = tempfile.mkstemp(dir=cache.files, prefix=".partial-")
    try:
        with os.fdopen(fd, "wb") as out:
            hashers = {a: new_hasher(a) for a in algorithms}
            size = _copy(response, out, hashers)
        response.close()
        actual = {a: h.hexdigest() for a, h in hashers.items()}
        _check_transfer(name, uri, described, arrived, actual, size)
        _check_recorded(name, uri, expected_sha256, actual["sha256"])
        os.chmod(tmp, 0o444)
        os.replace(tmp, cache.path(actual["sha256"]))
    except BaseException:
        response.close()
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    reported = {a: v for a, v in arrived.items() if a != "sha256" or v == actual["sha256"]}
    cache.remember(reported, size, actual["sha256"])
    return Staged(
        uri, cache.path(actual["sha256"]), size, actual["sha256"], reported, described.media_type
    )


def _copy(response: object, out: object, hashers: Mapping[str, Hasher]) -> int:
    size = 0
    while True:
        chunk = response.body.read(CHUNK)  # type: ignore[attr-defined]
        if not chunk:
            return size
        for hasher in hashers.values():
            hasher.update(chunk)
        out.write(chunk)  # type: ignore[attr-defined]
        size += len(chunk)


def _changed(name: str, uri: str, what: str) -> ShimError:
    return ShimError(
        f"input {name!r} ({redact_uri(uri)}) does not match: {what}",
        hint="the data changed, or was corrupted on its way; nothing was run on it",
        status=422,
    )


def check_expected(
    uri: str,
    described: Described,
    expected_sha256: str | None,
    expected_size: int | None,
    name: str = "",
) -> None:
    """Refuse, from its description alone, an input that is not what was recorded."""
    if expected_size is not None and described.size is not None and described.size != expected_size:
        raise _changed(
            name, described.uri, f"recorded {expected_size} bytes, the storage has {described.size}"
        )
    known = described.checksums.get("sha256")
    if expected_sha256 and known and known != expected_sha256:
        raise _changed(
            name, described.uri, f"recorded sha256 {expected_sha256}, the storage reports {known}"
        )


def _check_transfer(
    name: str,
    uri: str,
    described: Described,
    arrived: Mapping[str, str],
    actual: Mapping[str, str],
    size: int,
) -> None:
    if described.size is not None and size != described.size:
        raise _changed(name, uri, f"{size} of {described.size} bytes arrived")
    for algorithm, value in sorted(arrived.items()):
        if algorithm in actual and actual[algorithm] != value:
            raise _changed(
                name,
                uri,
                f"the storage reports {algorithm} {value}, the data that arrived has "
                f"{actual[algorithm]}",
            )


def _check_recorded(name: str, uri: str, expected: str | None, sha256: str) -> None:
    if expected and sha256 != expected:
        raise _changed(name, uri, f"recorded sha256 {expected}, got {sha256}")


def hash_file(
    path: str, algorithms: tuple[str, ...] = ("sha256", "md5", "adler32")
) -> dict[str, str]:
    hashers = {a: new_hasher(a) for a in algorithms}
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(CHUNK)
            if not chunk:
                break
            for hasher in hashers.values():
                hasher.update(chunk)
    return {a: h.hexdigest() for a, h in hashers.items()}


# -- outputs --------------------------------------------------------------------------


def join(folder: str, relative: str) -> str:
    """``folder`` (a URI, with or without its trailing slash) + a relative path; a query
    (a macaroon in ``?authz=``) stays at the end."""
    parts = urlsplit(folder)
    path = parts.path.rstrip("/") + "/" + quote(relative, safe="/")
    return parts._replace(path=path).geturl()


def upload(
    client: Client,
    path: str,
    uri: str,
    digests: Mapping[str, str],
    media_type: str,
    deadline: float | None = None,
) -> None:
    """Store the file ``path`` at ``uri``, verified by the storage where it can."""
    if scheme(uri) == "file":
        _write_local(path, local_path(uri, client.file_roots))
        return
    size = os.path.getsize(path)
    headers = {
        "Content-Type": media_type,
        "Content-MD5": base64.b64encode(bytes.fromhex(digests["md5"])).decode(),
        "Want-Digest": UPLOAD_DIGESTS,
    }
    with open(path, "rb") as fh:
        for attempt in (1, 2):
            try:
                response = client.request(
                    "PUT",
                    uri,
                    headers=headers,
                    data=fh,
                    length=size,
                    deadline=deadline,
                    ok=(200, 201, 204),
                )
                break
            except ShimError as exc:
                if attempt == 2 or "HTTP 409" not in exc.message:
                    raise
                make_folders(client, uri, deadline)  # a WebDAV server that does not create them
    response.close()
    stored = checksums_from_headers(response.headers)
    for algorithm, value in sorted(stored.items()):
        if algorithm in digests and digests[algorithm] != value:
            raise ShimError(
                f"the storage holds {redact_uri(uri)} with {algorithm} {value}, "
                f"but the output has {digests[algorithm]}",
                hint="the upload was corrupted; it is not reported as an output",
                status=502,
            )


def make_folders(client: Client, uri: str, deadline: float | None) -> None:
    parts = urlsplit(uri)
    segments = [s for s in parts.path.split("/") if s][:-1]
    for i in range(1, len(segments) + 1):
        folder = parts._replace(path="/" + "/".join(segments[:i]) + "/").geturl()
        client.request("MKCOL", folder, deadline=deadline, ok=(201, 405)).close()


def _write_local(path: str, target: str) -> None:
    folder = os.path.dirname(target)
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".partial-")
        with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
            shutil.copyfileobj(src, out, CHUNK)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        raise ShimError(f"cannot write {target}: {exc.strerror or exc}", status=502) from exc


def read_small(client: Client, uri: str, limit: int, deadline: float | None = None) -> bytes | None:
    """A small document at ``uri``; None when there is none (404)."""
    if scheme(uri) == "file":
        try:
            with open(local_path(uri, client.file_roots), "rb") as fh:
                data = fh.read(limit + 1)
        except FileNotFoundError:
            return None
        if len(data) > limit:
            raise ShimError(f"{redact_uri(uri)} is larger than {limit} bytes", status=502)
        return data
    try:
        response = client.request("GET", uri, deadline=deadline)
    except ShimError as exc:
        if exc.status == 404:
            return None
        raise
    try:
        return response.read(limit)
    finally:
        response.close()
