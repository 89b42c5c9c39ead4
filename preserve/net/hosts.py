"""Which hosts are this machine: loopback detection, in one place.

Loopback registries are spoken to over plain HTTP (as the Docker Engine does),
loopback URLs in DOI metadata keep ``http://``, and loopback hosts bypass any
proxy (a proxy cannot reach the reader's own loopback).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def host_name(host: str) -> str:
    """The name or address in ``HOST``, ``HOST:PORT``, ``[V6]``, ``[V6]:PORT`` or bare ``V6``."""
    host = host.strip()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:  # HOST:PORT; two or more colons is a bare IPv6 address
        return host.split(":", 1)[0]
    return host


def is_loopback(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8, ``::1`` and IPv4-mapped loopback, with or
    without a port."""
    name = host_name(host).rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def url_is_loopback(url: str) -> bool:
    return is_loopback(urlsplit(url).netloc.rsplit("@", 1)[-1])


def server_of(url: str) -> str:
    """``host[:port]`` of a URL, without user info: how messages name a server."""
    parts = urlsplit(url)
    return parts.netloc.rsplit("@", 1)[-1] or url
