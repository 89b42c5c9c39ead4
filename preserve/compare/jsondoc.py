"""JSON outputs: the same structure and keys (in any order), numbers within
tolerance (two integers in exact arithmetic), strings, booleans and null exactly.

Locations are JSONPath-like: ``$.peaks[3].q``, ``$["key with spaces"]``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from preserve.compare.findings import Findings
from preserve.compare.model import WITHIN_TOLERANCE, Difference, Tolerance, fmt_dev
from preserve.compare.values import MAX_RENDERED, compare_numbers

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Node = tuple[str, Any, Any]


class NotJson(Exception):
    """The published file does not parse as JSON: compare it as text instead."""


def compare_json(expected: Path, actual: Path, tol: Tolerance, findings: Findings) -> None:
    try:
        published = _load(expected)
    except (ValueError, RecursionError) as exc:
        raise NotJson(str(exc)) from exc
    try:
        rerun = _load(actual)
    except (ValueError, RecursionError) as exc:
        findings.fail(Difference("$", "format", "valid JSON", None, f"not valid JSON: {exc}"))
        return
    # An explicit stack, in document order: deep documents cannot overflow recursion.
    stack: list[Node] = [("$", published, rerun)]
    while stack:
        path, e, a = stack.pop()
        stack.extend(reversed(_node(path, e, a, tol, findings)))


def _load(path: Path) -> Any:
    with path.open("rb") as fh:  # bytes: json detects UTF-8/16/32 itself
        return json.load(fh)


def _node(path: str, e: Any, a: Any, tol: Tolerance, findings: Findings) -> list[Node]:
    if isinstance(e, dict) and isinstance(a, dict):
        return _object(path, e, a, findings)
    if isinstance(e, list) and isinstance(a, list):
        if len(e) != len(a):
            findings.fail(
                Difference(
                    path, "length", f"{len(e)} items", f"{len(a)} items", "array length differs"
                )
            )
        return [(f"{path}[{i}]", x, y) for i, (x, y) in enumerate(zip(e, a, strict=False))]
    if _is_number(e) and _is_number(a):
        _number(path, e, a, tol, findings)
    elif type(e) is not type(a):
        findings.fail(Difference(path, "type", _show(e), _show(a), f"{_type(e)} became {_type(a)}"))
    elif e != a:
        findings.fail(Difference(path, "values", _show(e), _show(a), "value differs"))
    return []


def _object(path: str, e: dict[str, Any], a: dict[str, Any], findings: Findings) -> list[Node]:
    for key in [k for k in e if k not in a]:
        findings.fail(Difference(_key(path, key), "structure", _show(e[key]), None, "key missing"))
    for key in [k for k in a if k not in e]:
        findings.fail(
            Difference(_key(path, key), "structure", None, _show(a[key]), "unexpected key")
        )
    return [(_key(path, key), value, a[key]) for key, value in e.items() if key in a]


def _number(path: str, e: int | float, a: int | float, tol: Tolerance, findings: Findings) -> None:
    outcome = compare_numbers(e, a, tol)
    if outcome.equal:
        return
    findings.deviation(outcome.abs_dev, outcome.rel_dev, path)
    if outcome.within:
        detail = (
            f"within {tol}; abs dev {fmt_dev(outcome.abs_dev)}, rel dev {fmt_dev(outcome.rel_dev)}"
        )
        findings.note(Difference(path, WITHIN_TOLERANCE, _show(e), _show(a), detail))
    else:
        findings.fail(Difference(path, "values", _show(e), _show(a), f"beyond {tol}"))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _key(path: str, key: str) -> str:
    return f"{path}.{key}" if _IDENTIFIER.fullmatch(key) else f"{path}[{json.dumps(key)}]"


def _type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _show(value: Any) -> str:
    if isinstance(value, dict | list):
        return f"{_type(value)} of {len(value)}"
    text = json.dumps(value)
    return text if len(text) <= MAX_RENDERED else text[: MAX_RENDERED - 1] + "…"
