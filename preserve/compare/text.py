"""Plain-text outputs (a unified diff) and binary outputs (the first differing byte)."""

from __future__ import annotations

import codecs
import difflib
import re
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

import numpy as np

from preserve.compare.findings import Findings
from preserve.compare.lines import NumberLines, match_lines
from preserve.compare.model import Difference, Tolerance
from preserve.compare.values import render

READ_SIZE = 1 << 20
# Larger text files are compared line by line instead of diffed: difflib's
# matching is superlinear and would stall on a multi-GB log.
DIFF_LIMIT = 4 << 20
# How many lines of the unified diff are kept, over all hunks.
DIFF_LINES = 60
_HUNK = re.compile(r"@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@")


def is_text(path: Path) -> bool:
    """Whether the file decodes as UTF-8 and has no NUL byte (as git and grep decide)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(READ_SIZE):
                if b"\0" in chunk:
                    return False
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def compare_text(expected: Path, actual: Path, tol: Tolerance, findings: Findings) -> str | None:
    """Add the differences; return a note if the texts are equal after normalising line ends.

    Lines that differ only in numbers equal within ``tol`` or explained by
    rounding (see :mod:`preserve.compare.lines`) are not differences.
    """
    if not is_text(actual):
        _bytes(expected, actual, findings, "rerun output is not UTF-8 text")
        return None
    numbers = NumberLines(tol)
    if max(expected.stat().st_size, actual.stat().st_size) > DIFF_LIMIT:
        note = _line_by_line(expected, actual, numbers, findings)
    else:
        note = _whole(expected, actual, numbers, findings)
    numbers.report(findings)
    return note if numbers.first is None else None


def _whole(expected: Path, actual: Path, numbers: NumberLines, findings: Findings) -> str | None:
    published = expected.read_bytes().decode("utf-8")
    rerun = actual.read_bytes().decode("utf-8")
    if _normalise(published) == _normalise(rerun):
        return _endings_note(published, rerun)
    lines = _normalise(published).splitlines(keepends=True)
    matched = "".join(match_lines(lines, _normalise(rerun).splitlines(keepends=True), numbers))
    if matched != "".join(lines):
        _diff("".join(lines), matched, findings)
    return None


def compare_binary(expected: Path, actual: Path, findings: Findings) -> None:
    _bytes(expected, actual, findings, "binary content differs")


def _normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _endings(text: str) -> str:
    crlf = text.count("\r\n")
    counts = {"CRLF": crlf, "LF": text.count("\n") - crlf, "CR": text.count("\r") - crlf}
    kinds = [name for name, n in counts.items() if n]
    if not kinds:
        return "no line breaks"
    return kinds[0] if len(kinds) == 1 else "mixed " + "/".join(kinds)


def _endings_note(published: str, rerun: str) -> str:
    return (
        f"text equal after normalising line endings "
        f"(published {_endings(published)}, rerun {_endings(rerun)})"
    )


@dataclass
class _Hunk:
    lines: list[str]
    line: int = 0  # first changed line, numbered in the published file
    removed: str | None = None
    added: str | None = None


def _diff(published: str, rerun: str, findings: Findings) -> None:
    diff = difflib.unified_diff(
        published.splitlines(keepends=True), rerun.splitlines(keepends=True), n=1
    )
    budget = DIFF_LINES
    hunk: _Hunk | None = None
    for raw in diff:
        if raw.startswith(("---", "+++")) and hunk is None:
            continue
        match = _HUNK.match(raw)
        if match:
            _flush(hunk, findings)
            hunk = _Hunk([], line=int(match.group(1)) - 1)
        elif hunk is not None:
            _hunk_line(hunk, raw)
        if hunk is not None and budget > 0:
            hunk.lines.append(_show_line(raw))
            budget -= 1
    _flush(hunk, findings)


def _hunk_line(hunk: _Hunk, raw: str) -> None:
    changed = hunk.removed is not None or hunk.added is not None
    if raw.startswith(" ") and not changed:
        hunk.line += 1
    elif raw.startswith("-") and hunk.removed is None:
        hunk.removed = _show_line(raw[1:])
    elif raw.startswith("+") and hunk.added is None:
        hunk.added = _show_line(raw[1:])
    if raw.startswith(("-", "+")) and not changed:
        hunk.line += 1


def _show_line(raw: str) -> str:
    return raw[:-1] if raw.endswith("\n") else raw + " (no newline at end of file)"


def _flush(hunk: _Hunk | None, findings: Findings) -> None:
    if hunk is None:
        return
    findings.fail(
        Difference(
            f"line {hunk.line}",
            "text",
            None if hunk.removed is None else render(hunk.removed),
            None if hunk.added is None else render(hunk.added),
            "\n".join(["lines differ", *hunk.lines]),
        )
    )


def _line_by_line(
    expected: Path, actual: Path, numbers: NumberLines, findings: Findings
) -> str | None:
    """Large files: compare lines by position (universal newlines normalise line endings)."""
    first: tuple[int, str | None, str | None] | None = None
    differing = 0
    with (
        expected.open(encoding="utf-8", newline=None) as fe,
        actual.open(encoding="utf-8", newline=None) as fa,
    ):
        for number, (e, a) in enumerate(zip_longest(fe, fa), start=1):
            if e != a and (e is None or a is None or not numbers.equivalent(number, e, a)):
                differing += 1
                first = first or (number, e, a)
    if first is None:
        if numbers.lines:
            return None
        with expected.open("rb") as fe, actual.open("rb") as fa:
            head_e, head_a = (fh.read(READ_SIZE).decode("utf-8", "replace") for fh in (fe, fa))
        return _endings_note(head_e, head_a)
    number, e, a = first
    findings.fail(
        Difference(
            f"line {number}",
            "text",
            None if e is None else render(_show_line(e)),
            None if a is None else render(_show_line(a)),
            f"{differing} lines differ by position (too large for a unified diff)",
        )
    )
    return None


def _bytes(expected: Path, actual: Path, findings: Findings, what: str) -> None:
    offset, e, a = first_difference(expected, actual)
    sizes = f"sizes {expected.stat().st_size} and {actual.stat().st_size} bytes"
    findings.fail(
        Difference(
            f"byte {offset}",
            "bytes",
            _byte(e),
            _byte(a),
            f"{what}; first differing byte at offset {offset}; {sizes}",
        )
    )


def _byte(value: int | None) -> str:
    return "end of file" if value is None else f"0x{value:02x}"


def first_difference(expected: Path, actual: Path) -> tuple[int, int | None, int | None]:
    """The offset of the first differing byte and the two bytes there (None: end of file)."""
    offset = 0
    with expected.open("rb") as fe, actual.open("rb") as fa:
        while True:
            be, ba = fe.read(READ_SIZE), fa.read(READ_SIZE)
            if be != ba:
                n = min(len(be), len(ba))
                unequal = np.flatnonzero(
                    np.frombuffer(be, np.uint8, n) != np.frombuffer(ba, np.uint8, n)
                )
                k = int(unequal[0]) if unequal.size else n
                return offset + k, _at(be, k), _at(ba, k)
            if not be:
                raise ValueError(f"{expected} and {actual} do not differ")
            offset += len(be)


def _at(data: bytes, k: int) -> int | None:
    return data[k] if k < len(data) else None
