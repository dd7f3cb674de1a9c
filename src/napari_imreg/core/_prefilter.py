"""How strongly overlap mode filters the images, and what error that leaves.

A truncated image cannot be shifted by a fraction of a pixel near its Nyquist
frequency: near its edges, that content spreads past Nyquist and the sub-pixel
interpolant of the correlation misreads it. This leaves an error that depends
on the true fractional shift (it pulls shifts toward whole pixels) and not on
the noise. Overlap mode blends each axis' low-pass kernel ``K`` (zero response
at Nyquist) with the identity: ``strength * K + (1 - strength) * delta``.
Strength 1 removes most of that error, but also much of the shift information
of images with power up to Nyquist (1.5-1.9x the scatter on the power-law test
images). So the filter is only as strong as the noise needs: just enough to keep
this error well below the error the noise causes. What it leaves (the "floor")
is added to the reported error.

The model, from Monte Carlo runs on crops and periodic power-law images
(``make_extended``, indices 1-3, 24-4096 px, noise 0 to 1, 1-D to 3-D):

* The floor, as the noise level whose error it equals, is
  ``nu = scale * max(c_d * (1 - strength) ** FLOOR_DECAY, k_d)`` with
  ``scale = P * sqrt(N) / (n * sqrt(G))``. ``P`` is the mean square that the
  kernel removes and ``G`` the mean squared difference of neighbours (both
  averaged over the axes, the reference's noise taken out), ``N`` the number of
  pixels and ``n`` the shortest axis: the floor grows with the edges' length,
  the noise's error falls with the pixel count.
* Unfiltered, the rms floor gave ``c_d`` = 1.3-2.2 in 2-D (64-256 px), 4.7-9.8
  in 1-D (512-4096 px) and 0.5-1.1 in 3-D (24-40 px); at strength 0.5 it fell
  as ``0.5 ** 1.6``. At full strength, ``k_d`` = 0.008-0.017 in 2-D, 0.034-0.071
  in 1-D and 0.002-0.005 in 3-D. ``FLOOR_SCALE`` and ``FLOOR_RESIDUE`` sit at
  or a little above the largest of each; ``benchmarks/floor_model.py``
  measures them again.

The strength is the least multiple of ``STRENGTH_STEP`` that keeps
``c_d * scale * (1 - strength) ** FLOOR_DECAY`` at ``FLOOR_TOLERANCE`` times the
noise: the floor then adds at most 4.4% to the scatter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.ndimage

__all__ = ["EdgeContent", "blend", "edge_scale", "filter_strength", "floor_noise"]

#: ``c_d`` of the model, per number of dimensions (more than 3 use the 3-D value).
FLOOR_SCALE = {1: 10.0, 2: 2.2, 3: 1.2}
#: ``k_d``: the floor left at full strength, in the same units.
FLOOR_RESIDUE = {1: 0.075, 2: 0.018, 3: 0.006}
#: Largest ratio of the floor to the noise's error that the strength allows.
FLOOR_TOLERANCE = 0.3
#: The unfiltered floor falls as ``(1 - strength) ** FLOOR_DECAY``.
FLOOR_DECAY = 1.6
#: Strengths are rounded up to a multiple of this.
STRENGTH_STEP = 0.1
#: Along each axis, the statistics read up to this many lines of the image.
SAMPLED_LINES = 64


@dataclass(frozen=True)
class EdgeContent:
    """What an image holds that the floor depends on.

    ``nyquist_power``: the mean square that the kernels remove, ``gradient_power``:
    the mean squared difference of neighbours (both averaged over the axes, noise
    included).
    """

    nyquist_power: float
    gradient_power: float

    @classmethod
    def measure(cls, image: np.ndarray, valid, kernels) -> EdgeContent:
        """The statistics of ``image`` (invalid pixels zeroed; ``valid`` None when
        all are valid). Each axis reads up to ``SAMPLED_LINES`` evenly spaced lines."""
        nyquist, gradient = [], []
        for axis, kernel in enumerate(kernels):
            lines = _sampled_lines(image.shape, axis)
            data = np.asarray(image[lines], dtype=np.float64)
            high = scipy.ndimage.correlate1d(data, -kernel, axis=axis, mode="constant")
            high += data
            step = np.diff(data, axis=axis)
            half = kernel.size // 2
            inside = [slice(None)] * image.ndim
            inside[axis] = slice(half, image.shape[axis] - half)
            if valid is None:
                nyquist.append(float(np.mean(high[tuple(inside)] ** 2)))
                gradient.append(float(np.mean(step**2)))
                continue
            mask = np.asarray(valid[lines])
            footprint = np.ones([kernel.size if a == axis else 1 for a in range(image.ndim)])
            clean = scipy.ndimage.binary_erosion(mask, footprint, border_value=0)
            pairs = mask[_cut(image.ndim, axis, 1, None)] & mask[_cut(image.ndim, axis, None, -1)]
            nyquist.append(_mean_square(high, clean))
            gradient.append(_mean_square(step, pairs))
        return cls(float(np.mean(nyquist)), float(np.mean(gradient)))


def _sampled_lines(shape, axis: int) -> tuple[slice, ...]:
    """Every axis whole along ``axis``, and strided along the others to about
    ``SAMPLED_LINES`` lines in all."""
    others = [n for a, n in enumerate(shape) if a != axis]
    stride = math.ceil((math.prod(others) / SAMPLED_LINES) ** (1 / max(1, len(others))))
    every = slice(None, None, max(1, stride))
    return tuple(slice(None) if a == axis else every for a in range(len(shape)))


def _cut(ndim: int, axis: int, start, stop) -> tuple[slice, ...]:
    return tuple(slice(start, stop) if a == axis else slice(None) for a in range(ndim))


def _mean_square(values: np.ndarray, where: np.ndarray) -> float:
    count = np.count_nonzero(where)
    return float(np.sum(values[where] ** 2) / count) if count else 0.0


def edge_scale(content: EdgeContent, shape, reference_var: float, kernels) -> float:
    """``P sqrt(N) / (n sqrt(G))`` of the model (see the module's notes), with the
    reference's noise variance ``reference_var`` taken out of the statistics; 0 when
    they are all noise."""
    # Per unit variance of white noise, what the kernels remove (|1 - H|**2 summed).
    removed = float(np.mean([np.sum(k**2) - 2 * k[k.size // 2] + 1 for k in kernels]))
    nyquist = content.nyquist_power - removed * reference_var
    gradient = content.gradient_power - 2.0 * reference_var
    if nyquist <= 0.0 or gradient <= 0.0:
        return 0.0
    return nyquist * math.sqrt(math.prod(shape)) / (min(shape) * math.sqrt(gradient))


def _constant(table: dict, ndim: int) -> float:
    return table[min(ndim, max(table))]


def filter_strength(scale: float, ndim: int, noise_var: float) -> float:
    """The least strength (a multiple of ``STRENGTH_STEP``) that keeps the floor at
    ``FLOOR_TOLERANCE`` of the noise's error, for a difference of noise variance
    ``noise_var``."""
    if noise_var <= 0.0:
        return 1.0
    ratio = _constant(FLOOR_SCALE, ndim) * scale / math.sqrt(noise_var)
    if ratio <= FLOOR_TOLERANCE:
        return 0.0
    needed = 1.0 - (FLOOR_TOLERANCE / ratio) ** (1.0 / FLOOR_DECAY)
    steps = math.ceil(needed / STRENGTH_STEP - 1e-9)
    return min(1.0, round(steps * STRENGTH_STEP, 9))


def floor_noise(scale: float, ndim: int, strength: float) -> float:
    """``nu``: the floor at ``strength``, as the noise level whose error it equals."""
    unfiltered = _constant(FLOOR_SCALE, ndim) * (1.0 - strength) ** FLOOR_DECAY
    return scale * max(unfiltered, _constant(FLOOR_RESIDUE, ndim))


def blend(kernels, strength: float) -> list[np.ndarray] | None:
    """Each kernel at ``strength``: ``strength * K + (1 - strength) * delta`` (None
    at strength 0: no filter)."""
    if strength <= 0.0:
        return None
    out = []
    for kernel in kernels:
        mixed = strength * kernel
        mixed[kernel.size // 2] += 1.0 - strength
        out.append(mixed)
    return out
