"""Lines of text that differ only in printed numbers that are not differences.

A number in a line is a decimal literal standing alone: not part of a word, a
version (``1.2.3``) or an identifier (``frame-000123.raw`` keeps ``000123``
apart from its letters, but ``v2`` is text). Two lines match when their text
between the numbers is the same and every pair of numbers is equal, within
tolerance or explained by rounding (see :mod:`preserve.compare.printed`).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from preserve.compare.findings import Findings, plural
from preserve.compare.model import WITHIN_ROUNDING, WITHIN_TOLERANCE, Difference, Tolerance, fmt_dev
from preserve.compare.printed import BEYOND, ROUNDED, WITHIN, compare_printed
from preserve.compare.values import render

_NUMBER = re.compile(
    r"(?<![\w.])([+-]?(?:[0-9]+\.?[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?))"
    r"(?!\w|\.[0-9])"
)


@dataclass
class _First:
    line: int
    expected: str
    actual: str


class NumberLines:
    """Line pairs found to differ only in numbers that are not differences."""

    def __init__(self, tol: Tolerance) -> None:
        self.tol = tol
        self.lines = 0
        self.within = 0
        self.rounded = 0
        self.first: _First | None = None
        self.max_abs = 0.0
        self.max_rel = 0.0
        self.max_abs_line = 0

    def equivalent(self, line: int, published: str, rerun: str) -> bool:
        """Whether the two lines match (see the module); counted when they do."""
        e, a = _NUMBER.split(published), _NUMBER.split(rerun)
        if len(e) != len(a) or e[::2] != a[::2]:
            return False
        pairs = zip(e[1::2], a[1::2], strict=True)
        outcomes = [compare_printed(x, y, self.tol) for x, y in pairs if x != y]
        if any(o.status == BEYOND for o in outcomes):
            return False
        self.lines += 1
        for o in outcomes:
            self.within += o.status == WITHIN
            self.rounded += o.status == ROUNDED
            if o.abs_dev > self.max_abs:
                self.max_abs, self.max_abs_line = o.abs_dev, line
            if not math.isnan(o.rel_dev):
                self.max_rel = max(self.max_rel, o.rel_dev)
        if self.first is None and (self.within or self.rounded):
            self.first = _First(line, published, rerun)
        return True

    def report(self, findings: Findings) -> None:
        if self.first is None:  # none, or only numbers spelled differently (1.5, 1.50)
            return
        findings.deviation(self.max_abs, self.max_rel, f"line {self.max_abs_line}")
        findings.rounded += self.rounded
        parts = []
        if self.rounded:
            parts.append(
                f"{plural(self.rounded, 'value')} one unit apart in the last printed digit,"
                " explained by rounding (not a difference)"
            )
        if self.within:
            parts.append(f"{plural(self.within, 'value')} within {self.tol}")
        detail = (
            f"{plural(self.lines, 'line')} differ only in numbers: {'; '.join(parts)};"
            f" max abs dev {fmt_dev(self.max_abs)} in line {self.max_abs_line},"
            f" max rel dev {fmt_dev(self.max_rel)}"
        )
        kind = WITHIN_ROUNDING if self.rounded else WITHIN_TOLERANCE
        first = self.first
        findings.note(
            Difference(
                f"line {first.line}",
                kind,
                render(first.expected.rstrip("\n")),
                render(first.actual.rstrip("\n")),
                detail,
            )
        )


def match_lines(published: Sequence[str], rerun: Sequence[str], numbers: NumberLines) -> list[str]:
    """The rerun's lines, each line that matches its published counterpart replaced by it.

    Counterparts are lines at the same position when both have as many lines,
    else the lines of equally long changed blocks of a diff.
    """
    out = list(rerun)
    for i, j in _counterparts(published, rerun):
        if published[i] != rerun[j] and numbers.equivalent(i + 1, published[i], rerun[j]):
            out[j] = published[i]
    return out


def _counterparts(published: Sequence[str], rerun: Sequence[str]) -> Iterator[tuple[int, int]]:
    if len(published) == len(rerun):
        yield from ((i, i) for i in range(len(published)))
        return
    matcher = difflib.SequenceMatcher(None, published, rerun)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "replace" and i2 - i1 == j2 - j1:
            yield from zip(range(i1, i2), range(j1, j2), strict=True)
