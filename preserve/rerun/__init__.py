"""``preserve rerun``: fetch, verify, rerun, and say precisely whether the result reproduced.

1. Resolve: a DOI to the crate it pins, an OCI reference, or a crate directory.
2. Fetch and verify, before anything runs: the crate (digests checked on pull),
   the image by its recorded digest, every input against its recorded size and
   checksum. Crates, images and inputs are cached by content digest, so a second
   rerun downloads nothing; nothing that failed verification is cached.
3. Run the recorded command, configuration, environment and network policy.
4. Compare every output with the published one and write a new Process Run
   Crate for the rerun, linked to the original, with the per-output verdicts.

``--input NAME=URI`` reruns the preserved function on new data instead: no
comparison, a new crate for the new run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preserve.compare import OutputComparison, compare_output, reproduced
from preserve.crate.jsonld import iso
from preserve.crate.model import OUTPUTS_DIR, RunRecord
from preserve.crate.plan import read_plan
from preserve.crate.target import check_target, finalize, staging_dir
from preserve.errors import DataError, RunError
from preserve.progress import QUIET, Progress
from preserve.rerun.execute import run_rerun
from preserve.rerun.fetch import environment, fetch_image, stage_inputs
from preserve.rerun.locate import Origin, locate
from preserve.rerun.record import write_rerun_crate
from preserve.runners.base import open_runner
from preserve.settings import Settings

DEFAULT_RTOL = 1e-9
DEFAULT_ATOL = 0.0


@dataclass(frozen=True)
class RerunResult:
    target: str
    origin: Origin
    rerun_dir: Path
    run: RunRecord
    comparisons: tuple[OutputComparison, ...]
    new_data: bool
    rtol: float
    atol: float

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
            "reproduced": self.reproduced,
            "new_data": self.new_data,
            "tolerance": {"rtol": self.rtol, "atol": self.atol},
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
) -> RerunResult:
    """Rerun ``target`` (DOI, OCI reference or crate directory); see the module docstring."""
    environ = os.environ if environ is None else environ
    overrides = dict(inputs or {})
    runner = open_runner(settings)  # configuration errors before anything is fetched
    origin = locate(target, settings, progress)
    plan = read_plan(origin.crate_dir)
    manifest = plan.manifest
    unknown = sorted(set(overrides) - {i.name for i in plan.inputs})
    if unknown:
        known = ", ".join(i.name for i in plan.inputs) or "none"
        raise DataError(f"--input names unknown input(s) {', '.join(unknown)} (known: {known})")
    rtol, atol = tolerances(plan.spec.get("tolerance"), rtol, atol)

    rerun_dir = (output or Path.cwd() / f"{manifest.name}-rerun").resolve()
    check_target(rerun_dir, overwrite)
    image = fetch_image(plan, settings, runner, progress)
    staged = stage_inputs(plan, overrides, settings, progress)
    env, env_records = environment(plan, environ)

    staging = staging_dir(rerun_dir)
    try:
        run = run_rerun(plan, image, staged, env, timeout, runner, staging, progress)
        comparisons: tuple[OutputComparison, ...] = ()
        if not overrides and run.error is None:
            progress.step("comparing outputs with the published ones")
            comparisons = tuple(
                compare_output(
                    plan.crate_dir / o.entity_id,
                    _present(staging / OUTPUTS_DIR / o.path),
                    rtol=rtol,
                    atol=atol,
                    path=o.path,
                )
                for o in plan.outputs
            )
        write_rerun_crate(
            plan, origin, manifest, staged, env_records, run, comparisons, staging, settings
        )
        finalize(staging, rerun_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if run.error is not None:
        raise RunError(
            f"the rerun failed: {run.error}",
            hint=f"the crate {rerun_dir} records the failed rerun with its logs",
        )
    return RerunResult(target, origin, rerun_dir, run, comparisons, bool(overrides), rtol, atol)


def tolerances(
    recorded: Mapping[str, Any] | None, rtol: float | None, atol: float | None
) -> tuple[float, float]:
    """Given values, else the crate's, else the defaults; 0 is a tolerance, not "unset"."""
    recorded = recorded or {}

    def pick(given: float | None, key: str, default: float) -> float:
        if given is not None:
            return given
        value = recorded.get(key)
        return default if value is None else float(value)

    return pick(rtol, "rtol", DEFAULT_RTOL), pick(atol, "atol", DEFAULT_ATOL)


def _present(path: Path) -> Path | None:
    return path if path.exists() else None
