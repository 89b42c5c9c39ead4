"""Reports on identical, equivalent (noise), different (a shifted peak) and 2D outputs,
opened in headless Chromium: no console errors, every plot loads, the verdicts read right.
Screenshots are kept in out/test-artifacts/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from preserve.compare import compare_output
from preserve.compare.tolerance import choose
from preserve.report import Report, write_report
from tests.report.conftest import Q, open_report, peak

RNG = np.random.default_rng(14)


def _report(tmp_path: Path, name: str, pairs: dict[str, tuple[Path, Path]], rtol: float) -> Path:
    comparisons = tuple(
        compare_output(e, a, rtol=rtol, atol=0.0, path=path, plots=True)
        for path, (e, a) in pairs.items()
    )
    page = tmp_path / f"{name}.html"
    write_report(
        Report(
            f"Rerun of {name}", "10.5072/x", "rerun", choose(None, rtol, None), comparisons, pairs
        ),
        page,
    )
    return page


def _images(driver: Any) -> tuple[int, bool]:
    count = driver.execute_script("return document.images.length")
    loaded = driver.execute_script(
        "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
    )
    return int(count), bool(loaded)


@pytest.mark.parametrize(
    ("case", "verdicts", "plots"),
    [
        ("identical", {"profile.h5": "identical", "notes.txt": "identical"}, 0),
        ("equivalent", {"profile.h5": "equivalent", "profile.csv": "equivalent"}, 2),
        (
            "different",
            {"profile.h5": "different", "profile.csv": "different", "fit.json": "different"},
            2,
        ),
        ("image", {"detector.h5": "different"}, 1),
    ],
)
def test_report_opens_cleanly_in_chromium(
    tmp_path: Path, outputs: Any, chromium: Any, case: str, verdicts: dict[str, str], plots: int
) -> None:
    base = peak(2.0)
    noisy = base * (1 + 1e-10 * RNG.standard_normal(Q.size))
    shifted = peak(2.02)
    image = np.add.outer(np.sin(np.linspace(0, 3, 400)), np.cos(np.linspace(0, 2, 300)))
    hot = image.copy()
    hot[200:210, 100:110] += 0.5
    data = {
        "identical": {"profile.h5": (base, base), "notes.txt": ("peak at 2.0\n", "peak at 2.0\n")},
        "equivalent": {"profile.h5": (base, noisy), "profile.csv": (base, noisy)},
        "different": {
            "profile.h5": (base, shifted),
            "profile.csv": (base, shifted),
            "fit.json": ({"centre": 2.0, "width": 0.05}, {"centre": 2.02, "width": 0.05}),
        },
        "image": {"detector.h5": (image, hot)},
    }[case]
    pairs = {name: outputs(name, e, a) for name, (e, a) in data.items()}
    page = _report(tmp_path, case, pairs, rtol=1e-9)

    assert open_report(chromium, page, case) == []
    assert _images(chromium) == (plots, True)
    verdict = chromium.find_element("id", "verdict").text
    assert verdict == ("NOT reproduced" if case in ("different", "image") else "reproduced")
    rows = chromium.find_elements("css selector", "table tr")[1:]
    assert {
        r.find_elements("tag name", "td")[0].text: r.find_elements("tag name", "td")[1].text
        for r in rows
    } == verdicts
    assert (
        "rtol 1e-09 (command line), atol 0 (default)"
        in chromium.find_element("id", "tolerance").text
    )
    if case == "identical":  # one line per identical output, nothing more
        sections = chromium.find_elements("css selector", "section.output")
        assert [len(s.find_elements("xpath", "./*")) for s in sections] == [2, 2]
        assert all(
            s.find_element("tag name", "p").text.startswith("identical bytes") for s in sections
        )
    if case == "different":
        removed = chromium.find_elements("css selector", "pre.diff .del")
        assert any('"centre": 2.0' in r.text for r in removed)
