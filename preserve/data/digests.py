"""HTTP digest headers (RFC 3230 ``Digest``, RFC 9530 ``Repr-Digest``), as dCache sends them.

Defined once in :mod:`preserve.shim.digests`, which the function shim shares.
"""

from preserve.shim.digests import (
    WANT_DIGEST,
    WANT_REPR_DIGEST,
    checksums_from_headers,
    parse_digest,
    parse_repr_digest,
)

__all__ = [
    "WANT_DIGEST",
    "WANT_REPR_DIGEST",
    "checksums_from_headers",
    "parse_digest",
    "parse_repr_digest",
]
