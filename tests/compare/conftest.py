"""Helpers that write real HDF5/NeXus files for the comparison tests."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def intensity() -> np.ndarray:
    """A 2-D detector image with a spread of magnitudes."""
    rng = np.random.default_rng(42)
    return rng.uniform(1.0, 1000.0, size=(40, 30))


def write_nexus(
    path: Path,
    data: np.ndarray | None = None,
    *,
    reverse_order: bool = False,
    chunks: tuple[int, ...] | bool | None = None,
    compression: str | None = None,
    track_times: bool = False,
    file_time: str = "2024-01-01T00:00:00",
    extra: Callable[[h5py.File], Any] | None = None,
) -> Path:
    """A small NeXus-like file: /entry/data/I (+ axes), /entry/instrument/name."""
    data = intensity() if data is None else data

    def write_data(f: h5py.File) -> None:
        group = f.require_group("entry/data")
        group.attrs["NX_class"] = "NXdata"
        group.attrs["signal"] = "I"
        ds = group.create_dataset(
            "I", data=data, chunks=chunks, compression=compression, track_times=track_times
        )
        ds.attrs["units"] = "counts"
        group.create_dataset(
            "q", data=np.linspace(0.01, 0.5, data.shape[0]), track_times=track_times
        )

    def write_instrument(f: h5py.File) -> None:
        group = f.require_group("entry/instrument")
        group.attrs["NX_class"] = "NXinstrument"
        group.create_dataset("name", data="P03 beamline", track_times=track_times)

    with h5py.File(path, "w") as f:
        f.attrs["file_time"] = file_time
        f.require_group("entry").attrs["NX_class"] = "NXentry"
        steps = [write_data, write_instrument]
        for step in reversed(steps) if reverse_order else steps:
            step(f)
        if extra is not None:
            extra(f)
    return path


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """Paths for a published and a rerun output."""
    (tmp_path / "published").mkdir()
    (tmp_path / "rerun").mkdir()
    return tmp_path / "published" / "out.h5", tmp_path / "rerun" / "out.h5"
