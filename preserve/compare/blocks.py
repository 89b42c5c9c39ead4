"""Hyperslab blocks that cover an N-d array in C order, each at most ``max_elements``."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

Selection = tuple[slice, ...]


def blocks(
    shape: tuple[int, ...], max_elements: int, chunks: tuple[int, ...] | None = None
) -> Iterator[tuple[Selection, tuple[int, ...]]]:
    """Yield (selection, offset) pairs; selections keep every dimension.

    Blocks split the outermost axes first, so trailing axes are read whole
    whenever they fit. Along the split axis the block length is rounded down to
    a multiple of the chunk length (when one chunk row fits), so that no chunk
    is decompressed twice.
    """
    if math.prod(shape) == 0:
        return
    if not shape:
        yield (), ()
        return
    axis, inner = _split_axis(shape, max_elements)
    step = max(1, max_elements // inner)
    if chunks is not None and step >= chunks[axis]:
        step -= step % chunks[axis]
    trailing = (slice(None),) * (len(shape) - axis - 1)
    for outer in np.ndindex(*shape[:axis]):
        for start in range(0, shape[axis], step):
            stop = min(start + step, shape[axis])
            selection = (*(slice(i, i + 1) for i in outer), slice(start, stop), *trailing)
            yield selection, (*outer, start, *(0,) * len(trailing))


def _split_axis(shape: tuple[int, ...], max_elements: int) -> tuple[int, int]:
    """The outermost axis to step along, and the element count of one step of it."""
    axis, inner = len(shape) - 1, 1
    while axis > 0 and inner * shape[axis] <= max_elements:
        inner *= shape[axis]
        axis -= 1
    return axis, inner
