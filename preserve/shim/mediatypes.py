"""IANA media types for files in crates (RO-Crate ``encodingFormat``, OCI layer types).

Shared by the host and the shim (stdlib only, Python >= 3.8).
"""

from __future__ import annotations

import mimetypes
from pathlib import PurePath

# Python's built-in table only (not /etc/mime.types): the same file gets the same type on
# every machine, so crate metadata and artifact digests do not depend on where they were made.
_BUILTIN = mimetypes.MimeTypes(filenames=())
_EXTRA = {
    ".h5": "application/x-hdf5",
    ".hdf5": "application/x-hdf5",
    ".hdf": "application/x-hdf5",
    ".nxs": "application/x-hdf5",
    ".nx5": "application/x-hdf5",
    ".cbf": "application/octet-stream",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".npy": "application/octet-stream",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".toml": "application/toml",
    ".json": "application/json",
    ".jsonld": "application/ld+json",
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".txt": "text/plain",
    ".log": "text/plain",
    ".md": "text/markdown",
    ".py": "text/x-python",
    ".ipynb": "application/x-ipynb+json",
    ".sh": "text/x-shellscript",
    ".diff": "text/x-diff",
    ".sha256": "text/plain",
    ".html": "text/html",
}
_NAMES = {
    "Dockerfile": "text/plain",
    "ro-crate-metadata.json": "application/ld+json",
    "requirements.txt": "text/plain",
    "apt.txt": "text/plain",
    "postBuild": "text/x-shellscript",
    "runtime.txt": "text/plain",
}


def guess(path: str | PurePath) -> str:
    """The media type for a file name; ``application/octet-stream`` when unknown."""
    p = PurePath(path)
    if p.name in _NAMES:
        return _NAMES[p.name]
    suffix = p.suffix.lower()
    if suffix in _EXTRA:
        return _EXTRA[suffix]
    guessed, _ = _BUILTIN.guess_type(p.name, strict=True)
    return guessed or "application/octet-stream"
