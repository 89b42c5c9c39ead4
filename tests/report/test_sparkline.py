"""The terminal sparkline tells noise from structure."""

from __future__ import annotations

import numpy as np

from preserve.compare.plotdata import SeriesReducer
from preserve.report.sparkline import BARS, sparkline


def _line(e: np.ndarray, a: np.ndarray) -> str:
    reducer = SeriesReducer("x", e.size)
    reducer.update(e, a)
    return sparkline(reducer.result(), width=20)


def test_a_localised_deviation_is_one_peak_and_noise_is_everywhere() -> None:
    e = np.ones(10_000)
    shifted = e.copy()
    shifted[5_000:5_100] += 1e-3
    line = _line(e, shifted)
    assert len(line) == 20 and line.count(BARS[-1]) == 1 and line[10] == BARS[-1]
    assert set(line) - {BARS[-1]} == {BARS[0]}
    noisy = e * (1 + 1e-9 * np.random.default_rng(2).uniform(0.5, 1, e.size))
    assert min(_line(e, noisy)) > BARS[2]


def test_no_deviation_is_flat() -> None:
    assert _line(np.ones(50), np.ones(50)) == BARS[0] * 20
