"""``dav://`` and ``davs://`` inputs: WebDAV as dCache serves it.

The URI maps to ``http://`` / ``https://``. :meth:`WebDavResolver.stat` sends a
``PROPFIND`` with ``Depth: 0`` asking for the standard live properties and
dCache's ``{http://www.dcache.org/2013/webdav}Checksums`` (comma-separated RFC
3230 values; dCache returns it only when asked for by name). Downloads are the
HTTP resolver's streamed GET, with its redirects, digests, retries and resume.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import ClassVar

from preserve.data.base import RemoteInfo, Sink, redact
from preserve.data.digests import checksums_from_headers, parse_digest
from preserve.data.http import WANT, HttpResolver, folder_error, http_date_to_iso
from preserve.errors import DataError
from preserve.progress import Progress

DAV = "DAV:"
DCACHE = "http://www.dcache.org/2013/webdav"
_PROPFIND = (
    '<?xml version="1.0" encoding="utf-8"?>'
    f'<d:propfind xmlns:d="{DAV}" xmlns:dc="{DCACHE}"><d:prop>'
    "<d:resourcetype/><d:getcontentlength/><d:getcontenttype/>"
    "<d:getlastmodified/><d:getetag/><dc:Checksums/>"
    "</d:prop></d:propfind>"
).encode()


def http_url(uri: str) -> str:
    """``dav://host/p`` -> ``http://host/p``, ``davs://`` -> ``https://``."""
    scheme, sep, rest = uri.partition("://")
    mapped = {"dav": "http", "davs": "https"}.get(scheme.lower())
    if not sep or mapped is None:
        raise DataError(f"{redact(uri)} is not a dav:// or davs:// URI")
    return f"{mapped}://{rest}"


class WebDavResolver(HttpResolver):
    """WebDAV (dCache) inputs: PROPFIND to describe, GET to fetch."""

    schemes: ClassVar[frozenset[str]] = frozenset({"dav", "davs"})

    def stat(self, uri: str) -> RemoteInfo:
        headers = {**WANT, "Depth": "0", "Content-Type": 'application/xml; charset="utf-8"'}
        with self.request(
            "PROPFIND", uri, url=http_url(uri), headers=headers, data=_PROPFIND
        ) as resp:
            if resp.status_code != 207:
                raise DataError(
                    f"PROPFIND {redact(uri)} answered HTTP {resp.status_code}, not 207",
                    hint="the server does not speak WebDAV; use an http(s):// URI instead",
                )
            props = _properties(uri, resp.content)
            extra = checksums_from_headers(resp.headers)
        if props.get("resourcetype") == "collection":
            raise folder_error(uri)
        length = props.get("getcontentlength")
        checksums = {**extra, **parse_digest(props.get("Checksums"))}
        return RemoteInfo(
            uri=uri,
            size=int(length) if length and length.isdigit() else None,
            encoding_format=(props.get("getcontenttype") or "").split(";")[0].strip() or None,
            last_modified=http_date_to_iso(props.get("getlastmodified")),
            etag=props.get("getetag"),
            checksums=checksums,
        )

    def fetch(self, uri: str, sink: Sink, *, progress: Progress) -> RemoteInfo:
        return self.download(uri, http_url(uri), sink, progress)


def _properties(uri: str, body: bytes) -> dict[str, str]:
    """Found (200) properties of the single response in a multistatus body."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise DataError(f"PROPFIND {redact(uri)} returned malformed XML: {exc}") from exc
    props: dict[str, str] = {}
    for propstat in root.iter(f"{{{DAV}}}propstat"):
        status = propstat.findtext(f"{{{DAV}}}status") or ""
        if " 200 " not in f"{status} ":
            continue  # 404 propstat: the server does not have that property
        for prop in propstat.iterfind(f"{{{DAV}}}prop/*"):
            name = prop.tag.rsplit("}", 1)[-1]
            if name == "resourcetype":
                collection = prop.find(f"{{{DAV}}}collection") is not None
                props[name] = "collection" if collection else "file"
            else:
                props[name] = (prop.text or "").strip()
    return props
