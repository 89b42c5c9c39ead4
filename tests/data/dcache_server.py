"""Moved to :mod:`tests.servers.dcache`; this name stays for existing importers."""

from tests.servers.dcache import DCACHE_NS, DcacheServer, Entry, StoredFile  # noqa: F401
