"""Checksums: HTTP digest headers, and hashers, shared by the host and the shim.

Headers: RFC 3230 ``Digest`` / ``Want-Digest`` and RFC 9530 ``Repr-Digest``.
dCache (UserGuide webdav.md, "Checksums") answers ``Want-Digest`` on HEAD, GET
and PUT with a ``Digest`` header listing every requested checksum it has
stored: ``adler32`` as 8 hex digits, ``md5``/``sha``/``sha-256``/``sha-512`` in
base64, and no header at all for algorithms it did not compute. RFC 9530
replaces this with ``Repr-Digest: sha-256=:<base64>:``; WLCG treats ``adler``
and ``adler32`` as the same algorithm. Everything is normalised here to
lower-case algorithm names (``adler32``, ``md5``, ``sha1``, ``sha256``,
``sha512``) mapping to lower-case hex.

Stdlib only, Python >= 3.8 (see :mod:`preserve.shim`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import zlib
from typing import Mapping, Protocol

# Best first: a collision-resistant hash lets the stager detect a changed input
# without downloading it; adler32 (dCache's default) still catches corruption.
WANT_DIGEST = "sha-256;q=1, sha;q=0.8, md5;q=0.5, adler32;q=0.3"
WANT_REPR_DIGEST = "sha-256=10, sha-512=8, md5=3, adler=1"

_NAMES = {
    "adler32": "adler32",
    "adler": "adler32",
    "md5": "md5",
    "sha": "sha1",
    "sha-1": "sha1",
    "sha1": "sha1",
    "sha-256": "sha256",
    "sha256": "sha256",
    "sha-512": "sha512",
    "sha512": "sha512",
}
# Digest length in bytes of each algorithm.
_LENGTHS = {"adler32": 4, "md5": 16, "sha1": 20, "sha256": 32, "sha512": 64}
_HEX = re.compile(r"^[0-9a-fA-F]+$")


def _to_hex(algorithm: str, value: str) -> str | None:
    """Hex of a digest given in hex or base64 (told apart by length), or None if invalid."""
    length = _LENGTHS[algorithm]
    value = value.strip()
    if algorithm == "adler32" and _HEX.match(value) and len(value) <= 8:
        return value.lower().rjust(8, "0")  # dCache may drop leading zeros
    if len(value) == 2 * length and _HEX.match(value):
        return value.lower()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == length else None


def wanted(header: str = WANT_DIGEST) -> set[str]:
    """The algorithms a ``Want-Digest`` header asks for (q > 0), by our names."""
    out = set()
    for item in header.split(","):
        name, _, q = item.partition(";")
        algorithm = _NAMES.get(name.strip().lower())
        if algorithm and q.strip() not in ("q=0", "q=0.0"):
            out.add(algorithm)
    return out


def parse_digest(header: str | None) -> dict[str, str]:
    """Checksums in an RFC 3230 ``Digest`` header (or dCache ``Checksums`` property)."""
    out: dict[str, str] = {}
    for item in (header or "").split(","):
        name, sep, value = item.partition("=")
        algorithm = _NAMES.get(name.strip().lower())
        if sep and algorithm:
            hexed = _to_hex(algorithm, value)
            if hexed:
                out[algorithm] = hexed
    return out


def parse_repr_digest(header: str | None) -> dict[str, str]:
    """Checksums in an RFC 9530 ``Repr-Digest`` header (``alg=:base64:`` members)."""
    out: dict[str, str] = {}
    for item in (header or "").split(","):
        name, sep, value = item.partition("=")
        algorithm = _NAMES.get(name.strip().lower())
        value = value.strip()
        if not (sep and algorithm and value.startswith(":") and value.endswith(":")):
            continue
        try:
            raw = base64.b64decode(value[1:-1], validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(raw) == _LENGTHS[algorithm]:
            out[algorithm] = raw.hex()
    return out


def checksums_from_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """All checksums a response's ``Digest`` and ``Repr-Digest`` headers carry."""
    lower = {k.lower(): v for k, v in headers.items()}
    found = parse_digest(lower.get("digest"))
    found.update(parse_repr_digest(lower.get("repr-digest")))
    return found


# -- hashers ---------------------------------------------------------------------------

ALGORITHMS = ("sha256", "sha512", "sha1", "md5", "adler32")
# The strongest first: the checksum that identifies an input in an invocation key. Only
# what every description asks for (Want-Digest above; a WebDAV PROPFIND lists all), so
# the host and the shim pick the same one from the same storage.
PREFERENCE = ("sha256", "sha1", "md5", "adler32")


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...
    def hexdigest(self) -> str: ...


class Adler32:
    """adler32 with hashlib's interface (dCache's default checksum)."""

    def __init__(self) -> None:
        self._value = 1

    def update(self, data: bytes | memoryview, /) -> None:
        self._value = zlib.adler32(data, self._value)

    def hexdigest(self) -> str:
        return f"{self._value:08x}"


def new_hasher(algorithm: str) -> Hasher:
    """A hasher for one of :data:`ALGORITHMS` (lower-case names)."""
    if algorithm == "adler32":
        return Adler32()
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported checksum algorithm {algorithm!r}")
    return hashlib.new(algorithm)


def checksum_token(checksums: Mapping[str, str]) -> str | None:
    """``ALGORITHM:HEX`` of the strongest checksum known, or None."""
    for algorithm in PREFERENCE:
        if checksums.get(algorithm):
            return f"{algorithm}:{checksums[algorithm]}"
    return None
