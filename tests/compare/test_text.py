"""Plain-text and binary outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from preserve.compare import compare_output
from preserve.compare import text as text_module

LOG = "".join(f"frame {i}: integrated 1024 pixels\n" for i in range(1, 31))


def _compare(tmp_path: Path, published: bytes, rerun: bytes, name: str = "log.txt"):  # type: ignore[no-untyped-def]
    expected, actual = tmp_path / f"published-{name}", tmp_path / f"rerun-{name}"
    expected.write_bytes(published)
    actual.write_bytes(rerun)
    return compare_output(expected, actual, rtol=0, atol=0, path=name)


def test_crlf_versus_lf_is_equivalent_and_said(tmp_path: Path) -> None:
    result = _compare(tmp_path, LOG.encode(), LOG.replace("\n", "\r\n").encode())
    assert (result.format, result.verdict) == ("text", "equivalent")
    assert result.summary == (
        "bytes differ; text equal after normalising line endings (published LF, rerun CRLF)"
    )
    assert result.max_abs is None


def test_changed_lines_give_a_unified_diff(tmp_path: Path) -> None:
    rerun = LOG.replace("frame 7: integrated 1024", "frame 7: integrated 1023")
    rerun = rerun.replace("frame 25: integrated 1024 pixels\n", "")
    result = _compare(tmp_path, LOG.encode(), rerun.encode())
    assert result.verdict == "different"
    first, second = result.differences
    assert (first.location, first.kind) == ("line 7", "text")
    assert first.expected == "'frame 7: integrated 1024 pixels'"
    assert first.actual == "'frame 7: integrated 1023 pixels'"
    assert first.detail is not None
    assert first.detail.splitlines() == [
        "lines differ",
        "@@ -6,3 +6,3 @@",
        " frame 6: integrated 1024 pixels",
        "-frame 7: integrated 1024 pixels",
        "+frame 7: integrated 1023 pixels",
        " frame 8: integrated 1024 pixels",
    ]
    assert (second.location, second.expected, second.actual) == (
        "line 25",
        "'frame 25: integrated 1024 pixels'",
        None,
    )
    assert result.summary == (
        "line 7: lines differ; expected 'frame 7: integrated 1024 pixels',"
        " got 'frame 7: integrated 1023 pixels' (+1 more)"
    )


def test_diff_lines_are_limited(tmp_path: Path) -> None:
    rerun = LOG.replace("1024", "999")
    result = _compare(tmp_path, LOG.encode(), rerun.encode())
    shown = sum(len((d.detail or "").splitlines()) - 1 for d in result.differences)
    assert shown == text_module.DIFF_LINES


def test_missing_final_newline_is_shown(tmp_path: Path) -> None:
    result = _compare(tmp_path, b"a\nb\n", b"a\nb")
    [difference] = result.differences
    assert difference.actual == "'b (no newline at end of file)'"


def test_large_text_compared_line_by_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_module, "DIFF_LIMIT", 100)
    crlf = _compare(tmp_path, LOG.encode(), LOG.replace("\n", "\r\n").encode())
    assert crlf.verdict == "equivalent"
    assert "published LF, rerun CRLF" in crlf.summary
    changed = _compare(tmp_path, LOG.encode(), LOG.replace("frame 9:", "frame nine:").encode())
    [difference] = changed.differences
    assert difference.location == "line 9"
    assert difference.detail == "1 lines differ by position (too large for a unified diff)"


def test_rerun_output_that_is_not_text(tmp_path: Path) -> None:
    result = _compare(tmp_path, b"abc\n", b"ab\xff\n")
    [difference] = result.differences
    assert (difference.location, difference.expected, difference.actual) == (
        "byte 2",
        "0x63",
        "0xff",
    )
    assert difference.detail is not None
    assert difference.detail.startswith("rerun output is not UTF-8 text")


def test_binary_reports_the_first_differing_byte(tmp_path: Path) -> None:
    published = bytes(range(256)) * 8192  # 2 MiB: the difference is past the first read
    rerun = bytearray(published)
    rerun[1_500_000] ^= 0xFF
    result = _compare(tmp_path, published, bytes(rerun), name="frame.raw")
    assert (result.format, result.verdict) == ("binary", "different")
    [difference] = result.differences
    assert difference.location == "byte 1500000"
    assert difference.expected == f"0x{published[1_500_000]:02x}"
    assert difference.detail == (
        "binary content differs; first differing byte at offset 1500000;"
        " sizes 2097152 and 2097152 bytes"
    )


def test_binary_prefix(tmp_path: Path) -> None:
    result = _compare(tmp_path, b"\0\1\2\3", b"\0\1", name="x.bin")
    [difference] = result.differences
    assert (difference.location, difference.expected, difference.actual) == (
        "byte 2",
        "0x02",
        "end of file",
    )


def test_nul_bytes_make_a_file_binary(tmp_path: Path) -> None:
    assert _compare(tmp_path, b"a\0b", b"a\0c").format == "binary"


# --- numbers in text, compared knowing the precision they were printed with -----------

RESULT = "".join(f"peak {i}: q = {0.1 * i:.4f} 1/A, I = {1000.0 / i:.3e}\n" for i in range(1, 21))


def _text(tmp_path: Path, published: str, rerun: str, rtol: float = 0.0, atol: float = 0.0):  # type: ignore[no-untyped-def]
    expected, actual = tmp_path / "published.txt", tmp_path / "rerun.txt"
    expected.write_text(published)
    actual.write_text(rerun)
    return compare_output(expected, actual, rtol=rtol, atol=atol, path="result.txt")


def test_numbers_one_unit_apart_in_the_last_digit_are_rounding(tmp_path: Path) -> None:
    rerun = RESULT.replace("q = 0.3000", "q = 0.3001").replace("I = 1.000e+02", "I = 9.999e+01")
    result = _text(tmp_path, RESULT, rerun)
    assert (result.format, result.verdict) == ("text", "equivalent")
    [note] = result.differences
    assert (note.location, note.kind) == ("line 3", "within-rounding")
    assert note.expected == "'peak 3: q = 0.3000 1/A, I = 3.333e+02'"
    assert note.detail is not None
    assert note.detail.startswith(
        "2 lines differ only in numbers: 2 values one unit apart in the last printed digit,"
        " explained by rounding (not a difference)"
    )
    assert "within rounding of the last printed digit (2 values)" in result.summary


def test_numbers_in_text_beyond_rounding_or_tolerance_differ(tmp_path: Path) -> None:
    rerun = RESULT.replace("q = 0.3000", "q = 0.3002")
    result = _text(tmp_path, RESULT, rerun)
    assert result.verdict == "different"
    [difference] = result.differences
    assert difference.location == "line 3"
    assert difference.actual == "'peak 3: q = 0.3002 1/A, I = 3.333e+02'"
    assert _text(tmp_path, RESULT, rerun, rtol=1e-3).verdict == "equivalent"


@pytest.mark.parametrize(
    ("published", "rerun"),
    [
        ("version 1.2.3\n", "version 1.2.4\n"),  # a version is not a number
        ("frame 1024 pixels\n", "frame 1025 pixels\n"),  # integers are exact
        ("run v1.5 done\n", "run v1.6 done\n"),  # part of a word
        ("x = 0.1234\n", "y = 0.1235\n"),  # the text around differs
    ],
)
def test_only_standalone_decimals_are_rounded(tmp_path: Path, published: str, rerun: str) -> None:
    assert _text(tmp_path, published, rerun).verdict == "different"


def test_large_text_applies_the_same_rule_line_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(text_module, "DIFF_LIMIT", 100)
    rounded = _text(tmp_path, RESULT, RESULT.replace("q = 0.5000", "q = 0.4999"))
    assert (rounded.verdict, rounded.differences[0].kind) == ("equivalent", "within-rounding")
    beyond = _text(tmp_path, RESULT, RESULT.replace("q = 0.5000", "q = 0.4990"))
    [difference] = beyond.differences
    assert (difference.location, difference.detail) == (
        "line 5",
        "1 lines differ by position (too large for a unified diff)",
    )


def test_an_inserted_line_is_shown_and_rounded_lines_are_not(tmp_path: Path) -> None:
    rerun = RESULT.replace("q = 0.3000", "q = 0.3001").replace("peak 9:", "new line\npeak 9:")
    result = _text(tmp_path, RESULT, rerun)
    assert result.verdict == "different"
    [difference] = [d for d in result.differences if d.kind == "text"]
    assert difference.actual == "'new line'"
    assert "0.3001" not in (difference.detail or "")
