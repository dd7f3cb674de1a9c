"""How strongly overlap mode filters the images, and what error that leaves.

Each axis' low-pass kernel is blended with the identity, ``strength * K +
(1 - strength) * delta``, only as strongly as the noise needs to keep the
sub-pixel floor of truncated images well below the noise's error; the floor
left is added to the reported error. The floor model ``nu = scale * max(c_d *
(1 - strength) ** FLOOR_DECAY, k_d)``, its measured constants and the rule for
the strength are derived in docs/how-it-works.md, "The filter and its strength".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.ndimage

__all__ = ["EdgeContent", "blend", "edge_scale", "filter_strength", "floor_checked", "floor_noise"]

#: ``c_d`` of the model, per number of dimensions (more than 3 use the 3-D value).
FLOOR_SCALE = {1: 10.0, 2: 2.2, 3: 1.2}
#: ``k_d``: the floor left at full strength, in the same units.
FLOOR_RESIDUE = {1: 0.075, 2: 0.018, 3: 0.006}
#: Largest ratio of the floor to the noise's error that the strength allows.
FLOOR_TOLERANCE = 0.3
#: The unfiltered floor falls as ``(1 - strength) ** FLOOR_DECAY``.
FLOOR_DECAY = 1.6
#: The full-strength answer replaces the chosen one when they differ by more than
#: this many standard deviations of their difference on some axis.
FLOOR_CHECK_SIGMA = 4.0
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
            if image.shape[axis] <= 2 * (kernel.size // 2):
                continue  # no interior along this axis (the prepare stage refuses such images)
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
        if not nyquist:
            return cls(0.0, 0.0)
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


def floor_checked(chosen, full_strength):
    """The measurement at the strength the floor model chose, or the full-strength
    measurement when the two disagree by more than :data:`FLOOR_CHECK_SIGMA` on some
    axis: the chosen strength's floor was larger than the model said (real scenes
    alias more than the model's band-limited images), and the full strength's floor
    is far below it.

    ``chosen`` and ``full_strength()`` are each a measurement without the residual
    stage and a function that runs the stage on it (the same shift). The test is
    Hausman's (1978): without a floor, both estimate the same shift, and with one of
    them the more efficient, the noise alone moves them apart by
    ``sqrt(|var_full - var_chosen|)``, from the pipeline's errors, which are those
    of the noise. The residual stage's errors would not do: they hold the models'
    misfit, the floor itself, and so hide the difference the test looks for. The
    stage then runs on the answer reported only, with the other strength's
    measurement as the witness of its bias (their difference beyond that noise,
    docs/how-it-works-errors.md). A full strength that cannot measure (too few
    pixels left by masks, or no signal) keeps the chosen one, without a witness.
    Its first result may leave out the rival test, which its function then runs:
    a rivalled full-strength answer keeps the chosen one whether it is found out
    before the comparison or after it, so the test runs only when they are apart.
    """
    quick, finish = chosen
    if not quick.measured:
        return finish()
    try:
        full_quick, full_finish = full_strength()
    except ValueError:  # the full filter's footprint leaves too few pixels (masks, NaN)
        return finish()
    if not full_quick.measured:
        return finish()
    spread = np.sqrt(np.abs(np.square(full_quick.error) - np.square(quick.error)))
    apart = np.abs(np.asarray(quick.shift) - np.asarray(full_quick.shift))
    if not np.any(apart > FLOOR_CHECK_SIGMA * spread):
        return finish(full_quick)
    full = full_finish(quick)
    return full if full.measured else finish(full_quick)
