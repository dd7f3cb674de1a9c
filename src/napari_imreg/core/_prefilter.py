"""How strongly overlap mode filters the images: as much as their noise requires.

A truncated image cannot be shifted by a fraction of a pixel near its Nyquist
frequency: near its edges, that content spreads past Nyquist and the sub-pixel
interpolant of the correlation misreads it. This leaves an error that depends
on the true fractional shift (it pulls shifts toward whole pixels) and not on
the noise. Overlap mode blends each axis' low-pass kernel ``K`` (zero response
at Nyquist) with the identity: ``strength * K + (1 - strength) * delta``.
Strength 1 removes that error, but also much of the shift information of
images with power up to Nyquist (1.5-1.9x the scatter on the power-law test
images). So the filter is only as strong as the noise needs: just enough to keep
this error well below the error the noise causes.

The model, from Monte Carlo runs on crops and periodic power-law images
(``make_extended``, indices 1-3, 64-4096 px, noise 0.001-1, 1-D to 3-D):

* Unfiltered, the floor's ratio to the noise's error is
  ``r0 = c_d * P * sqrt(N) / (n * sigma * sqrt(G))``. ``P`` is the mean square
  the kernel removes, ``G`` the mean squared difference of neighbours, both
  averaged over the axes. ``N`` is the number of pixels, ``n`` the shortest
  axis, ``sigma`` the noise of the difference of the two images. The floor
  grows with the edges' length, the noise's error falls with the pixel count.
  The scale ``c_d`` was fitted at 1.0-2.0 in 2-D and at 6-7 in 1-D (a point
  edge). ``FLOOR_SCALE`` takes a margin above these.
* At strength ``a`` the ratio falls as ``(1 - a) ** FLOOR_DECAY``.

The strength is the least that keeps the ratio at ``FLOOR_TOLERANCE``: the
floor then adds at most 4% to the scatter. It is rounded up to a multiple of
``STRENGTH_STEP``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.ndimage

__all__ = ["EdgeContent", "blend", "filter_strength"]

#: ``c_d`` of the model, per number of dimensions (3 and more use the 2-D value).
FLOOR_SCALE = {1: 8.0, 2: 2.5}
#: Largest ratio of the floor to the noise's error that the strength allows.
FLOOR_TOLERANCE = 0.3
#: The floor's ratio at strength ``a`` is ``r0 * (1 - a) ** FLOOR_DECAY``.
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


def floor_ratio(
    content: EdgeContent, shape, noise_var: float, reference_var: float, kernels
) -> float:
    """``r0``: the unfiltered floor over the noise's error (see the module's notes).

    ``noise_var`` is the variance of the difference of the images, ``reference_var``
    the part of it in the reference (the image ``content`` was measured on), which
    is taken out of the statistics.
    """
    # Per unit variance of white noise, what the kernels remove (|1 - H|**2 summed).
    removed = float(np.mean([np.sum(k**2) - 2 * k[k.size // 2] + 1 for k in kernels]))
    nyquist = content.nyquist_power - removed * reference_var
    gradient = content.gradient_power - 2.0 * reference_var
    # Statistics that the noise estimate explains away: an image of noise alone.
    if nyquist <= 0.0 or gradient <= 0.0 or noise_var <= 0.0:
        return 0.0 if noise_var > 0.0 else math.inf
    scale = FLOOR_SCALE.get(len(shape), FLOOR_SCALE[2])
    pixels = math.sqrt(math.prod(shape))
    return scale * nyquist * pixels / (min(shape) * math.sqrt(noise_var * gradient))


def filter_strength(ratio: float) -> float:
    """The least strength (a multiple of ``STRENGTH_STEP``) that keeps a floor of
    unfiltered ratio ``ratio`` at ``FLOOR_TOLERANCE`` of the noise's error."""
    if ratio <= FLOOR_TOLERANCE:
        return 0.0
    needed = 1.0 - (FLOOR_TOLERANCE / ratio) ** (1.0 / FLOOR_DECAY)
    steps = math.ceil(needed / STRENGTH_STEP - 1e-9)
    return min(1.0, round(steps * STRENGTH_STEP, 9))


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
