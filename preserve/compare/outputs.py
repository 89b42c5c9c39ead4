"""Compare a rerun's outputs with the published ones, file by file.

Identical bytes (same SHA-256) are ``identical``. Otherwise the published
file's format decides how the two are compared: HDF5 by signature; CSV/TSV and
JSON by extension; text if it decodes as UTF-8; anything else as binary. A
published file that does not parse in the format its name claims is compared
as text or binary instead.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath

from preserve.compare.findings import Findings
from preserve.compare.hdf5 import NotHdf5, compare_hdf5, has_signature
from preserve.compare.jsondoc import NotJson, compare_json
from preserve.compare.model import Difference, Format, OutputComparison, Tolerance
from preserve.compare.text import READ_SIZE, compare_binary, compare_text, is_text
from preserve.errors import ConfigError, CrateError, DataError
from preserve.progress import QUIET, Progress, Task

_TABLES = {".csv": ("csv", ","), ".tsv": ("tsv", "\t"), ".tab": ("tsv", "\t")}
_JSON = {".json", ".jsonld"}
_STRUCTURED = {"hdf5", "csv", "tsv", "json"}
# Plots held for one report at most: a crate with thousands of outputs stays bounded
# in memory (each plot is at most ~1.5 MiB of reduced data, see plotdata.py).
MAX_REPORT_PLOTS = 48


def compare_output(
    expected: Path,
    actual: Path | None,
    *,
    rtol: float,
    atol: float,
    path: str,
    strict_attributes: bool = False,
    plots: bool = False,
    progress: Progress = QUIET,
) -> OutputComparison:
    """Compare one published output (``expected``) with the rerun's (``actual``).

    ``path`` names the output in the report. ``strict_attributes`` makes HDF5
    attribute differences count towards the verdict (by default they are only
    listed, see :mod:`preserve.compare.hdf5`). ``plots`` gathers the reduced
    data a report plots (:mod:`preserve.compare.plotdata`) while comparing.
    """
    tol = _tolerance(rtol, atol)
    if not expected.is_file():
        raise DataError(
            f"published output {path} not found at {expected}",
            hint="fetch the published outputs before comparing",
        )
    if actual is None or not actual.exists():
        return _missing(path, tol)
    try:
        if not actual.is_file():
            return _not_a_file(path, tol)
        digest = _same_digest(expected, actual)
        if digest is not None:
            return OutputComparison(
                path,
                "identical",
                "bytes",
                f"identical bytes (sha256 {digest[:12]})",
                rtol=tol.rtol,
                atol=tol.atol,
            )
        with progress.task(f"comparing {path}", None) as task:
            return _compare_content(expected, actual, tol, path, strict_attributes, plots, task)
    except OSError as exc:
        raise DataError(f"cannot read output {path}: {exc}") from exc


def compare_outputs(
    expected_dir: Path,
    actual_dir: Path,
    paths: Iterable[str],
    rtol: float,
    atol: float,
    *,
    strict_attributes: bool = False,
    plots: bool = False,
    progress: Progress = QUIET,
) -> list[OutputComparison]:
    """Compare each output path (relative, POSIX) under the two directories."""
    paths = list(paths)
    results = []
    with progress.task("comparing outputs", len(paths)) as task:
        for path in paths:
            relative = _relative(path)
            actual = actual_dir / relative
            results.append(
                compare_output(
                    expected_dir / relative,
                    actual if actual.exists() else None,
                    rtol=rtol,
                    atol=atol,
                    path=path,
                    strict_attributes=strict_attributes,
                    plots=plots,
                    progress=progress,
                )
            )
            task.advance(1)
    return results


def compare_for_report(
    pairs: Mapping[str, tuple[Path, Path | None]], *, rtol: float, atol: float
) -> tuple[OutputComparison, ...]:
    """Compare each output path's (published, rerun) files, gathering plot data for a
    report until :data:`MAX_REPORT_PLOTS` plots are held (the rest compare as usual)."""
    results = []
    budget = MAX_REPORT_PLOTS
    for path, (expected, actual) in pairs.items():
        result = compare_output(expected, actual, rtol=rtol, atol=atol, path=path, plots=budget > 0)
        budget -= len(result.plots)
        results.append(result)
    return tuple(results)


def reproduced(comparisons: Sequence[OutputComparison]) -> bool:
    """Whether every output is identical or equivalent."""
    return all(c.reproduced for c in comparisons)


def sniff(path: Path) -> Format:
    """The format a published file is compared in."""
    if has_signature(path):
        return "hdf5"
    suffix = path.suffix.lower()
    if suffix in _TABLES:
        return "csv" if _TABLES[suffix][0] == "csv" else "tsv"
    if suffix in _JSON:
        return "json"
    return "text" if is_text(path) else "binary"


def _compare_content(
    expected: Path, actual: Path, tol: Tolerance, path: str, strict: bool, plots: bool, task: Task
) -> OutputComparison:
    fmt = sniff(expected)
    findings = Findings(tol, structured=fmt in _STRUCTURED, plots=plots)
    note = None
    try:
        if fmt == "hdf5":
            compare_hdf5(expected, actual, tol, findings, task)
        elif fmt in ("csv", "tsv"):
            from preserve.compare.table import compare_table  # pyarrow only for tables

            compare_table(expected, actual, _TABLES[expected.suffix.lower()][1], tol, findings)
        elif fmt == "json":
            compare_json(expected, actual, tol, findings)
        elif fmt == "text":
            note = compare_text(expected, actual, tol, findings)
        else:
            compare_binary(expected, actual, findings)
    except (NotHdf5, NotJson):
        # The published file is not what it looks like: compare it as plain content.
        fmt = "text" if is_text(expected) else "binary"
        findings = Findings(tol, structured=False)
        if fmt == "text":
            note = compare_text(expected, actual, tol, findings)
        else:
            compare_binary(expected, actual, findings)
    return findings.result(path, fmt, equal_note=note, strict_attributes=strict)


def _tolerance(rtol: float, atol: float) -> Tolerance:
    for name, value in (("rtol", rtol), ("atol", atol)):
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError(
                f"tolerance {name}={value} is invalid",
                hint=f"give {name} as a finite number >= 0 (0 compares exactly)",
            )
    return Tolerance(rtol=rtol, atol=atol)


def _missing(path: str, tol: Tolerance) -> OutputComparison:
    return OutputComparison(
        path,
        "missing",
        "bytes",
        "missing: the rerun did not produce this output",
        rtol=tol.rtol,
        atol=tol.atol,
    )


def _not_a_file(path: str, tol: Tolerance) -> OutputComparison:
    difference = Difference(path, "structure", "a file", "not a regular file", None)
    return OutputComparison(
        path,
        "different",
        "bytes",
        "the rerun produced a directory or special file here",
        differences=[difference],
        rtol=tol.rtol,
        atol=tol.atol,
    )


def _same_digest(expected: Path, actual: Path) -> str | None:
    """The SHA-256 shared by both files, or None if their contents differ.

    The files are compared while the published one is hashed, so differing
    files (the usual case once sizes match) cost only a read up to the first
    differing chunk, and identical ones one hash, not two.
    """
    if expected.stat().st_size != actual.stat().st_size:
        return None
    sha = hashlib.sha256()
    with expected.open("rb") as fe, actual.open("rb") as fa:
        while chunk := fe.read(READ_SIZE):
            if fa.read(READ_SIZE) != chunk:
                return None
            sha.update(chunk)
        if fa.read(1):  # the rerun file grew while being read
            return None
    return sha.hexdigest()


def _relative(path: str) -> PurePosixPath:
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise CrateError(
            f"output path {path!r} is not a relative path inside the output directory",
            hint="output paths in the crate must be relative and must not contain '..'",
        )
    return relative
