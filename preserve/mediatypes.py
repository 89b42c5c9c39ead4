"""IANA media types for files in crates: defined once in :mod:`preserve.shim.mediatypes`."""

from preserve.shim.mediatypes import guess

__all__ = ["guess"]
