"""Azimuthal integration of 2D powder-diffraction frames into a 1D profile I(q).

Usage: integrate.py --config CONFIG.json FRAMES.h5 MASK.h5 OUTDIR

Averages the frames of a scan, drops masked pixels (beamstop, gaps, hot
pixels), converts every pixel to momentum transfer q from the detector
geometry, and integrates the intensity in q bins. Writes OUTDIR/profile.csv
and OUTDIR/profile.h5 (NeXus NXdata).
"""

import argparse
import csv
import json
import os
import sys

import h5py
import numpy as np


def q_map(shape, geometry):
    """Momentum transfer q (1/Angstrom) of every pixel centre."""
    ny, nx = shape
    y, x = np.indices((ny, nx), dtype=np.float64)
    dy = (y + 0.5 - geometry["beam_center_y"]) * geometry["pixel_size_m"]
    dx = (x + 0.5 - geometry["beam_center_x"]) * geometry["pixel_size_m"]
    two_theta = np.arctan2(np.hypot(dx, dy), geometry["distance_m"])
    return 4 * np.pi * np.sin(two_theta / 2) / geometry["wavelength_angstrom"]


def integrate(frames, mask, config):
    image = frames.mean(axis=0, dtype=np.float64)
    q = q_map(image.shape, config["geometry"])
    valid = ~mask.astype(bool)
    edges = np.linspace(config["q_min"], config["q_max"], config["bins"] + 1)
    counts, _ = np.histogram(q[valid], bins=edges)
    total, _ = np.histogram(q[valid], bins=edges, weights=image[valid])
    squares, _ = np.histogram(q[valid], bins=edges, weights=image[valid] ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / counts
        sigma = np.sqrt(np.maximum(squares / counts - mean**2, 0) / counts)
    centres = 0.5 * (edges[1:] + edges[:-1])
    keep = counts > 0
    return centres[keep], mean[keep], sigma[keep], counts[keep]


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("frames")
    parser.add_argument("mask")
    parser.add_argument("outdir")
    args = parser.parse_args(argv)
    with open(args.config) as fh:
        config = json.load(fh)
    with h5py.File(args.frames, "r") as fh:
        frames = fh[config["frames_dataset"]][()]
    with h5py.File(args.mask, "r") as fh:
        mask = fh["mask"][()]
    q, intensity, sigma, npix = integrate(frames, mask, config)
    os.makedirs(args.outdir, exist_ok=True)
    with open(os.path.join(args.outdir, "profile.csv"), "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["q_per_angstrom", "intensity", "sigma", "pixels"])
        for row in zip(q, intensity, sigma, npix):
            writer.writerow([f"{row[0]:.6f}", f"{row[1]:.6f}", f"{row[2]:.6f}", int(row[3])])
    with h5py.File(os.path.join(args.outdir, "profile.h5"), "w") as fh:
        entry = fh.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        data = entry.create_group("data")
        data.attrs.update({"NX_class": "NXdata", "signal": "I", "axes": "q"})
        data.create_dataset("q", data=q).attrs["units"] = "1/angstrom"
        data.create_dataset("I", data=intensity).attrs["units"] = "counts"
        data.create_dataset("I_errors", data=sigma)
        data.create_dataset("pixels", data=npix)
    print(f"integrated {frames.shape[0]} frames into {len(q)} q bins")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
