"""Collects what a format-specific comparison finds and turns it into a verdict."""

from __future__ import annotations

import math

from preserve.compare.model import (
    Difference,
    Format,
    OutputComparison,
    Tolerance,
    Verdict,
    fmt_dev,
)
from preserve.compare.plotdata import MAX_PLOTS, Plot

# Longer lists are cut (the count of the rest is kept): a terminal and a JSON
# report stay readable when every value of a large dataset differs.
MAX_LISTED = 25


class _Capped:
    def __init__(self) -> None:
        self.items: list[Difference] = []
        self.total = 0

    def add(self, difference: Difference) -> None:
        self.total += 1
        if len(self.items) < MAX_LISTED:
            self.items.append(difference)


class Findings:
    """Differences, within-tolerance notes, attribute differences and deviation maxima.

    ``structured`` formats (HDF5, tables, JSON) report a deviation of 0.0 when
    all values compared equal; text and binary report none.
    """

    def __init__(self, tol: Tolerance, *, structured: bool, plots: bool = False) -> None:
        self.tol = tol
        # Reduced data for a report's plots, when asked for (see plotdata.py).
        self.plots: list[Plot] | None = [] if plots else None
        self.failures = _Capped()
        self.notes = _Capped()
        self.attributes = _Capped()
        self.max_abs: float | None = 0.0 if structured else None
        self.max_rel: float | None = 0.0 if structured else None
        self.max_abs_at = ""
        self.max_rel_at = ""
        # Printed numbers beyond tolerance but explained by rounding (not differences).
        self.rounded = 0

    def fail(self, difference: Difference) -> None:
        """A difference that makes the output different."""
        self.failures.add(difference)

    def note(self, difference: Difference) -> None:
        """A difference within tolerance: listed, but the output stays equivalent."""
        self.notes.add(difference)

    def attribute(self, difference: Difference) -> None:
        """An HDF5 attribute difference, reported separately."""
        self.attributes.add(difference)

    def wants_plot(self) -> bool:
        """Whether plot data is gathered, and there is room for another plot."""
        return self.plots is not None and len(self.plots) < MAX_PLOTS

    def plot(self, data: Plot) -> None:
        if self.plots is not None and len(self.plots) < MAX_PLOTS:
            self.plots.append(data)

    def deviation(self, abs_dev: float, rel_dev: float, location: str) -> None:
        """Record deviations found at ``location``; NaN (no defined deviation) is skipped."""
        if not math.isnan(abs_dev) and (self.max_abs is None or abs_dev > self.max_abs):
            self.max_abs, self.max_abs_at = abs_dev, location
        if not math.isnan(rel_dev) and (self.max_rel is None or rel_dev > self.max_rel):
            self.max_rel, self.max_rel_at = rel_dev, location

    @property
    def deviated(self) -> bool:
        return bool(self.max_abs) or bool(self.max_rel)

    def result(
        self,
        path: str,
        fmt: Format,
        *,
        equal_note: str | None = None,
        strict_attributes: bool = False,
    ) -> OutputComparison:
        """The comparison of an output whose bytes differ."""
        different = self.failures.total > 0 or (strict_attributes and self.attributes.total > 0)
        verdict: Verdict = "different" if different else "equivalent"
        return OutputComparison(
            path=path,
            verdict=verdict,
            format=fmt,
            summary=self._summary(different, equal_note, strict_attributes),
            max_abs=self.max_abs,
            max_rel=self.max_rel,
            differences=[*self.failures.items, *self.notes.items],
            attribute_differences=list(self.attributes.items),
            omitted_differences=self.failures.total
            + self.notes.total
            - len(self.failures.items)
            - len(self.notes.items),
            omitted_attribute_differences=self.attributes.total - len(self.attributes.items),
            rtol=self.tol.rtol,
            atol=self.tol.atol,
            plots=tuple(self.plots or ()),
        )

    def _summary(self, different: bool, equal_note: str | None, strict: bool) -> str:
        if different:
            failures = self.failures if self.failures.total else self.attributes
            text = failures.items[0].describe()
            more = failures.total - 1
            return text + (f" (+{more} more)" if more else "")
        parts = ["bytes differ", equal_note or self._equal_phrase()]
        if self.attributes.total:
            counted = "counted" if strict else "not counted"
            parts.append(f"{plural(self.attributes.total, 'attribute difference')} ({counted})")
        return "; ".join(parts)

    def _equal_phrase(self) -> str:
        if not self.deviated:
            return "data equal exactly"
        assert self.max_abs is not None and self.max_rel is not None
        where = (
            f"max abs dev {fmt_dev(self.max_abs)}, max rel dev {fmt_dev(self.max_rel)}"
            f" in {self.max_abs_at}"
            if self.max_abs_at == self.max_rel_at
            else f"max abs dev {fmt_dev(self.max_abs)} in {self.max_abs_at},"
            f" max rel dev {fmt_dev(self.max_rel)} in {self.max_rel_at}"
        )
        rounding = (
            f" or within rounding of the last printed digit ({plural(self.rounded, 'value')})"
            if self.rounded
            else ""
        )
        return f"data equal within {self.tol}{rounding}; {where}"


def plural(count: int, noun: str) -> str:
    """'1 value', '2 values'."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
