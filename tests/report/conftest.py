"""Outputs to report on, and headless Chromium (Debian chromium + chromium-driver) to open
the reports in, as a reader would."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from tests.conftest import ROOT
from tests.helpers import CHROMIUM_FLAGS

# Screenshots of the rendered reports, kept for a person to look at (out/ is git-ignored).
ARTIFACTS = ROOT / "out" / "test-artifacts"
FLAGS = [*CHROMIUM_FLAGS, "--window-size=1280,2400"]

Q = np.linspace(0.5, 5.0, 5000)


def peak(centre: float) -> np.ndarray:
    return np.exp(-((Q - centre) ** 2) / 0.005) + 0.1


def write_profile(path: Path, intensity: np.ndarray) -> None:
    """A NeXus NXdata group: intensity against q, with units."""
    with h5py.File(path, "w") as fh:
        group = fh.create_group("entry/profile")
        group.attrs.update({"NX_class": "NXdata", "signal": "intensity", "axes": "q"})
        group["q"] = Q
        group["q"].attrs["units"] = "1/angstrom"
        group["intensity"] = intensity
        group["intensity"].attrs["long_name"] = "I"


def write_image(path: Path, image: np.ndarray) -> None:
    with h5py.File(path, "w") as fh:
        fh.create_dataset("entry/detector/data", data=image, chunks=(64, 64))


def write_csv(path: Path, intensity: np.ndarray) -> None:
    path.write_text(
        "q,intensity\n" + "".join(f"{a:.17g},{b:.17g}\n" for a, b in zip(Q, intensity, strict=True))
    )


@pytest.fixture
def outputs(tmp_path: Path) -> Callable[[str, Any, Any], tuple[Path, Path]]:
    """Write a published and a rerun output with ``writer``; their paths."""

    def make(name: str, published: Any, rerun: Any) -> tuple[Path, Path]:
        pair = []
        for side, data in (("published", published), ("rerun", rerun)):
            path = tmp_path / side / name
            path.parent.mkdir(exist_ok=True)
            suffix = path.suffix
            if suffix == ".csv":
                write_csv(path, data)
            elif suffix == ".json":
                path.write_text(json.dumps(data))
            elif suffix == ".txt":
                path.write_text(data)
            elif np.ndim(data) == 2:
                write_image(path, data)
            else:
                write_profile(path, data)
            pair.append(path)
        return pair[0], pair[1]

    return make


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless Chromium driven by Selenium, with an empty profile, no network of its own."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver_path, (
        "install chromium and chromium-driver (registry/services.sh install)"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        yield driver
    finally:
        driver.quit()


def open_report(driver: Any, page: Path, name: str) -> list[dict[str, Any]]:
    """Open ``page``, keep a screenshot as a test artifact; the console's errors."""
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(page.as_uri())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1280, max(800, min(int(height) + 40, 8000)))
    driver.save_screenshot(str(ARTIFACTS / f"report-{name}.png"))
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR", "WARNING")]
