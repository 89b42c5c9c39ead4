"""Compare a rerun's outputs with the published ones.

>>> results = compare_outputs(published_dir, rerun_dir, ["out/result.h5"], rtol=1e-9, atol=0)
>>> reproduced(results)

Each output gets a verdict: ``identical`` (same bytes), ``equivalent`` (bytes
differ, data equal within tolerance), ``different`` (with located differences)
or ``missing``. See :mod:`preserve.compare.outputs` for how formats are chosen.
"""

from preserve.compare.model import Difference, Format, OutputComparison, Tolerance, Verdict
from preserve.compare.outputs import (
    compare_for_report,
    compare_output,
    compare_outputs,
    reproduced,
    sniff,
)

__all__ = [
    "Difference",
    "Format",
    "OutputComparison",
    "Tolerance",
    "Verdict",
    "compare_for_report",
    "compare_output",
    "compare_outputs",
    "reproduced",
    "sniff",
]
