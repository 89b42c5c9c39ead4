"""Block iteration and value-level comparison."""

from __future__ import annotations

import math

import numpy as np
import pytest

from preserve.compare.blocks import blocks
from preserve.compare.findings import Findings
from preserve.compare.model import Tolerance
from preserve.compare.values import ArrayComparer, compare_numbers, render


@pytest.mark.parametrize(
    ("shape", "max_elements", "chunks"),
    [
        ((), 10, None),
        ((7,), 3, None),
        ((10, 20), 100, None),
        ((3, 1000), 100, None),
        ((4, 5, 6), 7, None),
        ((4, 5, 6), 1, None),
        ((100, 10), 250, (20, 10)),
        ((0, 5), 10, None),
    ],
)
def test_blocks_cover_every_element_once_in_c_order(
    shape: tuple[int, ...], max_elements: int, chunks: tuple[int, ...] | None
) -> None:
    covered = np.zeros(shape, dtype=int)
    starts = []
    for selection, offset in blocks(shape, max_elements, chunks):
        block = covered[selection]
        assert block.ndim == len(shape)
        assert block.size <= max_elements
        covered[selection] += 1
        assert offset == tuple(s.start or 0 for s in selection)
        starts.append(offset)
    assert (covered == 1).all()
    assert starts == sorted(starts)


def test_blocks_align_to_chunks() -> None:
    steps = {sel[0].stop - sel[0].start for sel, _ in blocks((100, 10), 250, (20, 10))}
    assert steps == {20}


def test_compare_numbers() -> None:
    tol = Tolerance(rtol=1e-9, atol=0.0)
    assert compare_numbers(1.0, 1.0, tol).equal
    close = compare_numbers(1.0, 1.0 + 1e-12, tol)
    assert (close.equal, close.within) == (False, True)
    assert close.abs_dev == pytest.approx(1e-12, rel=1e-3)
    assert not compare_numbers(0.0, 1e-300, tol).within  # rtol is relative to the expected 0
    assert compare_numbers(0.0, 1e-300, tol).rel_dev == math.inf
    assert compare_numbers(math.nan, math.nan, tol).equal
    assert not compare_numbers(math.inf, -math.inf, Tolerance(1.0, 1e300)).within
    huge = compare_numbers(10**400, 10**400 + 1, Tolerance(0.0, 1.0))
    assert (huge.within, huge.abs_dev) == (True, 1.0)


def test_complex_values_use_the_modulus() -> None:
    comparer = ArrayComparer(1, Tolerance(rtol=0.0, atol=0.5))
    comparer.update(np.array([1 + 1j, 2j]), np.array([1 + 1.3j, 2.6j]), (0,))
    findings = Findings(Tolerance(0.0, 0.5), structured=True)
    comparer.report(findings, "/z")
    assert findings.max_abs == pytest.approx(0.6)
    assert findings.failures.items[0].location == "/z[1]"


def test_subarray_fields_are_located() -> None:
    dtype = np.dtype([("hkl", "i4", (3,))])
    e = np.zeros(4, dtype=dtype)
    a = e.copy()
    a["hkl"][2, 1] = 1
    comparer = ArrayComparer(1, Tolerance(0.0, 0.0))
    comparer.update(e, a, (10,))
    findings = Findings(Tolerance(0.0, 0.0), structured=True)
    comparer.report(findings, "/peaks")
    assert findings.failures.items[0].location == "/peaks[12].hkl[1]"


def test_render_is_short() -> None:
    assert render(np.float32(0.1)) == "0.1"
    assert render(b"x" * 100).endswith("…")
    assert len(render("y" * 100)) == 60
    assert render(np.arange(100)) == "[ 0,  1, ..., 98, 99]"
