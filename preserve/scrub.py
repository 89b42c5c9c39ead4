"""Credentials scrubbed out of files, streaming: logs, crate files, anything large.

The policy is :mod:`preserve.secrets`; this applies it to bytes. Known values
(withheld environment values, values from URIs and configs) become
``<withheld by preserve>`` wherever they occur; token shapes become ``***`` in
text (a chunk with NUL bytes is binary data, searched for known values only).
Files are read in 1 MiB chunks, so a log of gigabytes needs no more memory than
that, and a value cut by a chunk boundary is still found.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from preserve.secrets import MASK, TOKEN_SHAPES, WITHHELD, known_values

CHUNK = 1 << 20
# A match can extend this far (token shapes are bounded); a scan keeps this much back
# from each chunk's end until the next chunk shows where the match ends.
_OVERLAP = 20 << 10
_TOKEN_BYTES = re.compile(TOKEN_SHAPES.pattern.encode())


class _Null:
    def write(self, data: bytes) -> int:
        return len(data)


class Scrubber:
    """Replaces known values and credential shapes in bytes and files."""

    def __init__(self, known: Iterable[str] = (), *, shapes: bool = True) -> None:
        self._known = [v.encode() for v in known_values(known) if len(v) < _OVERLAP]
        self._shapes = shapes

    def data(self, data: bytes) -> tuple[bytes, int]:
        """``data`` scrubbed, and the number of replacements."""
        out, count, _ = self._chunk(data, final=True)
        return out, count

    def stream(self, src: BinaryIO, dst: BinaryIO) -> int:
        """Copy ``src`` to ``dst`` scrubbed, in bounded memory; the number of replacements."""
        pending, count = b"", 0
        while True:
            chunk = src.read(CHUNK)
            buf = pending + chunk
            out, n, used = self._chunk(buf, final=not chunk)
            dst.write(out)
            count += n
            pending = buf[used:]
            if not chunk:
                return count

    def found(self, path: Path) -> int:
        """How many replacements scrubbing ``path`` would make (it is read, not changed)."""
        with path.open("rb") as src:
            return self.stream(src, _Null())  # type: ignore[arg-type]

    def file(self, path: Path) -> int:
        """Scrub ``path`` in place (atomically, keeping its mode); the number of replacements.

        A file with nothing to replace is read once and left untouched.
        """
        if not self.found(path):
            return 0
        with path.open("rb") as src:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            try:
                with os.fdopen(fd, "wb") as dst:
                    count = self.stream(src, dst)
                os.chmod(tmp, path.stat().st_mode & 0o7777)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return count

    def _chunk(self, data: bytes, *, final: bool) -> tuple[bytes, int, int]:
        """(scrubbed bytes up to a safe point, replacements, bytes consumed)."""
        safe = len(data) if final else max(0, len(data) - _OVERLAP)
        pieces: list[bytes] = []
        pos, count = 0, 0
        for start, end, repl in self._matches(data):
            if start >= safe:
                break
            if end <= pos:
                continue  # inside a match already replaced
            if end > safe and not final:
                safe = max(start, pos)  # it may extend into the next chunk: decide then
                break
            pieces += [data[pos : max(start, pos)], repl]
            pos, count = end, count + 1
        pieces.append(data[pos:safe])
        return b"".join(pieces), count, max(safe, pos)

    def _matches(self, data: bytes) -> list[tuple[int, int, bytes]]:
        found: list[tuple[int, int, bytes]] = []
        for value in self._known:  # bytes.find is memchr-fast; a regex alternation is not
            at = data.find(value)
            while at != -1:
                found.append((at, at + len(value), WITHHELD.encode()))
                at = data.find(value, at + 1)
        if self._shapes and b"\0" not in data:
            found += [(m.start(), m.end(), MASK.encode()) for m in _TOKEN_BYTES.finditer(data)]
        found.sort(key=lambda t: (t[0], -t[1]))
        return found


def scrub(data: bytes, secrets: Iterable[str]) -> tuple[bytes, int]:
    """Replace every occurrence of each secret value and token shape; (data, replacements)."""
    return Scrubber(secrets).data(data)


def scrub_file(path: Path, secrets: Iterable[str]) -> int:
    """Scrub a file in place in bounded memory; the number of replacements."""
    return Scrubber(secrets).file(path)
