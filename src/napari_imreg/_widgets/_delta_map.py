"""Where the pair widget's Δχ² map layer goes and what its samples mean: its placement beside
the reference, the shift of each sample, and the (dy, dx) plane the widget plots.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from napari.layers import Image

from napari_imreg._widgets._layers import spatial_shape
from napari_imreg.core import slice_covariance

if TYPE_CHECKING:
    from napari_imreg._widgets._pair_model import PairJob

#: The Δχ² map layer spans this fraction of the reference's smaller displayed side.
MAP_SIZE = 0.4


def map_placement(reference: Image, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Scale and translate of a Δχ² map layer of ``shape``, beside ``reference``.

    In the two displayed (last) axes the map spans :data:`MAP_SIZE` of the reference's smaller
    side, top-aligned, just right of it. Along any leading axis each map plane takes one
    reference plane, the middle planes together, so the dims sliders keep the reference's
    steps and range.
    """
    ndim = len(shape)
    counts = np.asarray(shape, dtype=float)
    pixel = np.asarray(reference.scale[-ndim:], dtype=float)
    low, high = np.asarray(reference.extent.world, dtype=float)[:, -ndim:]
    size = high - low + pixel
    scale, translate = pixel.copy(), low.copy()
    data = reference.data[0] if reference.multiscale else reference.data
    planes = spatial_shape(reference, data.shape)[-ndim:]
    shown = min(ndim, 2)
    for axis in range(ndim - shown):
        translate[axis] = low[axis] + (planes[axis] // 2 - shape[axis] // 2) * pixel[axis]
    side = MAP_SIZE * float(np.min(size[-shown:]))
    scale[-shown:] = side / counts[-shown:]
    translate[-shown:] = low[-shown:] - pixel[-shown:] / 2 + scale[-shown:] / 2
    translate[-1] = high[-1] + pixel[-1] / 2 + 0.05 * size[-1] + scale[-1] / 2
    return scale, translate


def map_coords(job: PairJob) -> tuple[np.ndarray, ...]:
    """The shift, in full-resolution pixels, of each Δχ² sample along each axis."""
    factor, start = job.moving_array.factor, job.start_pixels
    return tuple(
        (np.asarray(c, dtype=float) + s) * f
        for c, s, f in zip(job.result.delta_chi2_coords, start, factor, strict=True)
    )


def map_plane(job: PairJob) -> tuple[np.ndarray, tuple[np.ndarray, ...], np.ndarray, Any]:
    """The (dy, dx) plane of the Δχ² map through its minimum, with its coordinates, the shift
    and the covariance of (dy, dx) at the best value of the other components (None if the
    result has none)."""
    result = job.result
    values = np.asarray(result.delta_chi2)
    coords = map_coords(job)
    lead = np.unravel_index(np.argmin(values), values.shape)[: values.ndim - 2]
    plane = values[lead]
    covariance = None
    if result.covariance is not None:
        factor = np.asarray(job.moving_array.factor, dtype=float)
        covariance = slice_covariance(np.asarray(result.covariance) * np.outer(factor, factor))
    return plane, coords[-2:], job.full_shift[-2:], covariance
