"""What a report shows: two runs, the tolerance used and the comparisons."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from preserve.compare import OutputComparison, reproduced
from preserve.compare.tolerance import ChosenTolerance


@dataclass(frozen=True)
class Figure:
    """One plot of one output, as a PNG."""

    name: str  # file name, unique within a report
    output: str  # the output path it shows
    location: str  # the dataset or column within it
    caption: str
    png: bytes


@dataclass(frozen=True)
class Report:
    title: str
    published: str  # what the published side is (DOI, reference, folder)
    rerun: str
    tolerance: ChosenTolerance
    comparisons: tuple[OutputComparison, ...]
    # Output path -> (published file, rerun file): text and JSON diffs are read from them.
    sources: Mapping[str, tuple[Path, Path | None]] = field(default_factory=dict)

    @property
    def reproduced(self) -> bool:
        return reproduced(self.comparisons)
