"""Plot data of HDF5 datasets, with NeXus ``NXdata`` deciding a 1D plot's x axis and labels.

A 1D dataset named as the ``signal`` of an ``NXdata`` group is plotted against
the group's first ``axes`` dataset (when it has the same length), and both are
labelled with their ``long_name`` (else name) and ``units`` attributes.
"""

from __future__ import annotations

import posixpath
from typing import Any

import h5py
import numpy as np

from preserve.compare.plotdata import Deviations, ImageReducer, Plot, SeriesReducer, plottable


class DatasetPlot:
    """Feeds the comparison's blocks of one dataset to a reducer."""

    def __init__(self, path: str, dataset: h5py.Dataset) -> None:
        self.axis: h5py.Dataset | None = None
        self.labels = ("index", _label(dataset, posixpath.basename(path)))
        self.series: SeriesReducer | None = None
        self.image: ImageReducer | None = None
        if len(dataset.shape) == 1:
            self.series = SeriesReducer(path, dataset.shape[0])
            self.axis = _nexus_axis(dataset)
            if self.axis is not None:
                self.labels = (
                    _label(self.axis, posixpath.basename(self.axis.name)),
                    self.labels[1],
                )
        else:
            self.image = ImageReducer(path, dataset.shape)

    @classmethod
    def of(cls, path: str, dataset: h5py.Dataset) -> DatasetPlot | None:
        return cls(path, dataset) if plottable(dataset.shape, dataset.dtype.kind) else None

    def update(
        self,
        selection: tuple[slice, ...],
        e: np.ndarray,
        a: np.ndarray,
        offset: tuple[int, ...],
        known: Deviations | None = None,
    ) -> None:
        """Add a block; ``known``: the comparison's deviations of it, reused for a series."""
        if self.series is not None:
            x = None if self.axis is None else np.asarray(self.axis[selection])
            self.series.update(e, a, x, known)
        elif self.image is not None:
            self.image.update(e, a, offset)

    def result(self) -> Plot:
        if self.series is not None:
            return self.series.result(*self.labels)
        assert self.image is not None
        return self.image.result()


def _text(value: Any) -> str | None:
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, str | np.str_):
        return str(value)
    if isinstance(value, np.ndarray) and value.size:
        return _text(value.flat[0])
    return None


def _label(dataset: h5py.Dataset, name: str) -> str:
    title = _text(dataset.attrs.get("long_name")) or name
    units = _text(dataset.attrs.get("units"))
    return f"{title} ({units})" if units else title


def _nexus_axis(dataset: h5py.Dataset) -> h5py.Dataset | None:
    """The x axis NeXus declares for this signal, or None."""
    try:
        group = dataset.parent
        if _text(group.attrs.get("NX_class")) != "NXdata":
            return None
        if _text(group.attrs.get("signal")) != posixpath.basename(dataset.name):
            return None
        name = _text(group.attrs.get("axes"))
        axis = group.get(name) if name and name != "." else None
    except (OSError, KeyError, TypeError, ValueError):
        return None
    if isinstance(axis, h5py.Dataset) and axis.shape == dataset.shape and axis.dtype.kind in "iuf":
        return axis
    return None
