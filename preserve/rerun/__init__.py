"""``preserve rerun``: fetch, verify, rerun, and say precisely whether the result reproduced.

1. Resolve: a DOI to the crate it pins, an OCI reference, or a crate directory.
2. Fetch and verify, before anything runs: the crate (digests checked on pull),
   the image by its recorded digest, every input against its recorded size and
   checksum. Crates, images and inputs are cached by content digest, so a second
   rerun downloads nothing; nothing that failed verification is cached.
3. Run the recorded command and configuration, confined (``confine.py``): every
   path the crate names stays inside it, inputs come from the verified cache,
   and the reader decides the environment, the network and unverified inputs.
4. Compare every output with the published one and write a new Process Run
   Crate for the rerun, linked to the original, with the per-output verdicts.

``--input NAME=URI`` reruns the preserved function on new data instead: no
comparison, a new crate for the new run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from preserve.compare import OutputComparison, compare_for_report, reproduced
from preserve.compare.tolerance import DEFAULT_ATOL as DEFAULT_ATOL
from preserve.compare.tolerance import DEFAULT_RTOL as DEFAULT_RTOL
from preserve.compare.tolerance import ChosenTolerance, choose
from preserve.crate.model import OUTPUTS_DIR, REPORT_PAGE, RunRecord
from preserve.crate.plan import RerunPlan, read_plan
from preserve.crate.target import check_target, finalize, staging_dir
from preserve.disk import writing
from preserve.errors import ConfigError, DataError, RunError
from preserve.locks import exclusive, lock_path
from preserve.progress import QUIET, Progress
from preserve.report import Report, check_report_target, write_report
from preserve.rerun.confine import check_plan, check_tree
from preserve.rerun.execute import run_rerun
from preserve.rerun.fetch import StagedInput, environment, fetch_image, stage_inputs
from preserve.rerun.locate import Origin, locate
from preserve.rerun.record import write_rerun_crate
from preserve.runners.base import open_runner
from preserve.settings import Settings
from preserve.shim.jsonld import iso


@dataclass(frozen=True)
class RerunResult:
    target: str
    origin: Origin
    rerun_dir: Path
    run: RunRecord
    comparisons: tuple[OutputComparison, ...]
    new_data: bool
    tolerance: ChosenTolerance
    report: Report | None = None

    @property
    def rtol(self) -> float:
        return self.tolerance.rtol

    @property
    def atol(self) -> float:
        return self.tolerance.atol

    @property
    def reproduced(self) -> bool | None:
        """True/False after a comparison; None for a run on new data."""
        return None if self.new_data else reproduced(self.comparisons)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "doi": self.origin.doi,
            "crate_ref": str(self.origin.crate_ref) if self.origin.crate_ref else None,
            "rerun_crate": str(self.rerun_dir),
            "report": str(self.rerun_dir / REPORT_PAGE) if self.report else None,
            "reproduced": self.reproduced,
            "new_data": self.new_data,
            "tolerance": self.tolerance.to_json(),
            "run": {
                "exit_code": self.run.exit_code,
                "start": iso(self.run.start),
                "end": iso(self.run.end),
                "peak_memory": self.run.peak_memory,
                "cpu_seconds": self.run.cpu_seconds,
            },
            "outputs": [c.to_json() for c in self.comparisons],
        }


def rerun(
    target: str,
    *,
    settings: Settings,
    output: Path | None = None,
    inputs: Mapping[str, str] | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    timeout: float | None = None,
    overwrite: bool = False,
    progress: Progress = QUIET,
    environ: Mapping[str, str] | None = None,
    env: Mapping[str, str | None] | None = None,
    allow_network: bool = False,
    allow_unverified: Collection[str] = (),
    report: Path | None = None,
) -> RerunResult:
    """Rerun ``target`` (DOI, OCI reference or crate directory); see the module docstring.

    The reader, not the crate, decides what the run may use: ``env`` names the
    variables to pass (``NAME: None`` takes the value from ``environ``),
    ``allow_network`` gives a crate that asks for it a network, and
    ``allow_unverified`` names remote inputs to use without a recorded checksum.
    The comparison report goes into the rerun crate, and to ``report`` if given.
    """
    environ = os.environ if environ is None else environ
    overrides = dict(inputs or {})
    runner = open_runner(settings)  # configuration errors before anything is fetched
    origin = locate(target, settings, progress)
    check_tree(origin.crate_dir)
    plan = read_plan(origin.crate_dir)
    check_plan(plan)
    manifest = plan.manifest
    _check_names("--input", overrides, plan)
    _check_names("--allow-unverified-input", allow_unverified, plan)
    if plan.spec["network"] and not allow_network:
        raise ConfigError(
            "the crate asks for network access during the run; a rerun has no network "
            "unless you allow it",
            hint="pass --allow-network to give the run a network (the rerun crate records that)",
        )
    run_env = environment(plan.spec["env"], env or {}, environ)
    chosen = choose(plan.spec.get("tolerance"), rtol, atol)

    rerun_dir = (output or Path.cwd() / f"{manifest.name}-rerun").resolve()
    check_target(rerun_dir, overwrite)
    if report is not None:
        check_report_target(report)
    with exclusive(lock_path(settings.cache_dir, "image", str(plan.image_ref or plan.image_id))):
        image = fetch_image(plan, settings, runner, progress)
    staged = stage_inputs(plan, overrides, settings, progress, allow_unverified)
    new_data = any(not s.as_recorded for s in staged.values())

    with writing(rerun_dir, "the rerun crate"):
        staging = staging_dir(rerun_dir)
        try:
            run = run_rerun(plan, image, staged, run_env, timeout, runner, staging, progress)
            comparisons: tuple[OutputComparison, ...] = ()
            outcome: Report | None = None
            if not new_data and run.error is None:
                progress.step("comparing outputs with the published ones")
                sources = {
                    o.path: (o.published, _present(staging / OUTPUTS_DIR / o.path))
                    for o in plan.outputs  # published paths confined by the crate reader
                }
                comparisons = compare_for_report(sources, rtol=chosen.rtol, atol=chosen.atol)
                outcome = Report(
                    f"Rerun of {manifest.name}",
                    origin.doi or str(origin.crate_ref or target),
                    str(rerun_dir),
                    chosen,
                    comparisons,
                    sources,
                )
            notes = _granted(plan, allow_network, staged)
            write_rerun_crate(
                plan,
                origin,
                manifest,
                staged,
                run_env.records,
                run,
                comparisons,
                staging,
                settings,
                notes,
                outcome,
            )
            finalize(staging, rerun_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    if outcome is not None:  # the rerun's outputs are now in the crate, not in staging
        outcome = replace(outcome, sources=_moved(outcome.sources, rerun_dir))
        if report is not None:
            write_report(outcome, report)
    if run.error is not None:
        raise RunError(
            f"the rerun failed: {run.error}",
            hint=f"the crate {rerun_dir} records the failed rerun with its logs",
        )
    return RerunResult(target, origin, rerun_dir, run, comparisons, new_data, chosen, outcome)


def _check_names(option: str, names: Collection[str], plan: RerunPlan) -> None:
    unknown = sorted(set(names) - {i.name for i in plan.inputs})
    if unknown:
        known = ", ".join(i.name for i in plan.inputs) or "none"
        raise DataError(f"{option} names unknown input(s) {', '.join(unknown)} (known: {known})")


def _granted(plan: RerunPlan, allow_network: bool, staged: Mapping[str, StagedInput]) -> str:
    """What the reader allowed beyond the defaults, for the rerun crate."""
    notes = []
    if allow_network and plan.spec["network"]:
        notes.append("network access (--allow-network)")
    unverified = [n for n, s in staged.items() if not s.verified]
    if unverified:
        notes.append("inputs without a recorded checksum: " + ", ".join(unverified))
    return "The reader allowed " + "; ".join(notes) + "." if notes else ""


def tolerances(
    recorded: Mapping[str, Any] | None, rtol: float | None, atol: float | None
) -> tuple[float, float]:
    """Given values, else the crate's, else the defaults; 0 is a tolerance, not "unset"."""
    chosen = choose(recorded, rtol, atol)
    return chosen.rtol, chosen.atol


def _moved(
    sources: Mapping[str, tuple[Path, Path | None]], rerun_dir: Path
) -> dict[str, tuple[Path, Path | None]]:
    return {
        path: (published, rerun_dir / OUTPUTS_DIR / path if produced else None)
        for path, (published, produced) in sources.items()
    }


def _present(path: Path) -> Path | None:
    return path if path.exists() else None
