"""Two images that differ by a blur: their relative width, and the sharper one matched.

Two exposures rarely share a point-spread function: the seeing, the focus or the
tracking changes between them. A symmetric blur moves nothing, but no shift makes a
sharp image match a blurred copy, and on a finite overlap least squares between them
is biased: the misfit, about ``(Delta / 2) lap S`` for a scene ``S`` and a difference
``Delta`` of the two Gaussian variances, summed against the gradient that the shift
moves, leaves ``-(Delta / 4) sum (d S)^2 d w`` over the weight ``w`` of the pixels
compared, a term of the gradients where the overlap and its taper end. It does not
average out: binned real pairs whose reference was blurred by 0.5-1.5 px missed by
up to 0.42 px, 7.7 sigma. Blurred by the difference, the sharper image matches the
other again, and the bias goes (to 0.003 px on noiseless pairs).

The difference is read from the two power spectra, which a shift leaves alone. For
Gaussian point-spread functions of variances ``s_r`` and ``s_m`` (pixels squared),
the noise-free powers at a frequency ``k`` (radians per pixel) are in the ratio
``g^2 exp(-(s_r - s_m) |k|^2)``, ``g`` the gain: the log of their ratio, each less
its white noise's power, is a line in ``|k|^2`` of slope ``-Delta``. It is fitted
by weighted least squares over rings of ``|k|^2``, on the frequencies where each
image's power stands above its noise's, and its standard error comes from the rings'
scatter about the line.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage

from ._image_fit import pixel_noise
from ._outliers import search_copy, search_tail
from ._prefilter import FLOOR_CHECK_SIGMA
from ._prepare import bin_blocks

__all__ = ["matched_blur", "relative_blur"]

#: Rings of ``|k|^2`` the spectra are averaged in, from 0 to ``HIGHEST`` of Nyquist.
RINGS = 24
#: The highest frequency read, as a fraction of Nyquist. Above half of it, a pixel's
#: own sampling phase shapes the power: two samplings of an undersampled source (a
#: star 1-2 px wide, seen at another sub-pixel position) differ there by more than a
#: blur of their difference would make them.
HIGHEST = 0.5
#: A ring counts where each image's power is this many times its noise's power: the
#: log of a power near its noise's is dominated by that noise's scatter.
ABOVE_NOISE = 3.0
#: Fewest pixels along an axis, and fewest rings that count, for a fit of the slope.
SHORTEST_AXIS = 16
FEWEST_RINGS = 3
#: Longest axis the spectra are taken on; longer images are binned to it (the blur's
#: variance is then read in binned pixels and scaled back).
SPECTRUM_SIZE = 256


def _tapered_power(image: np.ndarray) -> np.ndarray:
    """The power spectrum of ``image`` less its mean, under a Hann taper on every axis
    (a crop's edges would otherwise spread power over every frequency)."""
    taper = np.ones(image.shape)
    for axis, n in enumerate(image.shape):
        view = [1] * image.ndim
        view[axis] = n
        taper = taper * np.hanning(n).reshape(view)
    return np.abs(np.fft.rfftn(taper * (image - image.mean()))) ** 2


def _squared_frequency(shape) -> np.ndarray:
    """``|k|^2`` (radians per pixel, squared) on the grid of ``rfftn`` of ``shape``."""
    axes = [2 * np.pi * np.fft.fftfreq(n) for n in shape[:-1]]
    axes.append(2 * np.pi * np.fft.rfftfreq(shape[-1]))
    grids = np.meshgrid(*axes, indexing="ij", sparse=True)
    return sum(g**2 for g in grids)


def relative_blur(reference, moving, reference_variance, moving_variance):
    """The difference of the two images' Gaussian blur variances, and its standard error.

    Parameters
    ----------
    reference, moving : numpy.ndarray
        Images of one shape, finite.
    reference_variance, moving_variance : float
        Each image's white-noise variance per pixel.

    Returns
    -------
    delta : float
        ``s_reference - s_moving``, pixels squared: positive when the reference is
        the more blurred (see the module).
    error : float
        Its standard error (``inf`` when too few frequencies stand above the noise).

    Examples
    --------
    >>> import numpy as np, scipy.ndimage
    >>> rng = np.random.default_rng(0)
    >>> scene = scipy.ndimage.gaussian_filter(rng.normal(size=(96, 96)), 1.0)
    >>> blurred = scipy.ndimage.gaussian_filter(scene, 1.0)
    >>> delta, error = relative_blur(blurred, scene, 0.0, 0.0)
    >>> bool(abs(delta - 1.0) < 0.2)
    True
    """
    powers = [_tapered_power(np.asarray(image, dtype=np.float64)) for image in (reference, moving)]
    taper_energy = 1.0
    for n in reference.shape:
        taper_energy *= float(np.sum(np.hanning(n) ** 2))
    noises = [taper_energy * float(v) for v in (reference_variance, moving_variance)]
    k2 = _squared_frequency(reference.shape)
    top = (HIGHEST * np.pi) ** 2
    edges = np.linspace(0.0, top, RINGS + 1)
    ring = np.digitize(k2, edges[1:-1])
    inside = (k2 > 0) & (k2 <= top)
    counts = np.bincount(ring[inside], minlength=RINGS).astype(np.float64)
    filled = counts > 0
    centre = np.bincount(ring[inside], k2[inside], minlength=RINGS)[filled] / counts[filled]
    signal = []
    for power, noise in zip(powers, noises, strict=True):
        mean = np.bincount(ring[inside], power[inside], minlength=RINGS)[filled] / counts[filled]
        signal.append((mean - noise, noise))
    (ref_signal, ref_noise), (mov_signal, mov_noise) = signal
    kept = (ref_signal > ABOVE_NOISE * ref_noise) & (mov_signal > ABOVE_NOISE * mov_noise)
    kept &= (ref_signal > 0) & (mov_signal > 0)
    if np.count_nonzero(kept) < FEWEST_RINGS:
        return 0.0, np.inf
    weight = counts[filled][kept]
    design = np.stack([np.ones(weight.size), -centre[kept]], axis=1)
    ratio = np.log(ref_signal[kept] / mov_signal[kept])
    normal = (design * weight[:, None]).T @ design
    coefficients = np.linalg.solve(normal, (design * weight[:, None]).T @ ratio)
    scatter = ratio - design @ coefficients
    residual_variance = float(np.sum(weight * scatter**2)) / max(weight.size - 2, 1)
    covariance = np.linalg.inv(normal) * residual_variance
    return float(coefficients[1]), float(np.sqrt(max(covariance[1, 1], 0.0)))


def _taps(sigma: float) -> np.ndarray:
    """The 1-D kernel ``scipy.ndimage.gaussian_filter1d`` applies at ``sigma``."""
    radius = int(4.0 * sigma + 0.5)
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0
    return scipy.ndimage.gaussian_filter1d(impulse, sigma, mode="constant")


def _blurred_error(error, sigma: float, ndim: int):
    """The noise of an image blurred by a Gaussian of ``sigma`` px on every axis: a
    scalar scaled by the kernel's root sum of squares, a map's variance spread by the
    squared kernel (the noise stays independent between the input pixels)."""
    squares = _taps(sigma) ** 2
    if np.ndim(error) == 0:
        return float(error) * float(np.sum(squares)) ** (ndim / 2)
    variance = np.asarray(error, dtype=np.float64) ** 2
    for axis in range(variance.ndim):
        variance = scipy.ndimage.correlate1d(variance, squares, axis=axis, mode="nearest")
    return np.sqrt(variance)


def _usable_error(error, shape) -> bool:
    """A noise the matching can carry: None, or a positive finite scalar or map."""
    if error is None:
        return True
    values = np.asarray(error)
    if values.dtype.kind not in "iuf" or values.ndim not in (0, len(shape)):
        return False
    if values.ndim and values.shape != tuple(shape):
        return False
    return bool(np.all(np.isfinite(values)) and np.all(values > 0))


def _variance(image: np.ndarray, error, pixels: int) -> float:
    """The white-noise variance the spectrum of ``image`` (a mean of ``pixels`` given
    ones) carries: the given error's mean square over ``pixels``, else the finest
    differences' estimate on ``image`` itself (an upper bound)."""
    if error is None:
        return pixel_noise(image) ** 2
    return float(np.mean(np.asarray(error, dtype=np.float64) ** 2)) / pixels


def _shared(image, error, whole, sign: int):
    """The part of ``image`` (and of a map ``error``) that the other image shares at the
    whole-pixel shift ``whole``: the reference's pixels ``x`` with ``x - whole`` inside
    (``sign`` 1), or the moving image's ``x`` with ``x + whole`` inside (``sign`` -1)."""
    window = tuple(
        slice(max(0, sign * w), n + min(0, sign * w))
        for n, w in zip(image.shape, whole, strict=True)
    )
    return image[window], error if np.ndim(error) == 0 else np.asarray(error)[window]


def matched_blur(reference, moving, reference_error, error, shift):
    """The pair with its sharper image blurred to the other's width, and that image's
    noise carried through, ``(reference, moving, reference_error, error)``; None when
    the two are not shown to differ by a blur.

    The widths are compared on the pixels the two images share at ``shift`` (a first
    registration's, rounded): two crops of one scene moved apart hold different
    content near their edges, which their whole spectra would read as a blur. The
    spectra are of the images with their outer tails levelled, as the search has them
    (a hot pixel's flat power would read as the other image's blur). They differ
    when :func:`relative_blur`'s difference exceeds ``FLOOR_CHECK_SIGMA`` of its
    standard errors; the sharper image is then blurred by a Gaussian of the
    difference's square root (edges extended). Only images (1-D or 2-D, sharing at
    least ``SHORTEST_AXIS`` pixels along every axis) that are finite everywhere, with
    errors None or finite and positive, are matched: masked or missing pixels would
    spread. Shared parts longer than ``SPECTRUM_SIZE`` pixels are binned for the
    spectra.
    """
    shape = np.shape(reference)
    whole = np.round(np.asarray(shift, dtype=np.float64)).astype(int)
    if not 1 <= len(shape) <= 2 or np.shape(moving) != shape:
        return None
    if min(n - abs(w) for n, w in zip(shape, whole, strict=True)) < SHORTEST_AXIS:
        return None
    if not all(_usable_error(e, shape) for e in (reference_error, error)):
        return None
    reference = np.asarray(reference, dtype=np.float64)
    moving = np.asarray(moving, dtype=np.float64)
    if not (np.all(np.isfinite(reference)) and np.all(np.isfinite(moving))):
        return None
    parts = [
        _shared(reference, reference_error, whole, 1),
        _shared(moving, error, whole, -1),
    ]
    factor = max(1, -(-max(parts[0][0].shape) // SPECTRUM_SIZE))
    images, variances = [], []
    for image, part_error in parts:
        if factor > 1:
            image = bin_blocks(image, [factor] * len(shape))
        # The outer tails levelled, as for the search (_outliers.search_copy): a hot
        # pixel's or a streak's flat power in one spectrum would read as the other's blur.
        images.append(search_copy(image, tail=search_tail(image.size)))
        variances.append(_variance(image, part_error, factor ** len(shape)))
    delta, spread = relative_blur(*images, *variances)
    if not abs(delta) > FLOOR_CHECK_SIGMA * spread:
        return None
    sigma = float(factor * np.sqrt(abs(delta)))
    if delta > 0:  # the reference is the more blurred: blur the moving image
        moving = scipy.ndimage.gaussian_filter(moving, sigma, mode="nearest")
        error = None if error is None else _blurred_error(error, sigma, len(shape))
    else:
        reference = scipy.ndimage.gaussian_filter(reference, sigma, mode="nearest")
        if reference_error is not None:
            reference_error = _blurred_error(reference_error, sigma, len(shape))
    return reference, moving, reference_error, error
