"""What a comparison of one output says: a verdict, a summary and located differences."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from preserve.compare.plotdata import Plot

Verdict = Literal["identical", "equivalent", "different", "missing"]
Format = Literal["bytes", "hdf5", "csv", "tsv", "json", "text", "binary"]

# Kinds of Difference. "within-tolerance" and "within-rounding" (printed numbers
# one unit apart in their last digit, see printed.py) notes never make an output
# different; every other kind does, except in attribute_differences (see hdf5.py).
WITHIN_TOLERANCE = "within-tolerance"
WITHIN_ROUNDING = "within-rounding"


@dataclass(frozen=True)
class Tolerance:
    """numpy.isclose semantics: |actual - expected| <= atol + rtol * |expected|."""

    rtol: float
    atol: float

    @property
    def exact(self) -> bool:
        return self.rtol == 0 and self.atol == 0

    def __str__(self) -> str:
        return f"rtol={self.rtol:g}, atol={self.atol:g}"


@dataclass(frozen=True)
class Difference:
    """One located difference, with the first differing values rendered short."""

    location: str
    kind: str
    expected: str | None
    actual: str | None
    detail: str | None = None

    def describe(self) -> str:
        """One line: where, what, and the values."""
        what = self.detail.splitlines()[0] if self.detail else f"{self.kind} differ"
        if self.expected is None and self.actual is None:
            return f"{self.location}: {what}"
        return f"{self.location}: {what}; expected {_show(self.expected)}, got {_show(self.actual)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "kind": self.kind,
            "expected": self.expected,
            "actual": self.actual,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class OutputComparison:
    """The verdict on one output of a rerun."""

    path: str
    verdict: Verdict
    format: Format
    summary: str
    max_abs: float | None = None
    max_rel: float | None = None
    differences: Sequence[Difference] = ()
    attribute_differences: Sequence[Difference] = ()
    # Differences found but not listed (the lists are capped to stay readable).
    omitted_differences: int = 0
    omitted_attribute_differences: int = 0
    rtol: float = 0.0
    atol: float = 0.0
    # Reduced data for a report's plots (compare_output(..., plots=True)); not in to_json.
    plots: tuple[Plot, ...] = field(default=(), compare=False, repr=False)

    @property
    def reproduced(self) -> bool:
        return self.verdict in ("identical", "equivalent")

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data; infinite or NaN deviations become the strings "inf"/"nan"."""
        return {
            "path": self.path,
            "verdict": self.verdict,
            "format": self.format,
            "summary": self.summary,
            "rtol": self.rtol,
            "atol": self.atol,
            "max_abs": _json_float(self.max_abs),
            "max_rel": _json_float(self.max_rel),
            "differences": [d.to_json() for d in self.differences],
            "omitted_differences": self.omitted_differences,
            "attribute_differences": [d.to_json() for d in self.attribute_differences],
            "omitted_attribute_differences": self.omitted_attribute_differences,
        }


def _show(value: str | None) -> str:
    return "(nothing)" if value is None else value


def _json_float(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def fmt_dev(value: float) -> str:
    """A deviation in two significant digits: 3.1e-12."""
    return f"{value:.1e}" if math.isfinite(value) else str(value)
