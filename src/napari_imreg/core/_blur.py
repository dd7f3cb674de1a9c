"""A change of seeing or focus: the two images' relative blur, the sharper one matched.

Two exposures rarely share a point-spread function: the seeing, the focus or the
tracking changes between them. A symmetric blur moves nothing, but no shift makes a
sharp image match a blurred copy, and on a finite overlap least squares between them
is biased: the misfit, about ``(Delta / 2) lap S`` for a scene ``S`` and a difference
``Delta`` of the two Gaussian variances, summed against the gradient that the shift
moves, leaves ``-(Delta / 4) sum (d S)^2 d w`` over the weight ``w`` of the pixels
compared, a term of the gradients where the overlap and its taper end. Blurred by the
difference, the sharper image matches the other again, and the bias goes
(docs/how-it-works-errors.md, "A change of seeing or focus").

The difference is read from the two power spectra on the pixels the images share at
the shift found (a shift leaves a power spectrum alone; the shared pixels hold one
content, so the content's own scatter cancels in the ratio). For Gaussian
point-spread functions of variances ``s_r`` and ``s_m`` (pixels squared) the
noise-free powers at a frequency ``k`` (radians per pixel) are in the ratio
``g^2 exp(-(s_r - s_m) |k|^2)``: the log of the ratio of the two powers, each less
its white noise's power (given, or estimated), is a line in ``|k|^2`` of slope
``-Delta``. It is fitted over rings of ``|k|^2`` weighted by each ring's variance
from the noise, and judged by Student's t on the rings' scatter about the line.

The blurred image's noise is correlated: its power spectrum is the white one times
the kernel's squared response. What the shift's error reads of it is the response
squared averaged over the frequencies the shift is measured by (``|k|^2`` times the
matched scene's power): the matched image's error is its white one times the root of
that mean (:func:`_score_share`), a map's variance first spread as the kernel spreads
the noise.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
import scipy.ndimage

from ._filter import filter_response, smoothing_kernels
from ._outliers import search_copy, search_tail
from ._prefilter import floor_check_level
from ._prepare import bin_blocks
from ._result import held_warnings, warn_registration

__all__ = ["BlurMatch", "blur_match", "relative_blur", "seeing_change", "seeing_matched"]

#: Width of the rings of ``|k|`` the spectra are averaged in, in frequency bins of the
#: shortest axis (rings of ``|k|^2`` would be a fraction of a bin wide near the top,
#: and the taper spreads each frequency's noise over its neighbours).
RING_WIDTH = 1
#: The highest frequency read, as a fraction of Nyquist. Above half of it, a pixel's
#: own sampling phase shapes the power: two samplings of an undersampled source (a
#: star 1-2 px wide, seen at another sub-pixel position) differ there by more than a
#: blur of their difference would make them.
HIGHEST = 0.5
#: A ring counts where each image's power is this many times its noise's power: the
#: log of a power near its noise's is dominated by that noise's scatter.
ABOVE_NOISE = 3.0
#: Fewest pixels shared along an axis, and fewest rings that count, for a fit.
SHORTEST_AXIS = 16
FEWEST_RINGS = 4
#: Longest axis the spectra are taken on; longer images are binned to it (the blur's
#: variance is then read in binned pixels and scaled back).
SPECTRUM_SIZE = 256
#: The variance of a pixel's own footprint (a unit box), pixels squared: two samplings of
#: one scene at other sub-pixel phases differ in their aliased content by about what
#: a blur of this variance makes, so a smaller difference is no evidence of seeing.
PIXEL_VARIANCE = 1.0 / 12.0
#: Reference spectra a Registrar keeps (the latest ones).
KEPT_SPECTRA = 3
#: The Hann taper's equivalent noise bandwidth per axis, in frequency bins: the
#: tapered spectrum's neighbouring frequencies share their noise over about this many.
HANN_BANDWIDTH = 1.5


@dataclass(frozen=True)
class Spectrum:
    """One image's part that the other shares, as its spectrum is compared.

    Attributes
    ----------
    transform : numpy.ndarray
        Its Hann-tapered ``rfftn``, the mean taken off.
    power : numpy.ndarray
        The transform's power.
    noise : float
        The power its white noise puts at every frequency under the taper.
    factor : int
        The binning applied before the spectrum (1: none).
    shape : tuple of int
        The shape of the part the spectrum was taken of (after that binning).
    """

    transform: np.ndarray
    power: np.ndarray
    noise: float
    factor: int
    shape: tuple[int, ...]


@dataclass(frozen=True)
class BlurMatch:
    """What :func:`blur_match` found: which image to blur, by how much, and the noise
    it then carries.

    Attributes
    ----------
    sigma : float
        The Gaussian's standard deviation (pixels, every axis) that blurs the
        sharper image to the other's width.
    blur_reference : bool
        True when the reference is the sharper one (the moving image is kept).
    noise_share : float
        The blurred image's noise variance, as the shift's error reads it, per unit
        variance of its white noise (see the module).
    """

    sigma: float
    blur_reference: bool
    noise_share: float

    def blurred(self, image: np.ndarray) -> np.ndarray:
        """``image`` blurred by the match's Gaussian (edges extended)."""
        return scipy.ndimage.gaussian_filter(image, self.sigma, mode="nearest")

    def blurred_error(self, error):
        """The white-equivalent noise of an image with ``error`` once blurred: a
        scalar times the root of ``noise_share``; a map's variance spread by the
        squared kernel (normalised: each pixel's share of its neighbours' noise),
        times ``noise_share``. None stays None."""
        if error is None:
            return None
        if np.ndim(error) == 0:
            return float(error) * np.sqrt(self.noise_share)
        squares = _taps(self.sigma) ** 2
        variance = np.square(np.asarray(error, dtype=np.float64))
        for axis in range(variance.ndim):
            variance = scipy.ndimage.correlate1d(
                variance, squares / squares.sum(), axis=axis, mode="nearest"
            )
        return np.sqrt(self.noise_share * variance)


def _taps(sigma: float) -> np.ndarray:
    """The 1-D kernel ``scipy.ndimage.gaussian_filter1d`` applies at ``sigma``."""
    radius = int(4.0 * sigma + 0.5)
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0
    return scipy.ndimage.gaussian_filter1d(impulse, sigma, mode="constant")


@functools.lru_cache(maxsize=8)
def _hann(shape) -> np.ndarray:
    """The separable Hann taper of ``shape`` (read-only, kept per shape: a stack's
    frames share it)."""
    taper = np.ones(shape)
    for axis, n in enumerate(shape):
        view = [1] * len(shape)
        view[axis] = n
        taper = taper * np.hanning(n).reshape(view)
    taper.setflags(write=False)
    return taper


def _frequencies(shape) -> list[np.ndarray]:
    """The angular frequencies (radians per pixel) of ``rfftn`` of ``shape``, per
    axis, shaped to broadcast."""
    axes = []
    for axis, n in enumerate(shape):
        last = axis == len(shape) - 1
        values = 2 * np.pi * (np.fft.rfftfreq(n) if last else np.fft.fftfreq(n))
        view = [1] * len(shape)
        view[axis] = values.size
        axes.append(values.reshape(view))
    return axes


def shared_window(shape, shift, *, moving: bool) -> tuple[slice, ...]:
    """The pixels of one image that the other shares at the whole pixel nearest
    ``shift``: the reference's ``x`` with ``x - shift`` inside, or (``moving``) the
    moving image's ``x`` with ``x + shift`` inside."""
    whole = np.round(np.asarray(shift, dtype=np.float64)).astype(int)
    sign = -1 if moving else 1
    return tuple(
        slice(max(0, sign * w), n + min(0, sign * w)) for n, w in zip(shape, whole, strict=True)
    )


def spectrum(part: np.ndarray, variance: float) -> Spectrum:
    """The spectrum of ``part`` (one image's shared pixels, finite) whose white noise
    has ``variance`` per pixel. Parts longer than ``SPECTRUM_SIZE`` are binned first;
    the outer tails are levelled as for the search (a hot pixel's or a streak's flat
    power would read as the other image's blur)."""
    factor = max(1, -(-max(part.shape) // SPECTRUM_SIZE))
    if factor > 1:
        part = bin_blocks(part, [factor] * part.ndim)
    part = search_copy(part, tail=search_tail(part.size))
    taper = _hann(part.shape)
    transform = np.fft.rfftn(taper * (part - part.mean()))
    power = transform.real**2 + transform.imag**2
    noise = float(np.sum(taper**2)) * variance / factor**part.ndim
    return Spectrum(transform, power, noise=noise, factor=factor, shape=part.shape)


@functools.lru_cache(maxsize=8)
def _unit_rings(shape) -> tuple[np.ndarray, np.ndarray]:
    """Each frequency's ring of ``|k|`` one bin of the shortest axis wide (an ``rfftn``
    grid of ``shape``, flat) and the rings' counts; read-only, kept per shape."""
    k = np.sqrt(sum(f**2 for f in _frequencies(shape))) * min(shape) / (2 * np.pi)
    ring = np.rint(k).astype(int).ravel()
    counts = np.bincount(ring)
    ring.setflags(write=False)
    counts.setflags(write=False)
    return ring, counts


def _ring_means(values: np.ndarray, shape) -> np.ndarray:
    """``values`` (an ``rfftn`` grid of ``shape``) averaged over rings of ``|k|`` one
    bin of the shortest axis wide, from the first ring past 0 to Nyquist."""
    ring, counts = _unit_rings(tuple(shape))
    means = np.bincount(ring, values.ravel()) / np.maximum(counts, 1)
    top = min(shape) // 2
    return means[1 : top + 1], counts[1 : top + 1]


def unshared_noise(reference: Spectrum, moving: Spectrum, residual) -> tuple[float, float]:
    """Each part's white-noise power under the taper, when no error is given: the
    power it does not share with the other.

    The two images' noises are independent, so their cross spectrum, with the
    ``residual`` shift (the sub-pixel one left past the shared parts' whole pixels)
    undone, holds their shared signal alone, ``c = g_r g_m P``, while each power is
    ``a = g^2 P + N``. With one width in both, ``a = N + (g_r / g_m) c`` over the rings
    of ``|k|`` up to Nyquist: a weighted regression (weights ``count / a^2``, each
    ring's relative scatter) whose intercept is ``N`` (at least 0, at most the
    ring's least power). Unlike an estimate from one image, texture that both share
    is never taken for noise, nor noise for a sharper image's texture.
    """
    phase = sum(
        f * (d / reference.factor)
        for f, d in zip(_frequencies(reference.shape), residual, strict=True)
    )
    product = reference.transform * np.conj(moving.transform)
    # The moving part is the reference's moved by the residual shift: undo it either
    # way (the real part of the product times exp(+-i phase)) and keep the way that
    # lines the two up, the larger shared power.
    turned = product.imag * np.sin(phase)
    cross = product.real * np.cos(phase)
    cross = cross - turned if np.sum(turned) < 0 else cross + turned
    shared, counts = _ring_means(cross, reference.shape)
    noises = []
    for part in (reference, moving):
        power, _ = _ring_means(part.power, part.shape)
        weight = counts / np.maximum(power, np.finfo(float).tiny) ** 2
        design = np.stack([np.ones(power.size), np.abs(shared)], axis=1)
        normal = (design * weight[:, None]).T @ design
        intercept = np.linalg.lstsq(normal, (design * weight[:, None]).T @ power, rcond=None)[0][0]
        noises.append(float(np.clip(intercept, 0.0, power.min())))
    return noises[0], noises[1]


def relative_blur(reference: Spectrum, moving: Spectrum) -> tuple[float, float, int]:
    """The difference of the two images' Gaussian blur variances, in pixels squared.

    Parameters
    ----------
    reference, moving : Spectrum
        The two images' shared parts (one shape, one binning).

    Returns
    -------
    delta : float
        ``s_reference - s_moving``: positive when the reference is the more blurred.
    error : float
        Its standard error (``inf`` when fewer than ``FEWEST_RINGS`` rings stand
        above the noise).
    dof : int
        The degrees of freedom of that error (rings less the two fitted values).

    Examples
    --------
    >>> import numpy as np, scipy.ndimage
    >>> rng = np.random.default_rng(0)
    >>> scene = scipy.ndimage.gaussian_filter(rng.normal(size=(96, 96)), 1.0)
    >>> blurred = scipy.ndimage.gaussian_filter(scene, 1.0)
    >>> delta, error, dof = relative_blur(spectrum(blurred, 0.0), spectrum(scene, 0.0))
    >>> bool(abs(delta - 1.0) < 0.2 and delta > 10 * error)
    True
    """
    shape = reference.shape
    found = _blur_rings(shape)
    if found is None:
        return 0.0, np.inf, 0
    inside, ring, rings, filled, counts, centre = found
    signals, variances = [], []
    # Each ring's mean power scatters by its noise's cross term with the signal and
    # the noise's own power, over the ring's independent frequencies; the content's
    # own scatter is shared by the two images and cancels in the ratio.
    independent = counts / HANN_BANDWIDTH ** len(shape)
    for image in (reference, moving):
        mean = np.bincount(ring, image.power[inside], minlength=rings)[filled] / counts
        signal = mean - image.noise
        signals.append(signal)
        variances.append((2.0 * signal * image.noise + image.noise**2) / independent)
    kept = np.ones(counts.size, dtype=bool)
    for image, signal in zip((reference, moving), signals, strict=True):
        kept &= (signal > ABOVE_NOISE * image.noise) & (signal > 0)
    if np.count_nonzero(kept) < FEWEST_RINGS:
        return 0.0, np.inf, 0
    ratio = np.log(signals[0][kept] / signals[1][kept])
    noise_variance = sum(v[kept] / s[kept] ** 2 for v, s in zip(variances, signals, strict=True))
    # Noiseless rings carry the rings' scatter alone: weighted by their frequencies.
    weight = 1.0 / (noise_variance + 1.0 / independent[kept] ** 2)
    design = np.stack([np.ones(ratio.size), -centre[kept]], axis=1)
    normal = (design * weight[:, None]).T @ design
    coefficients = np.linalg.solve(normal, (design * weight[:, None]).T @ ratio)
    dof = ratio.size - 2
    scatter = float(np.sum(weight * (ratio - design @ coefficients) ** 2)) / dof
    covariance = np.linalg.inv(normal) * scatter
    return float(coefficients[1]), float(np.sqrt(max(covariance[1, 1], 0.0))), dof


@functools.lru_cache(maxsize=8)
def _blur_rings(shape):
    """:func:`relative_blur`'s rings on an ``rfftn`` grid of ``shape``: the frequencies
    inside them, each one's ring, the number of rings, those holding frequencies,
    their counts and mean ``|k|^2``; None when there are fewer than ``FEWEST_RINGS``.
    Read-only, kept per shape.

    The rings are ``RING_WIDTH`` frequency bins wide (the coarsest axis's) in ``|k|``:
    thinner rings would share their noise through the taper, and their scatter about
    the line would understate the slope's error.
    """
    k2 = sum(f**2 for f in _frequencies(shape))
    width = RING_WIDTH * 2 * np.pi / min(shape)
    rings = int(HIGHEST * np.pi / width)
    if rings < FEWEST_RINGS:
        return None
    top = (rings * width) ** 2
    inside = (k2 > 0) & (k2 <= top)
    ring = np.minimum((np.sqrt(k2[inside]) / width).astype(int), rings - 1)
    counts = np.bincount(ring, minlength=rings).astype(np.float64)
    filled = counts > 0
    counts = counts[filled]
    centre = np.bincount(ring, k2[inside], minlength=rings)[filled] / counts
    for array in (inside, ring, filled, counts, centre):
        array.setflags(write=False)
    return inside, ring, rings, filled, counts, centre


def _score_share(match_sigma: float, part: Spectrum, shape) -> float:
    """The mean of the blur kernel's squared response over the frequencies the shift
    is measured by, for images of ``shape`` whose shared part ``part`` is the blurrier.

    The noise term of the shift's score sums ``|k|^2 |F|^4`` times the signal's power
    times the noise's, ``F`` the low-pass filter's response: its full strength is
    taken (it weighs the low frequencies most, where the blur's response is nearest
    1: an upper bound on the share over strengths). The signal's power is ``part``'s
    less its noise, averaged over rings one bin wide (a single frequency's power
    scatters as much as it is worth).
    """
    grid = part.shape
    frequencies = _frequencies(grid)
    k2 = sum(f**2 for f in frequencies)
    ring = np.rint(np.sqrt(k2) * min(grid) / (2 * np.pi)).astype(int)
    counts = np.bincount(ring.ravel())
    sums = np.bincount(ring.ravel(), part.power.ravel())
    signal = np.maximum(sums / np.maximum(counts, 1) - part.noise, 0.0)[ring]
    taps = _taps(match_sigma)
    weight, blur = k2 * signal, 1.0
    for f, kernel in zip(frequencies, smoothing_kernels(shape), strict=True):
        cycles = f / (2 * np.pi * part.factor)  # per pixel of the images
        weight = weight * filter_response(cycles, kernel) ** 4
        blur = blur * filter_response(cycles, taps) ** 2
    total = float(np.sum(weight))
    return float(np.sum(weight * blur)) / total if total > 0 else 1.0


def blur_match(reference_part: Spectrum, moving_part: Spectrum, shape) -> BlurMatch | None:
    """Whether the two shared parts differ by a blur, and the match that removes it.

    They differ when :func:`relative_blur`'s difference, less ``PIXEL_VARIANCE``
    (the sampling's own), stands out of its standard error at the two-sided level of
    ``FLOOR_CHECK_SIGMA`` normal sigmas, by Student's t on its degrees of freedom
    (the scatter is estimated from few rings). Otherwise None: the pair is
    registered as it is. ``shape``: the images' (the filter's kernels).
    """
    delta, error, dof = relative_blur(reference_part, moving_part)
    if dof < 1:
        return None
    factor = reference_part.factor
    level = floor_check_level(int(dof))
    if not abs(delta) - PIXEL_VARIANCE / factor**2 > level * error:
        return None
    sigma = float(factor * np.sqrt(abs(delta)))
    blurrier = reference_part if delta > 0 else moving_part
    share = _score_share(sigma, blurrier, shape)
    return BlurMatch(sigma=sigma, blur_reference=delta < 0, noise_share=share)


def noise_variance(error) -> float:
    """The white-noise variance per pixel of an image's shared part with ``error``
    (that part of a map): its mean square; 0 for None (with the other image's error
    given, this one is noiseless)."""
    return 0.0 if error is None else float(np.mean(np.square(error)))


def _reference_spectrum(registrar, window: tuple[slice, ...], variance: float) -> Spectrum:
    """The spectrum of ``registrar``'s reference in ``window`` with noise ``variance``;
    the registrar keeps the latest few (its attribute ``blur_spectra``), so the frames
    of a stack that share a window compare with it prepared once."""
    key = (tuple((part.start, part.stop) for part in window), variance)
    with registrar._lock:
        kept = registrar.__dict__.setdefault("blur_spectra", {})
        part = kept.pop(key, None)
    if part is None:
        part = spectrum(registrar._source[window], variance)
    with registrar._lock:
        kept[key] = part  # the most recent last
        while len(kept) > KEPT_SPECTRA:
            del kept[next(iter(kept))]
    return part


def seeing_change(registrar, mov: np.ndarray, moving_error, mask, result) -> BlurMatch | None:
    """The match of :func:`blur_match` for ``registrar``'s pair (``mov`` validated, in
    the core's units) at ``result``'s shift, or None: when the pair was not measured,
    is periodic, masked, saturated, not finite or more than 2-D (masked pixels would
    spread), shares fewer than ``SHORTEST_AXIS`` pixels along an axis, or shows no
    blur. A registrar whose attribute ``matches_blur`` is False (one of a reference
    blurred already) is not compared."""
    matches = getattr(registrar, "matches_blur", True)
    complete = registrar._complete and mask is None and matches
    if not complete or not result.measured or registrar.boundary != "overlap" or result.saturated:
        return None
    if not 1 <= mov.ndim <= 2 or not np.isfinite(np.sum(mov, dtype=np.float64)):
        return None
    ref_window = shared_window(mov.shape, result.shift, moving=False)
    mov_window = shared_window(mov.shape, result.shift, moving=True)
    if min(part.stop - part.start for part in ref_window) < SHORTEST_AXIS:
        return None
    reference_error = registrar._inputs["reference_error"]
    variances = [
        noise_variance(error if error is None or np.ndim(error) == 0 else error[window])
        for error, window in ((reference_error, ref_window), (moving_error, mov_window))
    ]
    reference_part = _reference_spectrum(registrar, ref_window, variances[0])
    moving_part = spectrum(mov[mov_window], variances[1])
    if reference_error is None and moving_error is None:  # the noise estimated
        residual = np.asarray(result.shift) - np.round(result.shift)
        noises = unshared_noise(reference_part, moving_part, residual)
        reference_part = dataclasses.replace(reference_part, noise=noises[0])
        moving_part = dataclasses.replace(moving_part, noise=noises[1])
    return blur_match(reference_part, moving_part, mov.shape)


def seeing_matched(registrar, mov, moving_error, mask, delta_chi2_map: bool, register_pair):
    """The registration ``register_pair(registrar, mov, moving_error, mask,
    delta_chi2_map)`` (``_register._tilted_if_needed``: ``mov`` validated, in the
    core's units), or, when the two images' widths differ at its shift
    (:func:`seeing_change`), the pair registered again with its sharper image blurred
    to match: the moving image through ``registrar`` itself (its reference prepared
    once), the reference through a one-off registrar of its own, not matched again.
    The first registration's warnings are then dropped, and the result's ``blur``
    says what was done."""
    with held_warnings() as said:
        result = register_pair(registrar, mov, moving_error, mask, delta_chi2_map)
    match = seeing_change(registrar, mov, moving_error, mask, result)
    if match is None:
        for message in said:
            warn_registration(message)
        return result
    if not match.blur_reference:
        blurred, error = match.blurred(mov), match.blurred_error(moving_error)
        result = register_pair(registrar, blurred, error, None, delta_chi2_map)
    else:
        blurred = type(registrar)._one_off(
            match.blurred(registrar._source),
            registrar.options,
            reference_error=match.blurred_error(registrar._inputs["reference_error"]),
            reference_mask=None,
        )
        blurred.matches_blur = False
        result = blurred.register(mov, error=moving_error, delta_chi2_map=delta_chi2_map)
    sign = -1.0 if match.blur_reference else 1.0
    return dataclasses.replace(result, blur=sign * match.sigma)
