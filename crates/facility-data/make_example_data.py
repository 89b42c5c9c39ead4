"""Generate the example scan (synthetic powder rings on a 256x256 detector) and mask.

Run once; the files are committed. Deterministic: fixed seed, no HDF5 timestamps.
"""

from pathlib import Path

import h5py
import numpy as np

HERE = Path(__file__).resolve().parent
rng = np.random.default_rng(42)
ny = nx = 256
y, x = np.indices((ny, nx))
r = np.hypot(x + 0.5 - 128, y + 0.5 - 128)
rings = sum(a * np.exp(-0.5 * ((r - r0) / w) ** 2) for a, r0, w in
            [(900, 40, 1.5), (600, 62, 1.8), (400, 85, 2.0), (250, 104, 2.2)])
background = 50 + 2000 / (1 + r)
frames = rng.poisson(np.broadcast_to(rings + background, (10, ny, nx))).astype(np.uint16)
with h5py.File(HERE / "scan42" / "frames.h5", "w", track_times=False) as fh:
    entry = fh.create_group("entry", track_order=True)
    data = entry.create_group("data")
    data.create_dataset("frames", data=frames, chunks=(1, ny, nx), compression="gzip",
                        track_times=False)
mask = np.zeros((ny, nx), dtype=np.uint8)
mask[r < 12] = 1                       # beamstop
mask[:, 120:124] = 1                   # module gap
mask[rng.integers(0, ny, 30), rng.integers(0, nx, 30)] = 1   # dead pixels
with h5py.File(HERE.parent / "azimuthal-integration" / "data" / "mask.h5", "w",
               track_times=False) as fh:
    fh.create_dataset("mask", data=mask, compression="gzip", track_times=False)
