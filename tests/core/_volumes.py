"""Pseudo-real volumes from real 2-D scenes, for exactly shifted 3-D pairs (make_binned_pair)."""

from __future__ import annotations

import numpy as np

from napari_imreg.core._binned_pairs import load_scene


def sheared_volume(names, side: int) -> np.ndarray:
    """A ``side``³ volume: three real scenes (``names``), each normalised and sheared
    along the first axis in its own direction (one full-resolution pixel per slice),
    summed, so that no direction of the volume is degenerate."""
    planes = []
    for name in names:
        plane = load_scene(name)
        planes.append((plane - plane.mean()) / plane.std())
    rows = np.arange(side)[:, None]
    columns = np.arange(side)[None, :]
    directions = ((1, 0, 1.0), (0, 1, 0.7), (-1, 2, 0.5))
    slices = []
    for k in range(side):
        total = np.zeros((side, side))
        for plane, (dy, dx, weight) in zip(planes, directions, strict=True):
            total += (
                weight
                * plane[(rows + dy * k) % plane.shape[0], (columns + dx * k) % plane.shape[1]]
            )
        slices.append(total)
    volume = np.stack(slices)
    return volume - volume.min()
