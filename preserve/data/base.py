"""The data resolver interface: what a remote input is, and how its bytes are read.

One resolver per URI scheme, registered in the ``preserve.resolvers`` entry-point
group (``file``, ``http``, ``https``, ``dav``, ``davs`` ship built in). A resolver
describes an input without transferring it (:meth:`DataResolver.stat`) and
streams its bytes into a sink (:meth:`DataResolver.fetch`). Verification and
caching are not the resolver's business: see :mod:`preserve.data.stage`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol
from urllib.parse import urlsplit

from preserve import plugins
from preserve.errors import DataError, PluginNotFound
from preserve.progress import Progress
from preserve.secrets import redact_uri
from preserve.settings import Settings


@dataclass(frozen=True)
class RemoteInfo:
    """What a server (or file system) says about an input, without its bytes."""

    uri: str
    size: int | None
    encoding_format: str | None  # media type, e.g. "application/x-hdf5"
    last_modified: str | None  # ISO 8601 UTC
    etag: str | None
    # algorithm (lower-case: adler32, md5, sha1, sha256, sha512) -> lower-case hex digest
    checksums: Mapping[str, str] = field(default_factory=dict)


class Sink(Protocol):
    """Where fetched bytes go: any binary file object (``BinaryIO``) fits."""

    def write(self, data: bytes, /) -> int: ...


class DataResolver(Protocol):
    schemes: ClassVar[frozenset[str]]

    def stat(self, uri: str) -> RemoteInfo:
        """Describe ``uri`` without transferring its content."""

    def fetch(self, uri: str, sink: Sink, *, progress: Progress) -> RemoteInfo:
        """Stream the content of ``uri`` into ``sink``; describe what was sent."""


def scheme_of(uri: str) -> str:
    scheme = urlsplit(uri).scheme.lower()
    if not scheme:
        raise DataError(
            f"{uri!r} is not a URI",
            hint="name inputs by URI, e.g. https://host/path/file.h5 or file:///abs/path",
        )
    return scheme


def resolver_for(uri: str, settings: Settings | None = None) -> DataResolver:
    """The resolver registered for the scheme of ``uri``, configured from ``settings``
    (default: loaded from the config file and environment)."""
    scheme = scheme_of(uri)
    try:
        plugins.check_name(plugins.RESOLVERS, scheme)
    except PluginNotFound as exc:
        names = ", ".join(plugins.available(plugins.RESOLVERS)) or "none"
        raise PluginNotFound(
            f"no data resolver handles {scheme}: URIs such as {redact(uri)} "
            f"(available schemes: {names})",
            hint="use one of those schemes, or install a plug-in for this one",
        ) from exc
    resolver: DataResolver = plugins.create(
        plugins.RESOLVERS, scheme, settings if settings is not None else Settings.load()
    )
    return resolver


# User info and credential-bearing query values (dCache macaroons in ``authz``,
# OAuth tokens, pre-signed S3 URLs) are never shown: one policy, in preserve.secrets.
redact = redact_uri
