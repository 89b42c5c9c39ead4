"""``preserve compare A B``: the outputs of two crates, compared as a rerun compares them.

A and B are each a DOI, an OCI reference or a crate folder (or .zip): a
published crate, a rerun crate, two invocations of one function. A's outputs
are the reference ("published"); B's are checked against them with the same
verdicts, tolerances and report as ``preserve rerun``. Nothing is run.
Tolerances: given ones, else those in A's recipe (the author's), else the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preserve.compare import OutputComparison, Verdict, compare_for_report, reproduced
from preserve.compare.tolerance import ChosenTolerance, choose
from preserve.crate.plan import RerunPlan, read_plan
from preserve.progress import QUIET, Progress
from preserve.report import Report, check_report_target, write_report
from preserve.rerun.confine import check_tree
from preserve.rerun.locate import Origin, locate
from preserve.settings import Settings


@dataclass(frozen=True)
class RunComparison:
    a: str
    b: str
    origins: tuple[Origin, Origin]
    tolerance: ChosenTolerance
    comparisons: tuple[OutputComparison, ...]
    report: Report

    @property
    def reproduced(self) -> bool:
        return reproduced(self.comparisons)

    def to_json(self) -> dict[str, Any]:
        """The shape of ``rerun --json``'s comparison part."""
        return {
            "a": _side(self.a, self.origins[0]),
            "b": _side(self.b, self.origins[1]),
            "reproduced": self.reproduced,
            "tolerance": self.tolerance.to_json(),
            "outputs": [c.to_json() for c in self.comparisons],
        }


def compare_runs(
    a: str,
    b: str,
    *,
    settings: Settings,
    rtol: float | None = None,
    atol: float | None = None,
    report: Path | None = None,
    progress: Progress = QUIET,
) -> RunComparison:
    if report is not None:
        check_report_target(report)
    origins = (locate(a, settings, progress), locate(b, settings, progress))
    plans = []
    for origin in origins:
        check_tree(origin.crate_dir)
        plans.append(read_plan(origin.crate_dir))
    chosen = choose(plans[0].spec.get("tolerance"), rtol, atol)
    sources = _pairs(plans[0], plans[1])
    progress.step("comparing outputs")
    present = {p: (e, x) for p, (e, x) in sources.items() if e is not None}
    compared = dict(
        zip(present, compare_for_report(present, rtol=chosen.rtol, atol=chosen.atol), strict=True)
    )
    comparisons = tuple(
        compared.get(p) or _only_in_b(p, x, chosen) for p, (_, x) in sources.items()
    )
    outcome = Report(
        f"Comparison of {plans[0].manifest.name} runs",
        _label(a, origins[0]),
        _label(b, origins[1]),
        chosen,
        comparisons,
        present,
    )
    if report is not None:
        write_report(outcome, report)
    return RunComparison(a, b, origins, chosen, comparisons, outcome)


def _pairs(a: RerunPlan, b: RerunPlan) -> dict[str, tuple[Path | None, Path | None]]:
    """Output path -> (A's file, B's file), A's outputs first; None where a crate has none."""
    mine = {o.path: o.published for o in a.outputs}
    theirs = {o.path: o.published for o in b.outputs}
    return {
        path: (_file(mine.get(path)), _file(theirs.get(path)))
        for path in [*mine, *(p for p in theirs if p not in mine)]
    }


def _only_in_b(path: str, produced: Path | None, tol: ChosenTolerance) -> OutputComparison:
    summary = "only in B: A has no such output" if produced else "missing from both crates"
    verdict: Verdict = "different" if produced else "missing"
    return OutputComparison(path, verdict, "bytes", summary, rtol=tol.rtol, atol=tol.atol)


def _file(path: Path | None) -> Path | None:
    return path if path is not None and path.is_file() else None


def _label(target: str, origin: Origin) -> str:
    return origin.doi or (str(origin.crate_ref) if origin.crate_ref else str(origin.crate_dir))


def _side(target: str, origin: Origin) -> dict[str, Any]:
    return {
        "target": target,
        "doi": origin.doi,
        "crate_ref": str(origin.crate_ref) if origin.crate_ref else None,
        "crate": str(origin.crate_dir),
    }
