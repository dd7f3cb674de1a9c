"""How strongly overlap mode filters the images, and what error that leaves.

Each axis' low-pass kernel is blended with the identity, ``strength * K +
(1 - strength) * delta``, only as strongly as the noise needs to keep the
sub-pixel floor of truncated images well below the noise's error; the floor
left is added to the reported error. The floor model ``nu = scale * max(c_d *
(1 - strength) ** FLOOR_DECAY, k_d)``, its measured constants and the rule for
the strength are derived in docs/how-it-works.md, "The filter and its strength".
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import scipy.ndimage
import scipy.stats

from ._filter import filter_response

__all__ = [
    "EdgeContent",
    "PowerSpectrum",
    "blend",
    "edge_scale",
    "filter_strength",
    "floor_checked",
    "floor_noise",
    "least_variance_strength",
]

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


@functools.lru_cache(maxsize=64)
def floor_check_level(dof: int) -> float:
    """Student's t on ``dof`` degrees of freedom at the two-sided level of
    :data:`FLOOR_CHECK_SIGMA` normal sigmas: the floor check's level for a spread read
    from few blocks or rings (scipy's distributions cost about a millisecond a call,
    and a stack's frames ask again for the same few)."""
    return float(scipy.stats.t.isf(scipy.stats.norm.sf(FLOOR_CHECK_SIGMA), dof))


#: Strengths are rounded up to a multiple of this.
STRENGTH_STEP = 0.1
#: Along each axis, the statistics read up to this many lines of the image.
SAMPLED_LINES = 64
#: The reference's power spectrum is averaged over tiles of at most this many
#: pixels (Welch's method): 64² in 2-D, 16³ in 3-D, finer than the kernels' responses vary.
TILE_PIXELS = 2**12
#: At most this many tiles (evenly spread) are read.
MAX_TILES = 16


@dataclass(frozen=True)
class EdgeContent:
    """What an image holds that the floor depends on.

    ``nyquist_power``: the mean square that the kernels remove, ``gradient_power``:
    the mean squared difference of neighbours (both averaged over the axes, noise
    included).
    """

    nyquist_power: float
    gradient_power: float
    spectrum: PowerSpectrum | None = None

    @classmethod
    def measure(cls, image: np.ndarray, valid, kernels) -> EdgeContent:
        """The statistics of ``image`` (invalid pixels zeroed; ``valid`` None when
        all are valid). Each axis reads up to ``SAMPLED_LINES`` evenly spaced lines;
        the spectrum reads up to ``MAX_TILES`` tiles."""
        spectrum = PowerSpectrum.measure(image, valid)
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
            return cls(0.0, 0.0, spectrum)
        return cls(float(np.mean(nyquist)), float(np.mean(gradient)), spectrum)


@dataclass(frozen=True)
class PowerSpectrum:
    """An image's power per spatial frequency, noise included, averaged over
    Hann-windowed tiles (Welch's method).

    ``power`` is on the tiles' FFT grid, in the units of a noise variance: white
    noise of variance ``v`` on every valid pixel adds ``v * valid_share`` to each
    frequency. ``frequencies``: each axis' frequencies in cycles per pixel.
    """

    power: np.ndarray
    frequencies: tuple[np.ndarray, ...]
    valid_share: float

    @classmethod
    def measure(cls, image: np.ndarray, valid) -> PowerSpectrum:
        """The spectrum of ``image`` (invalid pixels zeroed; ``valid`` None when all
        are valid), from up to ``MAX_TILES`` tiles of up to ``TILE_PIXELS`` pixels."""
        ndim = image.ndim
        side = max(2, round(TILE_PIXELS ** (1.0 / ndim)))
        tile = [min(n, side) for n in image.shape]
        per_axis = max(1, int(MAX_TILES ** (1.0 / ndim)))
        starts = [
            np.unique(np.linspace(0, n - t, min(per_axis, -(-n // t))).round().astype(int))
            for n, t in zip(image.shape, tile, strict=True)
        ]
        window = np.ones(tile)
        for axis, t in enumerate(tile):
            shape = [t if a == axis else 1 for a in range(ndim)]
            window = window * np.hanning(t + 2)[1:-1].reshape(shape)
        norm = float(np.sum(window**2))
        power, share = np.zeros(tile), []
        for corner in np.stack(np.meshgrid(*starts, indexing="ij"), -1).reshape(-1, ndim):
            cut = tuple(slice(c, c + t) for c, t in zip(corner, tile, strict=True))
            data = np.asarray(image[cut], dtype=np.float64)
            weight = window if valid is None else window * valid[cut]
            total = float(np.sum(weight))
            if total <= 0.0:
                continue
            centred = weight * (data - float(np.sum(weight * data)) / total)
            power += np.abs(np.fft.fftn(centred)) ** 2 / norm
            share.append(float(np.sum(weight**2)) / norm)
        count = max(1, len(share))
        frequencies = tuple(np.fft.fftfreq(t) for t in tile)
        return cls(power / count, frequencies, float(np.sum(share)) / count)

    def removed_power(self, kernels) -> float:
        """The mean power, per unit share of valid pixels, where the ``kernels`` (one
        per axis) pass less than half the power: near Nyquist, where the noise
        dominates whatever scene is left."""
        response = np.ones(self.power.shape)
        for axis, (f, kernel) in enumerate(zip(self.frequencies, kernels, strict=True)):
            shape = [f.size if a == axis else 1 for a in range(self.power.ndim)]
            response = response * filter_response(f, kernel).reshape(shape)
        removed = response**2 < 0.5
        if not np.any(removed) or self.valid_share <= 0.0:
            return 0.0
        return float(np.mean(self.power[removed])) / self.valid_share

    def shift_variance(self, kernels, reference_var: float, moving_var: float) -> float:
        """The variance of the shift (summed over the axes, up to a factor common to
        every filter) that chi2 gives when both images are filtered by ``kernels``
        (one per axis; None: unfiltered) and carry white noise of these variances;
        infinite when the images hold no signal above the noise.

        At each frequency the filtered cross term carries the signal ``H**2 S`` and
        the noise ``H**4 (S (v_R + v_M) + v_R v_M)``, so axis ``a`` gives
        ``sum k_a**2 H**4 (S (v_R + v_M) + v_R v_M) / (sum k_a**2 H**2 S)**2``.
        """
        responses = [
            np.ones((1, f.size)) if kernels is None else filter_response(f, kernel)[None]
            for f, kernel in zip(self.frequencies, kernels or self.frequencies, strict=True)
        ]
        return float(self.shift_variances(responses, reference_var, moving_var)[0])

    def shift_variances(self, responses, reference_var: float, moving_var: float) -> np.ndarray:
        """:meth:`shift_variance` for several filters at once: ``responses`` holds each
        axis' response on that axis' ``frequencies``, one row per filter."""
        ndim = self.power.ndim
        count = responses[0].shape[0]
        h2 = np.ones((count, *self.power.shape))
        for axis, response in enumerate(responses):
            shape = [count] + [response.shape[1] if a == axis else 1 for a in range(ndim)]
            h2 = h2 * (response**2).reshape(shape)
        signal = self.power - reference_var * self.valid_share
        noise = h2**2 * (signal * (reference_var + moving_var) + reference_var * moving_var)
        summed = tuple(range(1, ndim + 1))
        total = np.zeros(count)
        for axis, f in enumerate(self.frequencies):
            shape = [1] + [f.size if a == axis else 1 for a in range(ndim)]
            k2 = ((2 * np.pi * f) ** 2).reshape(shape)
            curvature = np.sum(k2 * h2 * signal, axis=summed)
            spread = np.sum(k2 * noise, axis=summed)
            with np.errstate(divide="ignore", invalid="ignore"):
                total += np.where(curvature > 0.0, spread / curvature**2, np.inf)
        return total


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


def least_variance_strength(
    spectrum: PowerSpectrum, kernels, shape, scale: float, reference_var: float, moving_var: float
) -> float:
    """The strength (a multiple of ``STRENGTH_STEP``) whose predicted error is least:
    the noise's shift variance (:meth:`PowerSpectrum.shift_variance`, over the
    pixels the filter's margins leave), inflated by the floor left, as noise of
    variance ``floor_noise**2``, just as the errors are; 0 for no noise.

    Filtering trades the shift information of the frequencies it damps for the
    noise they carry: with the noise above the signal near Nyquist (low SNR, or
    scenes whose power falls steeply), the full strength has the least variance.
    """
    noise_var = reference_var + moving_var
    if noise_var <= 0.0:
        return 0.0
    ndim = len(shape)
    # Axes shorter than their kernel are not filtered (``_filter.smooth``).
    active = [n >= kernel.size for n, kernel in zip(shape, kernels, strict=True)]
    kept = [
        n - 2 * (k.size // 2) if a else n for n, k, a in zip(shape, kernels, active, strict=True)
    ]
    margins = math.prod(shape) / math.prod(max(1, n) for n in kept)
    strengths = [round(step * STRENGTH_STEP, 9) for step in range(round(1 / STRENGTH_STEP) + 1)]
    responses = []
    for f, kernel, filtered in zip(spectrum.frequencies, kernels, active, strict=True):
        full = filter_response(f, kernel) if filtered else np.ones(f.size)
        # The blend's response is the blend of the responses.
        responses.append(np.array([s * full + (1.0 - s) for s in strengths]))
    variance = spectrum.shift_variances(responses, reference_var, moving_var)
    for index, strength in enumerate(strengths):
        variance[index] *= 1.0 + floor_noise(scale, ndim, strength) ** 2 / noise_var
        if strength > 0.0:
            variance[index] *= margins
    return strengths[int(np.argmin(variance))]


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
    """The measurement at the strength chosen, or the full-strength measurement when
    the two disagree by more than :data:`FLOOR_CHECK_SIGMA` on some axis (the chosen
    strength's floor was larger than the model said: real scenes alias more than the
    model's band-limited images, and the full strength's floor is far below it), or
    when they agree and the full strength's errors are the smaller (the predicted
    variance that chose the strength reads the reference alone; the pipeline's
    errors read the pair).

    ``chosen`` and ``full_strength()`` are each a measurement without the residual
    stage and a function that runs the stage on it (the same shift). The test is
    Hausman's (1978): without a floor, both estimate the same shift, and with one of
    them the more efficient, the noise alone moves them apart by
    ``sqrt(|var_full - var_chosen|)``, from the pipeline's errors, which are those
    of the noise. The residual stage's errors would not do: they hold the models'
    misfit, the floor itself, and so hide the difference the test looks for. The
    stage then runs on the answer reported only, with the other strength's
    measurement as the witness of its bias (their difference beyond that noise,
    docs/how-it-works-errors.md), except for a full strength reported as the more
    precise: there the chosen strength's larger floor would be charged to it. A
    full strength that cannot measure (too few pixels left by masks, or no signal)
    keeps the chosen one, without a witness. Its first result may leave out the
    rival test, which its function then runs: a rivalled full-strength answer keeps
    the chosen one whether it is found out before the comparison or after it, so the
    test runs only when it could be reported.
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
    if np.any(apart > FLOOR_CHECK_SIGMA * spread):
        full = full_finish(quick)
    elif np.sum(np.square(full_quick.error)) < np.sum(np.square(quick.error)):
        # No bias told them apart, and the full strength is the more precise: its
        # answer stands alone (the chosen one, with its larger floor, would be
        # charged to it as a bias); the residual stage bounds its model's bias.
        full = full_finish(None)
    else:
        # The full strength's surface, held for its delta-chi2 map, goes before the
        # residual stage runs (a volume's peak of memory).
        del full_finish
        return finish(full_quick)
    return full if full.measured else finish(full_quick)
