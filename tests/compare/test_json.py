"""JSON outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from preserve.compare import compare_output

RESULT: dict[str, Any] = {
    "sample": "LaB6",
    "fit": {"converged": True, "chi2": 1.2345, "iterations": 17, "warning": None},
    "peaks": [{"q": 0.1 * i, "hkl": [1, 1, i], "label": f"p{i}"} for i in range(5)],
    "energy keV": 12.4,
}


def _compare(tmp_path: Path, rerun: Any, *, rtol: float = 0.0, atol: float = 0.0, indent: int = 2):  # type: ignore[no-untyped-def]
    expected, actual = tmp_path / "published.json", tmp_path / "rerun.json"
    expected.write_text(json.dumps(RESULT, indent=2))
    actual.write_text(json.dumps(rerun, indent=indent))
    return compare_output(expected, actual, rtol=rtol, atol=atol, path="result.json")


def _changed(**updates: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(RESULT))
    data.update(updates)
    return data


def test_formatting_and_key_order_do_not_count(tmp_path: Path) -> None:
    reordered = dict(reversed(list(RESULT.items())))
    result = _compare(tmp_path, reordered, indent=0)
    assert (result.format, result.verdict) == ("json", "equivalent")
    assert result.summary == "bytes differ; data equal exactly"


def test_numbers_within_tolerance(tmp_path: Path) -> None:
    data = _changed()
    data["peaks"][3]["q"] = 0.30000000001
    result = _compare(tmp_path, data, rtol=1e-9)
    assert result.verdict == "equivalent"
    [note] = result.differences
    assert (note.location, note.kind) == ("$.peaks[3].q", "within-tolerance")
    assert result.max_abs == pytest.approx(1e-11, rel=1e-3)
    assert result.summary.endswith("in $.peaks[3].q")


def test_numbers_beyond_tolerance_give_the_json_path(tmp_path: Path) -> None:
    data = _changed()
    data["fit"]["chi2"] = 1.3
    result = _compare(tmp_path, data, rtol=1e-6)
    assert result.verdict == "different"
    [difference] = result.differences
    assert (difference.location, difference.expected, difference.actual) == (
        "$.fit.chi2",
        "1.2345",
        "1.3",
    )
    assert result.summary == "$.fit.chi2: beyond rtol=1e-06, atol=0; expected 1.2345, got 1.3"


def test_integers_exact_unless_tolerance(tmp_path: Path) -> None:
    data = _changed()
    data["fit"]["iterations"] = 18
    assert _compare(tmp_path, data).verdict == "different"
    assert _compare(tmp_path, data, atol=1).verdict == "equivalent"


@pytest.mark.parametrize(
    ("path", "value", "kind"),
    [
        ("$.fit.converged", False, "values"),
        ("$.fit.warning", "slow", "type"),
        ("$.sample", "Si", "values"),
        ("$.fit.converged", 1, "type"),
    ],
)
def test_strings_booleans_and_null_exact(tmp_path: Path, path: str, value: Any, kind: str) -> None:
    data = _changed()
    data["fit" if path.startswith("$.fit") else "sample"] = (
        {**data["fit"], path.rsplit(".", 1)[1]: value} if path.startswith("$.fit") else value
    )
    result = _compare(tmp_path, data, rtol=1, atol=1)
    assert result.verdict == "different"
    [difference] = result.differences
    assert (difference.location, difference.kind) == (path, kind)


def test_missing_and_unexpected_keys(tmp_path: Path) -> None:
    data = _changed(extra={"a": 1})
    del data["energy keV"]
    result = _compare(tmp_path, data)
    missing, unexpected = result.differences
    assert (missing.location, missing.detail, missing.expected) == (
        '$["energy keV"]',
        "key missing",
        "12.4",
    )
    assert (unexpected.location, unexpected.detail, unexpected.actual) == (
        "$.extra",
        "unexpected key",
        "object of 1",
    )


def test_array_length(tmp_path: Path) -> None:
    data = _changed()
    data["peaks"] = data["peaks"][:4]
    [difference] = _compare(tmp_path, data).differences
    assert (difference.location, difference.expected, difference.actual) == (
        "$.peaks",
        "5 items",
        "4 items",
    )


def test_nan_equals_nan(tmp_path: Path) -> None:
    expected, actual = tmp_path / "a.json", tmp_path / "b.json"
    expected.write_text('{"x": NaN, "y": Infinity}')
    actual.write_text('{"x": NaN,  "y": Infinity}')
    assert compare_output(expected, actual, rtol=0, atol=0, path="a.json").verdict == "equivalent"
    actual.write_text('{"x": 0.0, "y": -Infinity}')
    result = compare_output(expected, actual, rtol=1, atol=1e300, path="a.json")
    assert [d.location for d in result.differences] == ["$.x", "$.y"]


def test_deep_nesting_does_not_overflow(tmp_path: Path) -> None:
    depth = 900
    expected, actual = tmp_path / "a.json", tmp_path / "b.json"
    expected.write_text("[" * depth + "1" + "]" * depth)
    actual.write_text("[" * depth + "2" + "]" * depth)
    [difference] = compare_output(expected, actual, rtol=0, atol=0, path="a.json").differences
    assert difference.location == "$" + "[0]" * depth


def test_invalid_rerun_json_is_different(tmp_path: Path) -> None:
    _compare(tmp_path, RESULT)
    (tmp_path / "rerun.json").write_text('{"sample": ')
    result = compare_output(
        tmp_path / "published.json", tmp_path / "rerun.json", rtol=0, atol=0, path="r"
    )
    assert result.verdict == "different"
    assert result.differences[0].kind == "format"


def test_invalid_published_json_falls_back_to_text(tmp_path: Path) -> None:
    expected, actual = tmp_path / "a.json", tmp_path / "b.json"
    expected.write_text("not json\n")
    actual.write_text("not json\r\n")
    result = compare_output(expected, actual, rtol=0, atol=0, path="a.json")
    assert (result.format, result.verdict) == ("text", "equivalent")
