"""Bounded reads of what servers send: no answer is trusted to be small.

Every response that is not streamed is read through :func:`read_body` by the
session (see :mod:`preserve.net.session`), so a registry, DataCite or a data
server cannot make preserve hold more than :data:`BODY_MAX` in memory. OCI
manifests and indexes have their own, smaller limit (distribution-spec: clients
and registries SHOULD handle at least 4 MiB; nothing larger is accepted here).
Streamed bodies (blobs, input data) are bounded by their consumers, against the
size recorded for them.
"""

from __future__ import annotations

import json
from typing import Any

import requests

from preserve.errors import PreserveError

KiB = 1 << 10
MiB = 1 << 20
BODY_MAX = 16 * MiB  # any non-streamed answer (JSON documents, XML, error pages)
MANIFEST_MAX = 4 * MiB  # OCI manifests and image indexes
ERROR_BODY_MAX = 64 * KiB  # the part of an error answer worth reading for its message


def too_large(
    label: str, limit: int, error: type[PreserveError], size: int | None = None
) -> PreserveError:
    said = f"{size} bytes" if size is not None else "more"
    return error(
        f"{label} is too large: {said}, the limit is {limit} bytes",
        hint="the server sent more than any valid answer needs; it may be misconfigured or "
        "hostile, so nothing of it was used",
    )


def read_body(resp: requests.Response, limit: int, label: str, error: type[PreserveError]) -> bytes:
    """The body of ``resp``, refused (and the connection dropped) beyond ``limit`` bytes.

    A ``Content-Length`` over the limit is refused before anything is read;
    otherwise at most ``limit + 1`` decoded bytes are read (urllib3 >= 2.6 bounds
    decompression per read, so a gzip bomb cannot expand past that either).
    """
    declared = resp.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        resp.close()
        raise too_large(label, limit, error, int(declared))
    parts: list[bytes] = []
    total = 0
    for chunk in resp.iter_content(64 * KiB):
        total += len(chunk)
        if total > limit:
            resp.close()
            raise too_large(label, limit, error)
        parts.append(chunk)
    return b"".join(parts)


def parse_json(data: bytes, label: str, error: type[PreserveError]) -> Any:
    """JSON from bounded bytes; deep nesting (a recursion bomb) is an error, not a crash."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise error(
            f"{label} is not valid JSON",
            hint="the server answered something else than expected; check the URL",
        ) from exc


def json_object(data: bytes, label: str, error: type[PreserveError]) -> dict[str, Any]:
    value = parse_json(data, label, error)
    if not isinstance(value, dict):
        raise error(f"{label} is not a JSON object", hint="check the URL; the server may be wrong")
    return value
