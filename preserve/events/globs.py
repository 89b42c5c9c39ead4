"""Path globs of rules: compiled once to a regular expression, and compared with each other.

Syntax, one ``/``-separated segment at a time: ``*`` any characters of one name,
``?`` one character, ``**`` (a whole segment) any number of folders, ``{name}``
a named part of one name (``[^/]+``) that output templates can use. Anything
else is literal. :meth:`Glob.could_contain` says whether a folder may hold a
match (which folders a non-recursive watch must cover), and :func:`intersect`
whether two globs can match one path (which rules' outputs can trigger which:
the loop check).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

_PART = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}|\*|\?|[^*?{]+|\{")
STAR, ANY, DEEP = "*", "?", "**"


@dataclass(frozen=True)
class Glob:
    text: str
    segments: tuple[str, ...]
    regex: re.Pattern[str]
    names: tuple[str, ...]  # the named parts, in order

    def match(self, path: str) -> dict[str, str] | None:
        """The named parts of ``path`` if it matches, else None."""
        found = self.regex.match(path)
        return found.groupdict() if found is not None else None

    @property
    def root(self) -> str:
        """The longest folder every match lies in (the literal segments before any wildcard)."""
        fixed = []
        for segment in self.segments[:-1]:
            if _is_literal(segment):
                fixed.append(segment)
            else:
                break
        return "/" + "/".join(s for s in fixed if s)

    def could_contain(self, folder: str) -> bool:
        """Whether a file under ``folder`` (at any depth) could match."""
        parts = tuple(p for p in folder.split("/") if p)
        return _prefix(self.wildcards, parts)

    @property
    def wildcards(self) -> tuple[str, ...]:
        """The segments with named parts as ``*`` (for comparisons)."""
        return tuple(_plain(s) for s in self.segments if s)


def compile_glob(text: str) -> Glob:
    """``text`` compiled; ValueError saying what is wrong with it."""
    if "//" in text.replace("://", ""):
        raise ValueError("it has an empty folder name (//)")
    segments = tuple(text.split("/"))
    if any(s in (".", "..") for s in segments):
        raise ValueError("'.' and '..' are not allowed in a path glob")
    names: list[str] = []
    pattern = []
    last = len(segments) - 1
    for i, segment in enumerate(segments):
        if segment == DEEP:
            pattern.append(".*" if i == last else "(?:[^/]+/)*")
            continue
        if DEEP in segment:
            raise ValueError("** must be a whole folder name (a/**/b)")
        pattern.append(_segment_regex(segment, names) + ("" if i == last else "/"))
    if len(set(names)) != len(names):
        raise ValueError("a {name} is used twice")
    return Glob(text, segments, re.compile("".join(pattern) + r"\Z"), tuple(names))


def _segment_regex(segment: str, names: list[str]) -> str:
    out = []
    for token in _tokens(segment):
        if token == STAR:
            out.append("[^/]*")
        elif token == ANY:
            out.append("[^/]")
        elif token.startswith("{") and token.endswith("}") and len(token) > 2:
            names.append(token[1:-1])
            out.append(f"(?P<{token[1:-1]}>[^/]+)")
        else:
            out.append(re.escape(token))
    return "".join(out)


def _tokens(segment: str) -> list[str]:
    return [m.group(0) for m in _PART.finditer(segment)]


def _is_literal(segment: str) -> bool:
    return not any(c in segment for c in "*?{")


def _plain(segment: str) -> str:
    """A segment with every ``{name}`` as ``*``."""
    return re.sub(r"\{[A-Za-z_][A-Za-z0-9_]*\}", STAR, segment)


def _prefix(glob: tuple[str, ...], folder: tuple[str, ...]) -> bool:
    """Whether some path matching ``glob`` lies under ``folder`` (its segments)."""

    @cache
    def go(i: int, j: int) -> bool:
        if j == len(folder):
            return i < len(glob)  # a file must follow the folder
        if i == len(glob):
            return False
        if glob[i] == DEEP:
            return go(i + 1, j) or go(i, j + 1)
        return _segments_meet(glob[i], folder[j]) and go(i + 1, j + 1)

    return go(0, 0)


def intersect(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether one path can match both segment globs (``**`` spans folders)."""

    @cache
    def go(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == DEEP and (go(i + 1, j) or (j < len(b) and go(i, j + 1))):
            return True
        if j < len(b) and b[j] == DEEP and (go(i, j + 1) or (i < len(a) and go(i + 1, j))):
            return True
        if i == len(a) or j == len(b) or DEEP in (a[i], b[j]):
            return False
        return _segments_meet(a[i], b[j]) and go(i + 1, j + 1)

    return go(0, 0)


@cache
def _segments_meet(a: str, b: str) -> bool:
    """Whether one name matches both single-segment patterns (``*``, ``?``, literals)."""

    @cache
    def go(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == STAR and (go(i + 1, j) or (j < len(b) and go(i, j + 1))):
            return True
        if j < len(b) and b[j] == STAR and (go(i, j + 1) or (i < len(a) and go(i + 1, j))):
            return True
        if i == len(a) or j == len(b) or STAR in (a[i], b[j]):
            return False
        return (a[i] == b[j] or ANY in (a[i], b[j])) and go(i + 1, j + 1)

    return go(0, 0)
