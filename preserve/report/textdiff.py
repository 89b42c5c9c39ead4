"""The highlighted diff of a text or JSON output, read bounded."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

# Only the start of a large file is diffed; the report says so.
MAX_BYTES = 2 << 20
MAX_LINES = 400


def diff_lines(expected: Path, actual: Path, fmt: str) -> tuple[list[str], bool]:
    """Unified diff lines (published -> rerun), and whether they were cut short."""
    (e, e_cut), (a, a_cut) = _read(expected), _read(actual)
    if fmt == "json" and not (e_cut or a_cut):
        e, a = _pretty(e), _pretty(a)
    lines = list(
        difflib.unified_diff(e.splitlines(), a.splitlines(), "published", "rerun", lineterm="", n=2)
    )
    cut = e_cut or a_cut or len(lines) > MAX_LINES
    return lines[:MAX_LINES], cut


def _read(path: Path) -> tuple[str, bool]:
    with path.open("rb") as fh:
        data = fh.read(MAX_BYTES + 1)
    return data[:MAX_BYTES].decode("utf-8", "replace"), len(data) > MAX_BYTES


def _pretty(text: str) -> str:
    """JSON laid out one value a line, so that the diff points at the value."""
    try:
        return json.dumps(json.loads(text), indent=1, ensure_ascii=False)
    except ValueError:
        return text
