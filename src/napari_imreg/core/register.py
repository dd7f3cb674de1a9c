"""Chi-squared registration: the typed API of napari-imreg.

:func:`register` measures the translation between two images of any dimension,
with a calibrated 1-sigma error per axis. :class:`Registrar` does the same for
many moving images against one reference, preparing the reference once.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.ndimage
import scipy.special
import scipy.stats

from . import _fft
from ._chi2 import (
    Series,
    Surface,
    TermSum,
    marginal_errors,
    outer_product,
    parabolic_offset,
    refine_minimum,
    whole_pixel_minimum,
)
from ._prefilter import EdgeContent, blend, edge_scale, filter_strength, floor_noise
from ._rows import block_rows
from ._taper import Marginals, Taper, TaperCorrelation, TaperOverlap
from ._validation import (
    as_image,
    check_choice,
    check_error,
    check_max_shift,
    check_prefilter,
    check_same_shape,
    check_shift,
    check_upsample_factor,
)
from .fourier import fourier_shift

__all__ = [
    "Registrar",
    "RegistrationResult",
    "RegistrationWarning",
    "apply_shift",
    "delta_chi2_levels",
    "register",
]

logger = logging.getLogger(__name__)

Boundary = Literal["overlap", "wrap"]
BOUNDARIES = ("overlap", "wrap")

#: Samples on each side of the minimum in the returned delta-chi2 map.
MAP_HALF_WIDTH = 7
#: Width, in pixels, of the cosine taper at the edges of the weights (overlap mode).
TAPER_WIDTH = 8
#: The filter applied to both images in overlap mode (see ``Registrar``): its response,
#: (10 + 8 cos 2 pi f - 2 cos 4 pi f) / 16, has a double zero at the Nyquist frequency
#: and stays flatter below it than the 3-tap binomial's cos**2(pi f).
SMOOTHING = np.array([-1.0, 4.0, 10.0, 4.0, -1.0]) / 16.0
#: The 3-tap binomial filter, for axes shorter than ``SHORT_AXIS``: it has the same zero
#: at Nyquist and narrower margins, which short axes cannot spare.
SMOOTHING_SHORT = np.array([0.25, 0.5, 0.25])
SHORT_AXIS = 32
#: In overlap mode, images this many times ``BINNED_SIZE`` long (per axis, up to
#: ``MAX_BINNING``) find their whole-pixel shift on images binned by that factor.
BINNED_SIZE = 128
MAX_BINNING = 4
#: The padding of the cross term on that road grows in steps of this many pixels.
PADDING_STEP = 32
#: Axes this long or longer stay zero over 1/``LONG_EDGE`` of their length at each end
#: in overlap mode (see ``_overlap_taper``).
LONG_AXIS = 1024
LONG_EDGE = 128
#: Filter strengths a Registrar keeps its reference prepared at (the latest ones).
KEPT_ENGINES = 3
#: With no error given, large images measure their noise on windows this wide.
NOISE_WINDOW = 64
#: With no error given, at full filter strength, a noise variance below this fraction
#: of the reference's power is checked against the residual of the interior, whose
#: pixels lie this many pixels or more past both tapers.
INTERIOR_SNR = 1e-3
INTERIOR_MARGIN = 8


class RegistrationWarning(UserWarning):
    """The data cannot support a confident shift (no structure, flat chi2 surface)."""


def _frozen(array):
    if array is None:
        return None
    out = np.array(array, dtype=np.float64)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class RegistrationResult:
    """The outcome of a registration; every method returns this type.

    Attributes
    ----------
    shift : numpy.ndarray
        Translation, in pixels and numpy axis order (``(dy, dx)`` in 2-D), that
        registers the moving image onto the reference:
        ``fourier_shift(moving, shift)`` reproduces the reference, and a napari
        layer of the moving image overlays the reference with
        ``translate = shift * scale``.
    error : numpy.ndarray or None
        Marginal 1-sigma uncertainty of each component of ``shift`` (the other
        components profiled out: delta-chi2 = 1). In ``"overlap"`` mode it holds
        the sub-pixel floor the filter leaves (see ``prefilter``) as well as the
        noise. ``inf`` when the data cannot constrain the shift; ``None`` when the
        method computes no error.
    covariance : numpy.ndarray or None
        Covariance matrix of ``shift``, ``2 H^-1`` with ``H`` the chi2 Hessian.
    chi2_min : float or None
        chi2 at the best shift.
    dof : float or None
        Degrees of freedom: pixels compared (weighted by the edge taper) minus fitted parameters.
    noise : float or None
        The 1-sigma noise of the difference image estimated from the residual,
        when no error was given; ``None`` otherwise.
    upsample_factor : int or None
        Samples per pixel of the delta-chi2 map.
    delta_chi2 : numpy.ndarray or None
        chi2 minus its minimum on a grid of shifts around the best one.
    delta_chi2_coords : tuple of numpy.ndarray or None
        For each axis, the shift value of each sample of ``delta_chi2``.
    boundary : str
        ``"overlap"`` or ``"wrap"``.
    method : str
        The method that produced the result.
    filter_strength : float or None
        ``"overlap"`` mode: the strength, 0 to 1, of the filter both images went
        through (see ``prefilter``); None for ``"wrap"`` and other methods.
    """

    shift: np.ndarray
    error: np.ndarray | None = None
    covariance: np.ndarray | None = None
    chi2_min: float | None = None
    dof: float | None = None
    noise: float | None = None
    upsample_factor: int | None = None
    delta_chi2: np.ndarray | None = None
    delta_chi2_coords: tuple[np.ndarray, ...] | None = None
    boundary: str = "overlap"
    method: str = "chi2"
    filter_strength: float | None = None

    def __post_init__(self):
        for name in ("shift", "error", "covariance", "delta_chi2"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        if self.delta_chi2_coords is not None:
            coords = tuple(_frozen(c) for c in self.delta_chi2_coords)
            object.__setattr__(self, "delta_chi2_coords", coords)

    def __repr__(self) -> str:
        shift = np.array2string(self.shift, precision=4, separator=", ")
        error = (
            "None"
            if self.error is None
            else np.array2string(self.error, precision=4, separator=", ")
        )
        return f"RegistrationResult(shift={shift}, error={error}, method={self.method!r})"


def delta_chi2_levels(ndim: int, sigmas=(1, 2, 3)) -> tuple[float, ...]:
    """The delta-chi2 bounding the joint regions of ``ndim`` shift components.

    The region of ``n`` sigma holds the probability a Gaussian gives to ``|x| < n``
    (68.3%, 95.4%, 99.7%); for ``ndim`` parameters its delta-chi2 is the chi2
    quantile with ``ndim`` degrees of freedom (2.30, 6.18, 11.83 in 2-D).

    Examples
    --------
    >>> [round(level, 2) for level in delta_chi2_levels(2)]
    [2.3, 6.18, 11.83]
    """
    if isinstance(ndim, bool) or int(ndim) != ndim or ndim < 1:
        raise ValueError(f"ndim must be a positive integer, got {ndim!r}.")
    coverage = scipy.special.erf(np.asarray(sigmas, dtype=np.float64) / np.sqrt(2.0))
    return tuple(float(level) for level in scipy.stats.chi2.ppf(coverage, int(ndim)))


def _overlap_taper(n: int, filter_margin: int) -> Taper:
    """The weight profile of an axis in overlap mode: zero over the filter's margin,
    then a raised-cosine ramp, ``TAPER_WIDTH`` pixels together.

    Axes of ``LONG_AXIS`` pixels or more stay zero over ``n // LONG_EDGE`` pixels
    (under 1% of the axis at each end): on the large-image road the cross term of a
    shift up to twice that, less the room the search needs, then needs no padding
    (``_cross_padding``), and its FFTs keep the image's own size, a power of two
    for the usual sizes.
    """
    taper = Taper.for_axis(n, TAPER_WIDTH, filter_margin)
    if n >= LONG_AXIS:
        taper = Taper(n, taper.width, max(taper.margin, n // LONG_EDGE))
    return taper


def _cross_padding(shape, largest, tapers) -> tuple[int, ...]:
    """The FFT shape for the cross term ``corr(aR, bM)`` of the tapered images, exact
    at every shift up to ``largest`` pixels per axis.

    A circular correlation of two images that are zero over ``m`` pixels at each
    end equals the zero-padded one at shifts up to ``2 m``: an axis whose shifts
    stay within that keeps its length (rounded up to a fast one). Others are
    padded by the rest, in steps of ``PADDING_STEP`` so that shifts that drift (a
    stack) reuse one transform size, and its plan.
    """
    short = [max(0, int(k) - 2 * t.margin) for k, t in zip(largest, tapers, strict=True)]
    steps = [-(-k // PADDING_STEP) * PADDING_STEP for k in short]
    return _fft.next_fast_shape(np.asarray(shape) + np.asarray(steps))


def _smoothing_kernels(shape) -> list[np.ndarray]:
    """The filter of each axis: ``SMOOTHING``, or ``SMOOTHING_SHORT`` on short axes."""
    return [SMOOTHING if n >= SHORT_AXIS else SMOOTHING_SHORT for n in shape]


def _filter_response(frequency: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Transfer function of a symmetric ``kernel`` at ``frequency`` (cycles/px)."""
    half = kernel.size // 2
    response = np.full(np.shape(frequency), kernel[half], dtype=np.float64)
    for j in range(1, half + 1):
        response += 2 * kernel[half + j] * np.cos(2 * np.pi * j * np.asarray(frequency))
    return response


def _materialize(weight, shape, *, ones: bool = True):
    """A weight as a full array (``ones``: None becomes an array of ones)."""
    if weight is None:
        return np.ones(shape) if ones else None
    return outer_product(weight) if isinstance(weight, list) else weight


def _smooth(values: np.ndarray, kernels, *, subtract: float = 0.0) -> np.ndarray:
    """``values - subtract`` convolved along each axis with that axis' symmetric kernel
    of odd length (zero outside the array); axes shorter than their kernel are left
    alone. Returns a new float64 array laid out for the FFT; ``values`` is only read.

    One pass over the data: the first axis is filtered in blocks of rows small
    enough to stay in cache, and each block is filtered along the other axes
    (the last by ``scipy.ndimage.correlate1d``, the others by whole planes) and
    written out before the next is read.
    """
    out = _fft.empty(values.shape)
    active = [n >= kernel.size for n, kernel in zip(values.shape, kernels, strict=True)]
    first = kernels[0] if active[0] else np.ones(1)
    half = first.size // 2
    n = values.shape[0]
    # The first axis' filter applied to ones: how much of ``subtract`` each row keeps.
    kept = scipy.ndimage.correlate1d(np.ones(n), first, mode="constant")
    rows = block_rows(values)
    block = np.empty((min(rows, n), *values.shape[1:]))
    spare = np.empty_like(block)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        current = block[: stop - start]
        np.multiply(values[start:stop], first[half], out=current, dtype=np.float64)
        for j in range(1, half + 1):
            for offset in (j, -j):  # rows i take values[i - offset] (zero beyond the edges)
                lo, hi = max(start, offset), min(stop, n + offset)
                if lo < hi:
                    term = spare[: hi - lo]
                    np.multiply(
                        values[lo - offset : hi - offset],
                        first[half + j],
                        out=term,
                        dtype=np.float64,
                    )
                    current[lo - start : hi - start] += term
        if subtract:
            current -= (subtract * kept[start:stop]).reshape([-1] + [1] * (values.ndim - 1))
        for axis in range(1, values.ndim - 1):
            if active[axis]:
                _filter_planes(current, axis, kernels[axis], spare[: stop - start])
        if values.ndim > 1 and active[-1]:
            scipy.ndimage.correlate1d(
                current, kernels[-1], axis=-1, output=out[start:stop], mode="constant"
            )
        else:
            out[start:stop] = current
    return out


def _filter_planes(values: np.ndarray, axis: int, kernel: np.ndarray, work: np.ndarray) -> None:
    """Filter ``values`` in place along ``axis`` by whole planes (``work``: an array of
    its shape to overwrite)."""
    ndim = values.ndim
    half = kernel.size // 2
    source = values.copy()
    values *= kernel[half]
    for j in range(1, half + 1):
        low = tuple(slice(None, -j) if a == axis else slice(None) for a in range(ndim))
        high = tuple(slice(j, None) if a == axis else slice(None) for a in range(ndim))
        np.multiply(source[low], kernel[half + j], out=work[low])
        values[high] += work[low]
        np.multiply(source[high], kernel[half + j], out=work[high])
        values[low] += work[high]


def _zero_edges(values: np.ndarray, margins) -> np.ndarray:
    """``values`` with the outer ``margins`` pixels of each axis set to zero (in place):
    there the filter reached outside the image."""
    for axis, (n, m) in enumerate(zip(values.shape, margins, strict=True)):
        edge = [slice(None)] * values.ndim
        edge[axis] = np.r_[0:m, n - m : n]
        values[tuple(edge)] = 0.0
    return values


def _bin(values: np.ndarray, factors) -> np.ndarray:
    """Means of blocks of ``factors`` pixels along each axis (a last partial block dropped).

    Each axis is summed as its ``f`` interleaved slices, the last axis first:
    numpy reduces a short inner axis far more slowly than it adds arrays.
    """
    out = values[tuple(slice(0, n - n % f) for n, f in zip(values.shape, factors, strict=True))]
    for axis in reversed(range(values.ndim)):
        f = factors[axis]
        if f > 1:
            parts = [out[(slice(None),) * axis + (slice(i, None, f),)] for i in range(f)]
            out = np.add(parts[0], parts[1], dtype=np.float64)
            for part in parts[2:]:
                out += part
    return out / float(np.prod(factors))


def _move(values: np.ndarray, offsets, *, wrap: bool) -> np.ndarray:
    """``values`` moved by whole pixels (content to higher indices), periodic or zero-filled."""
    if wrap:
        return np.roll(values, tuple(offsets), axis=tuple(range(values.ndim)))
    out = np.zeros_like(values)
    target = []
    source = []
    for n, k in zip(values.shape, offsets, strict=True):
        k = int(np.clip(k, -n, n))
        target.append(slice(max(k, 0), n + min(k, 0)))
        source.append(slice(max(-k, 0), n - max(k, 0)))
    out[tuple(target)] = values[tuple(source)]
    return out


def _ignore_unknown_noise(mask, error):
    """Add the pixels whose noise map is NaN to ``mask`` (True: ignore)."""
    if not isinstance(error, np.ndarray):
        return mask
    unknown = ~np.isfinite(error)
    if not unknown.any():
        return mask
    return unknown if mask is None else mask | unknown


def _split_mask(mask, shape):
    if mask is None:
        return None, None
    if isinstance(mask, tuple | list) and len(mask) == 2 and np.ndim(mask[0]) == len(shape):
        return mask[0], mask[1]
    return mask, mask


def _check_mask(mask, shape, name):
    if mask is None:
        return None
    array = np.asarray(mask)
    if array.dtype != bool:
        raise TypeError(
            f"{name} must be a boolean array (True marks pixels to ignore), got {array.dtype}."
        )
    if array.shape != tuple(shape):
        raise ValueError(
            f"{name} has shape {array.shape} but the images have shape {tuple(shape)}."
        )
    return array


@dataclass
class _Image:
    """An image ready for correlation: invalid pixels zeroed, optionally zero-mean."""

    data: np.ndarray
    valid: np.ndarray | None  # None: every pixel valid but the outer ``margins`` per axis
    margins: tuple[int, ...]
    source: np.ndarray | None = None  # the image as given (read only)

    @classmethod
    def prepare(cls, image: np.ndarray, mask, *, zero_mean: bool, kernels, name: str) -> _Image:
        """The image copied (the caller's array is never touched), invalid pixels zeroed,
        optionally centred, and filtered with one kernel per axis (``kernels`` None:
        not filtered)."""
        ndim = image.ndim
        margins = (0,) * ndim if kernels is None else tuple(k.size // 2 for k in kernels)
        if any(n <= 2 * m for n, m in zip(image.shape, margins, strict=True)):
            raise ValueError(f"{name} is too small to register without wrapping.")
        total = float(np.sum(image, dtype=np.float64))
        if mask is None and np.isfinite(total):  # a finite sum: no NaN or inf
            mean = total / image.size if zero_mean else 0.0
            if kernels is None:
                data = _fft.empty(image.shape)
                np.subtract(image, mean, out=data)  # the copy and the centring in one pass
                return cls(data, None, margins, image)
            data = _smooth(image, kernels, subtract=mean)
            return cls(_zero_edges(data, margins), None, margins, image)
        data = _fft.empty(image.shape)
        np.copyto(data, image)
        invalid = ~np.isfinite(data)
        if mask is not None:
            invalid |= mask
        if invalid.all():
            raise ValueError(f"{name} has no valid pixel (all NaN, infinite or masked).")
        valid = None
        if invalid.any():
            valid = ~invalid
            data[invalid] = 0.0
            total = float(data.sum())
        if zero_mean:
            data -= total / (data.size if valid is None else np.count_nonzero(valid))
            if valid is not None:
                data[~valid] = 0.0
        if kernels is None:
            return cls(data, valid, margins, image)
        data = _smooth(data, kernels)
        if valid is None:
            return cls(_zero_edges(data, margins), None, margins, image)
        # Pixels whose filter reached outside the image or an invalid pixel.
        footprint = np.ones(tuple(kernel.size for kernel in kernels), dtype=bool)
        valid = scipy.ndimage.binary_erosion(valid, footprint, border_value=0)
        if not valid.any():
            raise ValueError(f"{name} is too masked to register.")
        data[~valid] = 0.0
        return cls(data, valid, (0,) * ndim, image)

    def values(self) -> np.ndarray:
        """The valid pixels' values (a flat array, or the interior block)."""
        if self.valid is not None:
            return self.data[self.valid]
        return self.data[
            tuple(slice(m, n - m) for n, m in zip(self.data.shape, self.margins, strict=True))
        ]

    def is_flat(self) -> bool:
        values = self.values()
        first = values.flat[:64]
        if first.max() != first.min():  # the usual case, told without a pass over the image
            return False
        return bool(values.max() == values.min())


class _Spectra:
    """Spectra of one side's weighted image: F(w X), F(w), F(w X**2) (w None: w is 1).

    F(w X**2) is needed only against a non-uniform weight on the other side, so
    it is computed on first use.
    """

    def __init__(self, image: _Image, weight, padded, threads):
        x = image.data
        self._x = x
        self._padded = padded
        self._threads = threads
        self._w_x2 = None
        self.keep = False
        self.w = None
        self.w_factors = None
        if weight is None:
            self._weighted = x
            self.sum_w = float(x.size)
        elif isinstance(weight, list):  # separable: keep one 1-D spectrum per axis
            self._weighted = x
            for axis, profile in enumerate(weight):
                self._weighted = self._weighted * profile.reshape(
                    [-1 if a == axis else 1 for a in range(x.ndim)]
                )
            last = x.ndim - 1
            self.w_factors = [
                np.fft.rfft(p, n) if a == last else np.fft.fft(p, n)
                for a, (p, n) in enumerate(zip(weight, padded, strict=True))
            ]
            self.sum_w = float(np.prod([p.sum() for p in weight]))
        else:
            self._weighted = weight * x
            self.w = _fft.rfftn(weight, s=padded, threads=threads)
            self.sum_w = float(np.sum(weight))
        self.w_x = _fft.rfftn(self._weighted, s=padded, threads=threads)
        self.sum_w_x2 = float(np.vdot(self._weighted.ravel(), x.ravel()))
        self._sum_w_x = None

    @property
    def uniform(self) -> bool:
        return self.w is None and self.w_factors is None

    def times_weight(
        self, array: np.ndarray, *, conjugate: bool, in_place: bool = False
    ) -> np.ndarray:
        """``array`` times this side's weight spectrum (or its conjugate): a new array,
        or ``array`` itself when ``in_place``."""
        if self.w_factors is None:
            weight = np.conj(self.w) if conjugate else self.w
            if in_place:
                array *= weight
                return array
            return array * weight
        out = array if in_place else array.copy()
        for axis, factor in enumerate(self.w_factors):
            factor = np.conj(factor) if conjugate else factor
            out *= factor.reshape([-1 if a == axis else 1 for a in range(array.ndim)])
        return out

    @property
    def sum_w_x(self) -> float:
        if self._sum_w_x is None:
            self._sum_w_x = float(np.sum(self._weighted))
        return self._sum_w_x

    def release_squares(self) -> None:
        """Drop F(w X**2) and the arrays behind it unless this side is kept for reuse."""
        if not self.keep:
            if self._sum_w_x is None:
                self._sum_w_x = float(np.sum(self._weighted))
            self._w_x2 = self._weighted = self._x = None

    @property
    def w_x2(self) -> np.ndarray:
        if self._w_x2 is None:
            self._w_x2 = _fft.rfftn(
                self._weighted * self._x, s=self._padded, threads=self._threads
            )
        return self._w_x2


def _product(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``first * conj(second)`` with a single new array."""
    out = np.conj(second)
    out *= first
    return out


def _nyquist_planes(shape) -> list[tuple]:
    """Index tuples of the Nyquist planes of the even axes of an rfftn spectrum."""
    planes = []
    for axis, n in enumerate(shape):
        if n % 2 == 0 and n > 2:
            index = [slice(None)] * len(shape)
            index[axis] = n // 2
            planes.append(tuple(index))
    return planes


def _energy(spectrum: np.ndarray, planes, shape) -> float:
    """``sum |x|**2`` carried by the given planes of an rfftn spectrum (Parseval).

    Each plane is read on its own (a few rows of the spectrum); an entry shared
    with an earlier plane is counted once.
    """
    if not planes:
        return 0.0
    counts = np.full(spectrum.shape[-1], 2.0)  # each stored frequency stands for two...
    counts[0] = 1.0  # ...but zero
    if shape[-1] % 2 == 0:
        counts[-1] = 1.0  # and the last axis' Nyquist
    axes = [next(a for a, i in enumerate(plane) if not isinstance(i, slice)) for plane in planes]
    total = 0.0
    for j, (plane, axis) in enumerate(zip(planes, axes, strict=True)):
        values = np.abs(spectrum[plane]) ** 2
        values *= counts if axis != spectrum.ndim - 1 else counts[-1]
        for earlier, other in zip(planes[:j], axes[:j], strict=True):
            shared = [slice(None)] * values.ndim
            shared[other] = earlier[other]  # earlier planes lie on lower axes
            values[tuple(shared)] = 0.0
        total += float(np.sum(values))
    return total / float(np.prod(shape))


def _surface(
    ref: _Spectra,
    mov: _Spectra,
    padded,
    *,
    fit_offset: bool,
    split_noise: bool,
    transfer=None,
    drop_nyquist: bool = False,
) -> Surface:
    """The surface of ``A``, ``W`` and (with ``fit_offset``) ``B`` from both sides' spectra.

    A side whose weight is uniform (``w`` None) contributes constants instead of
    spectra: a correlation with a constant is the constant times the other sum.
    The moving side's spectra are not to be used again (their memory may be
    reused). With ``split_noise`` the surface also carries ``T1 - T2``, the reference's
    share of the residual (see :meth:`Surface.reference_share`). ``transfer``
    (one 1-D array per axis) gives ``T2`` filtered once more by that transfer
    function, for the covariance of a filtered registration. ``drop_nyquist``
    leaves the Nyquist frequency of even axes out of ``T2``: a sub-pixel shift of
    a real image cannot be represented there, and that term would pull the peak.
    """
    shape = tuple(padded)
    # T1 = corr(a R**2, b), T2 = corr(a R, b M), T3 = corr(a, b M**2); a uniform
    # side turns T1 or T3 into a constant.
    t1_constant = ref.sum_w_x2 if mov.uniform else 0.0
    t3_constant = mov.sum_w_x2 if ref.uniform else 0.0
    nyquist = _nyquist_planes(shape) if drop_nyquist else []
    if ref.uniform and mov.uniform:
        # Leave the Nyquist terms out of the sums too (Parseval), so that the
        # residual stays a sum of squares over the frequencies compared.
        t1_constant -= _energy(ref.w_x, nyquist, shape)
        t3_constant -= _energy(mov.w_x, nyquist, shape)
    t1 = t3 = None
    if not (ref.uniform and mov.uniform):
        # The squared images' terms first, so that each side can drop its
        # weighted image (unless kept for reuse) before the cross terms are made.
        # A side not kept gives up the memory of its F(w X**2) too.
        if not mov.uniform:
            t1 = mov.times_weight(ref.w_x2, conjugate=True, in_place=not ref.keep)
        if not ref.uniform:
            term = mov.w_x2 if not mov.keep else mov.w_x2.copy()
            t3 = ref.times_weight(np.conj(term, out=term), conjugate=False, in_place=True)
            del term
        ref.release_squares()
        mov.release_squares()
    if ref.uniform and mov.uniform and transfer is None:
        # Only the cross term needs the moving spectrum: reuse its memory.
        cross = np.conj(mov.w_x, out=mov.w_x)
        cross *= ref.w_x
    else:
        cross = _product(ref.w_x, mov.w_x)
    for plane in nyquist:
        cross[plane] = 0.0
    filtered_cross = None
    if transfer is not None:
        # Only its curvature at the minimum is needed, for the error: single precision.
        spectrum = cross.astype(np.complex64)
        for axis, factor in enumerate(transfer):
            spectrum *= factor.astype(np.float32).reshape(
                [-1 if a == axis else 1 for a in range(cross.ndim)]
            )
        filtered_cross = Series(spectrum, shape)
    reference_part = None
    if mov.uniform and ref.uniform:
        residual = Series(cross, shape, scale=-2.0, constant=t1_constant + t3_constant)
        if split_noise:
            reference_part = Series(cross, shape, scale=-1.0, constant=t1_constant)
    else:
        if split_noise:
            # Only its ratio to the residual is needed: single precision.
            if t1 is None:
                part = np.negative(cross, dtype=np.complex64)
            else:
                part = t1.astype(np.complex64)
                part -= cross
            reference_part = Series(part, shape, constant=t1_constant)
            del part
        spectrum = cross
        spectrum *= -2.0
        for term in (t1, t3):
            if term is not None:
                spectrum += term
        del t1, t3, term
        residual = Series(spectrum, shape, constant=t1_constant + t3_constant)

    if ref.uniform and mov.uniform:
        weight = Series(None, shape, constant=float(np.prod(shape)))
    elif ref.uniform:
        weight = Series(None, shape, constant=mov.sum_w)
    elif mov.uniform:
        weight = Series(None, shape, constant=ref.sum_w)
    elif ref.w_factors is not None and mov.w_factors is not None:
        factors = [a * np.conj(b) for a, b in zip(ref.w_factors, mov.w_factors, strict=True)]
        weight = Series(None, shape, factors=factors)
    else:
        full = ref.w if ref.w is not None else outer_product(ref.w_factors)
        weight = Series(mov.times_weight(full, conjugate=True), shape)

    offset = None
    if fit_offset and not (ref.uniform and mov.uniform):
        # B(s) = corr(a R, b) - corr(a, b M); a uniform side gives a constant.
        spectrum, constant = None, 0.0
        if mov.uniform:
            constant += ref.sum_w_x
        else:
            spectrum = mov.times_weight(ref.w_x, conjugate=True)
        if ref.uniform:
            constant -= mov.sum_w_x
        else:
            # The moving spectrum's last use: conjugate and weight it in place.
            term = ref.times_weight(np.conj(mov.w_x, out=mov.w_x), conjugate=False, in_place=True)
            if spectrum is None:
                spectrum = np.negative(term, out=term)
            else:
                spectrum -= term
        offset = Series(spectrum, shape, constant=constant)
    return Surface(residual, weight, offset, shape, reference_part, filtered_cross)


class Registrar:
    """Registers moving images against one reference, preparing the reference once.

    Parameters
    ----------
    reference : array_like
        The reference image, any dimension.
    reference_error : float or array_like, optional
        1-sigma noise of the reference (scalar or per-pixel map). ``None`` means
        noiseless when the moving image's error is given, and "estimate from the
        data" when neither is given.
    reference_mask : array_like of bool, optional
        True marks reference pixels to ignore. NaN and infinite pixels are always ignored.
    upsample_factor : int or "auto"
        Samples per pixel of the returned delta-chi2 map. The shift and its error
        are computed continuously and do not depend on it. ``"auto"`` samples the
        map finely enough to show the 1, 2 and 3-sigma regions.
    boundary : {"overlap", "wrap"}
        ``"overlap"`` (default) compares the images only where they overlap, as
        real (non-periodic) images need; the correlations are zero-padded and the
        weights taper smoothly to zero over the outer ``TAPER_WIDTH`` pixels (on
        axes of ``LONG_AXIS`` px or more, after a zero margin of 1/128 of the axis).
        ``"wrap"`` treats both images as periodic (what FFT registration usually
        computes; exact for periodic data, biased for real images).
    zero_mean : bool
        Subtract each image's mean first (a constant background offset between
        the images then does not pull the shift).
    max_shift : float or sequence of float, optional
        Largest shift searched, per axis, in pixels. Default: half of each axis for
        ``"wrap"``, a quarter of each axis for ``"overlap"`` (raise it for larger
        offsets; the padded correlation then grows).
    prefilter : bool or float
        ``"overlap"`` only. A truncated image cannot be shifted by a fraction of
        a pixel near its Nyquist frequency: without a filter, images with much
        power there show an error that pulls shifts toward whole pixels and that
        the reported error does not include (a floor, about 1e-3 px on
        the nearly white test images). ``True`` (default) filters both images
        just enough to keep that floor at 0.3 of the noise's error, by blending
        the 5-tap kernel ``SMOOTHING`` (zero response at Nyquist) with the
        identity: the filter is at full strength at high signal-to-noise, weaker
        as the noise grows, and absent once the noise's error dwarfs the floor
        (see ``_prefilter``). The noise is the given errors', or, with none given,
        the residual of a first registration at full strength. A number from 0
        to 1 fixes the strength; ``False`` turns the filter off (and the margin
        it needs). The strength used is the result's ``filter_strength``. The
        floor left at that strength, as modelled, is added to the errors: it
        dominates them only at signal-to-noise ratios above ~1000 per pixel (or
        with a weak filter fixed by hand).
    threads : int, optional
        FFT threads; default all cores for large images. Use 1 when registering
        many images in parallel.
    """

    def __init__(
        self,
        reference,
        *,
        reference_error=None,
        reference_mask=None,
        upsample_factor: int | Literal["auto"] = "auto",
        boundary: Boundary = "overlap",
        zero_mean: bool = True,
        max_shift=None,
        prefilter: bool | float = True,
        threads: int | None = None,
    ):
        self._setup(
            reference,
            reference_error=reference_error,
            reference_mask=reference_mask,
            upsample_factor=upsample_factor,
            boundary=boundary,
            zero_mean=zero_mean,
            max_shift=max_shift,
            prefilter=prefilter,
            threads=threads,
        )
        # Later calls prepare the reference from these: keep copies the caller
        # cannot change, and prepare it now, so that its problems are reported here.
        self._source = _private(self._source)
        for name in ("reference_error", "reference_mask"):
            self._options[name] = _private(self._options[name])
        self._engine(1.0 if self._strength is None else self._strength)

    @classmethod
    def _one_off(cls, reference: np.ndarray, **options) -> Registrar:
        """A Registrar for a single call (every option given): it reads ``reference``
        in place (the call cannot change it), prepares it when the call needs it and
        keeps no spectra."""
        self = cls.__new__(cls)
        self._setup(reference, **options)
        self.keep_reference_spectra = False
        return self

    def _setup(
        self,
        reference,
        *,
        reference_error,
        reference_mask,
        upsample_factor,
        boundary,
        zero_mean,
        max_shift,
        prefilter,
        threads,
    ) -> None:
        ref = as_image(reference, "reference")
        self.shape = ref.shape
        self.boundary = check_choice(boundary, "boundary", BOUNDARIES)
        prefilter = check_prefilter(prefilter)
        self._options = {
            "reference_error": check_error(reference_error, ref.shape, "reference_error"),
            "reference_mask": _check_mask(reference_mask, ref.shape, "reference_mask"),
            "upsample_factor": check_upsample_factor(upsample_factor),
            "boundary": self.boundary,
            "zero_mean": bool(zero_mean),
            "max_shift": check_max_shift(max_shift, ref.shape),
            "filter_margins": self.boundary == "overlap" and prefilter is not False,
            "threads": threads,
        }
        #: The filter's strength, or None when each call chooses it from the noise.
        self._strength = None if prefilter is True else float(prefilter)
        if self.boundary == "wrap":
            self._strength = 0.0
        self._engines: dict[float, _Engine] = {}
        self._lock = threading.Lock()
        self._content: EdgeContent | None = None
        self.keep_reference_spectra = True
        self._source = ref
        #: The reference's mean noise variance (0 when not given).
        self._reference_var = _mean_variance(self._options["reference_error"])
        mask = self._options["reference_mask"]
        self._complete = mask is None and bool(np.isfinite(np.sum(ref, dtype=np.float64)))

    @property
    def keep_reference_spectra(self) -> bool:
        """Keep the reference's spectra between calls (False for a one-off registration)."""
        return self._keep

    @keep_reference_spectra.setter
    def keep_reference_spectra(self, keep: bool) -> None:
        self._keep = bool(keep)
        for engine in self._engines.values():
            engine.keep_reference_spectra = self._keep

    def register(
        self, moving, *, error=None, mask=None, delta_chi2_map: bool = True
    ) -> RegistrationResult:
        """Register ``moving`` onto the reference.

        Parameters
        ----------
        moving : array_like
            Image of the reference's shape.
        error : float or array_like, optional
            1-sigma noise of the moving image, scalar or per-pixel map (NaN marks
            pixels to ignore). See the class documentation for ``None``.
        mask : array_like of bool, optional
            True marks moving pixels to ignore.
        delta_chi2_map : bool
            Compute the delta-chi2 map around the minimum (default). Stacks that
            keep only shifts and errors skip it; the result's map fields are then None.

        Returns
        -------
        RegistrationResult
            ``shift`` registers ``moving`` onto the reference (numpy axis order).
        """
        mov = as_image(moving, "moving")
        check_same_shape(self._source, mov, ("reference", "moving"))
        moving_error = check_error(error, mov.shape, "error")
        mask = _check_mask(mask, mov.shape, "mask")
        unknown = self._options["reference_error"] is None and moving_error is None
        noise_var = None if unknown else self._reference_var + _mean_variance(moving_error)
        scale = self._edge_scale()
        strength, estimate, fitted = self._strength, None, None
        if strength is None:
            if unknown:
                estimated, estimate, fitted = self._unknown_noise(mov, mask)
                if estimated is None:  # no information: this call warns and says so
                    return self._engine(1.0).measure(mov, None, mask, delta_chi2_map)
                strength = filter_strength(scale, len(self.shape), estimated)
            else:
                strength = filter_strength(scale, len(self.shape), noise_var)
        return self._engine(strength).measure(
            mov,
            moving_error,
            mask,
            delta_chi2_map,
            estimate=estimate,
            noise_var=noise_var,
            floor_var=self._floor_var(scale, strength),
            fitted=fitted if strength == 1.0 else None,
        )

    def _unknown_noise(self, mov: np.ndarray, mask):
        """The noise variance of the difference when no error is given, from the
        residual of a fit at full strength (which holds at any noise):
        ``(variance, estimate, fitted)``.

        Images that take the binned search fit a window of ``NOISE_WINDOW`` pixels
        per axis around the centre, cut at the whole-pixel shift found on the binned
        images (``estimate``, which the registration proper reuses). Others fit whole
        (``fitted``, which finishes the registration should the strength come out
        full). A residual below the surface's precision gives a small variance,
        hence full strength, as it should. The variance is None when an image is
        flat.
        """
        engine = self._engine(1.0, prepare=False)
        complete = mask is None and bool(np.isfinite(np.sum(mov, dtype=np.float64)))
        if engine.binned_search(complete, noise_maps=False):
            estimate = engine.binned_estimate(mov)
            windows = _noise_windows(self.shape, np.round(estimate).astype(int))
            if windows is not None:
                window = _Engine(
                    self._source[windows[0]],
                    **{
                        **self._options,
                        "reference_error": None,
                        "reference_mask": None,
                        "max_shift": None,
                    },
                    reference_complete=True,
                    strength=1.0,
                ).fit_unknown_noise(mov[windows[1]])
                if window is not None:
                    return window[1].noise ** 2, estimate, None
        fitted = self._engine(1.0).fit_unknown_noise(mov, mask)
        if fitted is None:
            return None, None, None
        return fitted[1].noise ** 2, None, fitted

    def _edge_scale(self) -> float:
        """The scale of the sub-pixel floor (see ``_prefilter``), from the reference's
        statistics with its known noise taken out; 0 for wrap."""
        if self.boundary == "wrap":
            return 0.0
        kernels = _smoothing_kernels(self.shape)
        if self._content is None:
            reference = self._source
            valid = np.isfinite(reference)
            if self._options["reference_mask"] is not None:
                valid &= ~self._options["reference_mask"]
            if valid.all():
                self._content = EdgeContent.measure(reference, None, kernels)
            else:
                zeroed = np.where(valid, reference, 0.0)
                self._content = EdgeContent.measure(zeroed, valid, kernels)
        return edge_scale(self._content, self.shape, self._reference_var, kernels)

    def _floor_var(self, scale: float, strength: float) -> float:
        """The floor's variance at ``strength``, as a noise variance; 0 for wrap."""
        if self.boundary == "wrap":
            return 0.0
        return floor_noise(scale, len(self.shape), strength) ** 2

    def _engine(self, strength: float, *, prepare: bool = True) -> _Engine:
        """The registration at one filter strength (the latest few are kept), its
        reference prepared unless ``prepare`` is False."""
        with self._lock:
            engine = self._engines.pop(strength, None)
            if engine is None:
                engine = _Engine(
                    self._source,
                    strength=strength,
                    reference_complete=self._complete,
                    **self._options,
                )
                engine.keep_reference_spectra = self._keep
            self._engines[strength] = engine  # the most recent last
            while len(self._engines) > KEPT_ENGINES:
                del self._engines[next(iter(self._engines))]
        if prepare:
            engine._reference  # noqa: B018 - prepared here, where its errors belong
        return engine


def _noise_windows(shape, whole) -> tuple[tuple[slice, ...], tuple[slice, ...]] | None:
    """Windows of up to ``NOISE_WINDOW`` pixels per axis, one in each image, that
    show the same scene at a whole-pixel shift ``whole`` (the reference's pixel
    ``x`` is the moving image's ``x - whole``), centred where both overlap; None
    where the overlap is narrower than ``SHORT_AXIS``."""
    reference, moving = [], []
    for n, k in zip(shape, whole, strict=True):
        low, high = max(0, k), min(n, n + k)  # the reference's pixels that both show
        size = min(NOISE_WINDOW, high - low)
        if size < SHORT_AXIS:
            return None
        start = low + (high - low - size) // 2
        reference.append(slice(start, start + size))
        moving.append(slice(start - k, start - k + size))
    return tuple(reference), tuple(moving)


def _private(array):
    """``array`` itself if nobody can write to it, else a copy (None stays None)."""
    if isinstance(array, np.ndarray) and array.flags.writeable:
        return array.copy()
    return array


def _mean_variance(error) -> float:
    """The mean variance of an error (scalar or map; NaN pixels left out; None: 0)."""
    if error is None:
        return 0.0
    if np.ndim(error) == 0:
        return float(error) ** 2
    return float(np.nanmean(np.square(error)))


@dataclass
class _Fit:
    """The minimum of chi2 (``f`` is chi2 / (weight * scale)) and what the errors need."""

    surface: Surface
    shift: np.ndarray
    f_min: float
    hessian: np.ndarray
    positive: bool
    weight: float  # the summed weight at the minimum
    dof: float
    noise: float | None  # estimated from the residual when no error is given
    scale: float
    reference_power: float  # the reference's weighted mean square


class _Engine:
    """A :class:`Registrar` at one filter strength: the reference prepared once, the
    spectra it reuses, and the registration proper."""

    def __init__(
        self,
        ref: np.ndarray,
        *,
        reference_error,
        reference_mask,
        upsample_factor,
        boundary: Boundary,
        zero_mean: bool,
        max_shift,
        strength: float,
        filter_margins: bool,
        reference_complete: bool,
        threads: int | None,
    ):
        self.shape = ref.shape
        self.boundary = boundary
        self.upsample_factor = upsample_factor
        self.zero_mean = zero_mean
        self.threads = threads
        self._reference_error = reference_error
        self._reference_mask = _ignore_unknown_noise(reference_mask, reference_error)
        # Overlap mode filters both images with a compact low-pass kernel, as
        # strongly as ``strength`` (see ``_prefilter``).
        full = _smoothing_kernels(ref.shape)
        self.strength = strength if boundary == "overlap" else 0.0
        self._kernels = blend(full, self.strength)
        self._source = ref  # as given, never written to
        self._reference_complete = reference_complete
        requested = max_shift
        half = np.asarray(ref.shape, dtype=np.float64) / 2
        self._binning = (1,) * ref.ndim
        if self.boundary == "wrap":
            self._limits = half if requested is None else np.minimum(requested, half)
            self._padded = ref.shape
            self._tapers = None
        else:
            default = np.maximum(1.0, np.floor(np.asarray(ref.shape) / 4))
            limits = default if requested is None else requested
            self._limits = np.minimum(np.floor(limits), np.asarray(ref.shape) - 1)
            self._padded = _fft.next_fast_shape(
                np.asarray(ref.shape) + self._limits.astype(int) + 2
            )
            margins = [k.size // 2 if filter_margins else 0 for k in full]
            self._tapers = [_overlap_taper(n, m) for n, m in zip(ref.shape, margins, strict=True)]
            self._binning = tuple(
                int(np.clip(n // BINNED_SIZE, 1, MAX_BINNING)) for n in ref.shape
            )
        self._reference_cache: dict = {}
        self._binned_reference: _Spectra | None = None
        self._tapered_reference: dict = {}
        self._reference_squares: Marginals | None = None
        #: Keep the reference's spectra between calls (False for a one-off registration).
        self.keep_reference_spectra = True

    @functools.cached_property
    def _reference(self) -> _Image:
        """The reference prepared (filtered) at this strength, on first use: the
        binned search reads only the reference as given."""
        return _Image.prepare(
            self._source,
            self._reference_mask,
            zero_mean=self.zero_mean,
            kernels=self._kernels,
            name="reference",
        )

    @property
    def _smooth(self) -> bool:
        """Whether both images are filtered (overlap mode with ``prefilter``)."""
        return self._kernels is not None

    @property
    def _variance_factor(self) -> float:
        """Variance of the filtered noise per unit variance of the raw noise."""
        if not self._smooth:
            return 1.0
        return float(np.prod([np.sum(kernel**2) for kernel in self._kernels]))

    def _transfer(self, padded, *, power: int) -> list[np.ndarray]:
        """Per-axis ``|H(k)|**power`` of the filter on the padded frequencies (rfft layout)."""
        out = []
        for axis, n in enumerate(padded):
            k = np.arange(n // 2 + 1) if axis == len(padded) - 1 else np.fft.fftfreq(n, 1 / n)
            out.append(np.abs(_filter_response(k / n, self._kernels[axis])) ** power)
        return out

    def _surface(self, ref_spec: _Spectra, mov_spec: _Spectra, *, split_noise=False) -> Surface:
        return _surface(
            ref_spec,
            mov_spec,
            self._padded,
            fit_offset=self.zero_mean,
            split_noise=split_noise,
            transfer=self._transfer(self._padded, power=2) if self._smooth else None,
            drop_nyquist=self.boundary == "wrap",
        )

    def _score_covariance(
        self, surface: Surface, image: _Image, shift, scale, chi2_hessian
    ) -> np.ndarray:
        """Covariance of the chi2 gradient due to the noise times the signal.

        For white noise it is twice the Hessian. Filtering correlates the noise:
        then it is ``4 / c2`` times the curvature of the correlation of the images
        filtered twice, ``c2`` being the variance factor of the filter.
        """
        # The score sums weight**2 where the curvature sums weight: the tapered
        # edges count less in the variance than in the curvature.
        ratio = self._squared_weight_ratio(image, shift) if self._tapers is not None else 1.0
        if surface.filtered_cross is None:
            return 2.0 * ratio * chi2_hessian
        weight = surface.weight_at(shift)
        curvature = -surface.filtered_cross.derivatives(shift)[2]
        return (4.0 / self._variance_factor) * ratio * (scale / weight) * curvature

    def _weight_sums(self, image: _Image, shift) -> tuple[float, float]:
        """``sum t`` and ``sum t**2`` for the geometric weight ``t(x) = a(x) b(x - s)``
        (taper and validity, no noise), at the whole pixel nearest ``shift``."""
        whole = np.round(shift).astype(int)
        wrap = self.boundary == "wrap"
        ref_weight = self._base_weight(self._reference)
        mov_weight = self._base_weight(image)
        if ref_weight is None and mov_weight is None:  # periodic, nothing masked: all ones
            count = float(np.prod(self.shape))
            return count, count
        if isinstance(ref_weight, list) and isinstance(mov_weight, list):
            first, second = 1.0, 1.0
            for a, b, k in zip(ref_weight, mov_weight, whole, strict=True):
                t = a * _move(b, [k], wrap=wrap)
                first *= float(np.sum(t))
                second *= float(np.sum(t**2))
            return first, second
        a = _materialize(ref_weight, self.shape)
        t = a * _move(_materialize(mov_weight, self.shape), whole, wrap=wrap)
        return float(np.sum(t)), float(np.sum(t**2))

    def _squared_weight_ratio(self, image: _Image, shift) -> float:
        """``sum t**2 / sum t`` for the geometric weight (see :meth:`_weight_sums`)."""
        first, second = self._weight_sums(image, shift)
        return second / first

    def _sum_squared_weights(self, image: _Image, shift) -> float:
        return self._weight_sums(image, shift)[1]

    def _noise_coupling_covariance(
        self, surface: Surface, image: _Image, ref_var, mov_var, shift
    ) -> np.ndarray:
        """Covariance of the chi2 gradient due to the product of both images' noise.

        When both images are noisy, the moving image's noise also enters the
        model's gradient; its product with the reference's noise adds
        ``4 * coupling * kappa / c2**2`` per axis, ``kappa`` the variance of the
        (filtered) derivative of unit white noise. It vanishes when either image
        is noiseless.
        """
        coupling = self._noise_coupling(image, ref_var, mov_var, shift)
        if coupling == 0.0:
            return np.zeros((len(self.shape), len(self.shape)))
        padded = surface.shape
        means = (
            [float(np.mean(t)) for t in self._transfer(padded, power=4)]
            if self._smooth
            else [1.0] * len(self.shape)
        )
        kappa = []
        for axis, n in enumerate(padded):
            k = np.fft.fftfreq(n, 1 / n)
            h4 = _filter_response(k / n, self._kernels[axis]) ** 4 if self._smooth else np.ones(n)
            others = np.prod([m for a, m in enumerate(means) if a != axis])
            kappa.append(float(np.mean(h4 * (2 * np.pi * k / n) ** 2)) * others)
        return 4.0 * coupling * np.diag(kappa) / self._variance_factor**2

    def _base_weight(self, image: _Image):
        """Taper times validity: None when every weight is 1 (periodic, nothing
        masked), a list of 1-D profiles when it is separable, else an array."""
        if self._tapers is None:
            return None if image.valid is None else image.valid.astype(np.float64)
        profiles = [taper.samples() for taper in self._tapers]
        if image.valid is None:
            return profiles
        return image.valid * outer_product(profiles)

    def _spectra(self, image: _Image, variance, *, cache_key=None) -> _Spectra:
        if cache_key is not None and cache_key in self._reference_cache:
            return self._reference_cache[cache_key]
        weight = self._base_weight(image)
        if isinstance(variance, np.ndarray):
            weight = _materialize(weight, self.shape)
            if self._smooth:  # the variance of the filtered image
                variance = _smooth(
                    np.where(np.isfinite(variance), variance, 0.0),
                    [kernel**2 for kernel in self._kernels],
                )
            inverse = 1.0 / np.where(variance > 0, variance, np.inf)
            weight = inverse if weight is None else weight * inverse
        spectra = _Spectra(image, weight, self._padded, self.threads)
        if cache_key is not None and self.keep_reference_spectra:
            self._reference_cache.clear()  # keep only the latest: bounded memory
            self._reference_cache[cache_key] = spectra
            spectra.keep = True
        return spectra

    def _prepare(self, mov: np.ndarray, moving_error, mask) -> _Image | None:
        """The validated ``mov`` prepared like the reference; None when it or the
        reference is flat (no information)."""
        mask = _ignore_unknown_noise(mask, moving_error)
        image = _Image.prepare(
            mov, mask, zero_mean=self.zero_mean, kernels=self._kernels, name="moving"
        )
        if self._reference.is_flat() or image.is_flat():
            return None
        return image

    def fit_unknown_noise(self, mov: np.ndarray, mask=None) -> tuple[_Image, _Fit] | None:
        """``mov`` prepared and chi2 fitted as with no error given: the fit's ``noise``
        is estimated from the residual of the surface at its minimum. None when an
        image is flat. :meth:`measure` takes the pair to finish the registration."""
        image = self._prepare(mov, None, mask)
        if image is None:
            return None
        with _fft.one_blas_thread():
            return image, self._fit(image, None, estimate=None)

    def measure(
        self,
        mov: np.ndarray,
        moving_error,
        mask,
        delta_chi2_map: bool,
        *,
        estimate=None,
        noise_var: float | None = None,
        floor_var: float = 0.0,
        fitted: tuple[_Image, _Fit] | None = None,
    ):
        """Register the validated ``mov`` (see :meth:`Registrar.register`).

        ``estimate``: the shift from :meth:`binned_estimate` when the caller has it;
        ``noise_var``: the mean noise variance of the difference when errors are
        given; ``floor_var``: the sub-pixel floor as a noise variance, added to the
        errors; ``fitted``: what :meth:`fit_unknown_noise` returned for ``mov``.
        """
        if fitted is None:
            image, fit = self._prepare(mov, moving_error, mask), None
            if image is None:
                return self._no_information()
        else:
            image, fit = fitted
        # BLAS on one thread: threaded OpenBLAS spins long after each call and
        # would slow the next transforms (see evaluate_series).
        with _fft.one_blas_thread():
            if fit is None:
                fit = self._fit(image, moving_error, estimate=estimate)
            return self._measure(
                image,
                moving_error,
                fit,
                delta_chi2_map=delta_chi2_map,
                noise_var=noise_var,
                floor_var=floor_var,
            )

    def _fit(self, image: _Image, moving_error, *, estimate) -> _Fit:
        """The minimum of chi2, and what the errors need from it."""
        ref_err, mov_err = self._reference_error, moving_error
        unknown = ref_err is None and mov_err is None
        ref_map = isinstance(ref_err, np.ndarray)
        mov_map = isinstance(mov_err, np.ndarray)
        ref_var = 0.0 if ref_err is None else ref_err**2
        mov_var = 0.0 if mov_err is None else mov_err**2
        if self.binned_search(image.valid is None, noise_maps=ref_map or mov_map):
            surface, start, guess, reference_power = self._tapered_surface(
                image, split_noise=unknown, estimate=estimate
            )
        else:
            surface, start, guess, reference_power = self._spectral_surface(
                image, ref_var, mov_var, split_noise=unknown
            )
        shift, f_min, hessian, positive = refine_minimum(surface, start, guess=guess)
        weight = surface.weight_at(shift)

        # chi2 = f * W * scale, in units where the filtered noise has unit variance.
        ndim = len(self.shape)
        fitted = ndim + (1 if self.zero_mean else 0)
        filtered = self._variance_factor
        if unknown or not (ref_map or mov_map):
            pixels = weight
            if self.boundary == "wrap" and surface.weight.is_constant:
                # The Nyquist frequencies left out of the comparison carry no residual.
                kept = np.prod([1 - 1 / n for n in self.shape if n % 2 == 0 and n > 2])
                pixels = weight * kept
        else:  # the weights hold 1 / variance: convert back to a pixel count
            pixels = (
                weight
                * filtered
                * float(np.nanmean(np.broadcast_to(ref_var + mov_var, self.shape)))
            )
        dof = max(pixels - fitted, 1.0)
        noise = None
        if unknown:
            noise_var = max(f_min * weight / dof, 1e-24 * reference_power)
            noise = float(np.sqrt(noise_var / filtered))
            scale = weight / noise_var
        elif ref_map or mov_map:
            scale = weight
        else:
            scale = weight / (filtered * (ref_var + mov_var))
        return _Fit(
            surface, shift, f_min, hessian, positive, weight, dof, noise, scale, reference_power
        )

    def _interior_variance(self, image: _Image, shift) -> float | None:
        """The variance of the filtered difference at ``shift``, from the pixels
        ``INTERIOR_MARGIN`` or more past both images' tapers: the moving image, tapered
        and zero-padded, shifted by FFT, against the reference. None when the images
        have invalid pixels or too small an interior.

        At high signal-to-noise the residual of the chi2 surface can fall below the
        noise by the surface's own inconsistency between pixels (its terms are
        interpolated one by one), down to zero. This explicit residual cannot: away
        from the edges the shift is exact but for what leaks in from them, ~1e-3 of
        the images' level on 64-97 px crops, so it errs on the large side there."""
        if self._tapers is None or image.valid is not None or self._reference.valid is not None:
            return None
        reach = np.ceil(np.abs(shift)).astype(int)
        inside = []
        for n, taper, k in zip(self.shape, self._tapers, reach, strict=True):
            start = taper.margin + taper.width + INTERIOR_MARGIN + k
            if n - 2 * start < INTERIOR_MARGIN:
                return None
            inside.append(slice(start, n - start))
        padded = _fft.next_fast_shape(np.asarray(self.shape) + reach + TAPER_WIDTH)
        tapered = np.zeros(padded)
        tapered[tuple(slice(0, n) for n in self.shape)] = (
            outer_product([taper.samples() for taper in self._tapers]) * image.data
        )
        moved = fourier_shift(tapered, shift, threads=self.threads)
        difference = self._reference.data[tuple(inside)] - moved[tuple(inside)]
        if self.zero_mean:
            difference -= difference.mean()
        return float(np.mean(difference**2))

    def _measure(
        self,
        image: _Image,
        moving_error,
        fit: _Fit,
        *,
        delta_chi2_map: bool,
        noise_var: float | None,
        floor_var: float,
    ) -> RegistrationResult:
        """The errors and the map, from the fit of a prepared moving image with
        information in it."""
        ref_err, mov_err = self._reference_error, moving_error
        surface, shift, f_min, noise, scale = (
            fit.surface,
            fit.shift,
            fit.f_min,
            fit.noise,
            fit.scale,
        )
        ndim = len(self.shape)
        unknown = noise is not None
        ref_var = 0.0 if ref_err is None else ref_err**2
        mov_var = 0.0 if mov_err is None else mov_err**2
        if unknown:
            noise_var = noise**2 * self._variance_factor
            if self.strength == 1.0 and noise_var < INTERIOR_SNR * fit.reference_power:
                # Near the precision of the interpolated surface: no less than the
                # residual of the interior.
                interior = self._interior_variance(image, shift)
                if interior is not None and interior > noise_var:
                    noise_var = interior
                    noise = float(np.sqrt(noise_var / self._variance_factor))
                    scale = fit.weight / noise_var
            # Split the noise between the images: sum w R (R - M) / sum w (R - M)**2
            # is the reference's share.
            share = surface.reference_share(shift, f_min)
            ref_var, mov_var = noise_var * share, noise_var * (1.0 - share)
        chi2_hessian = fit.hessian * scale

        if fit.positive and np.all(np.isfinite(chi2_hessian)):
            score = self._score_covariance(surface, image, shift, scale, chi2_hessian)
            score += self._noise_coupling_covariance(surface, image, ref_var, mov_var, shift)
            covariance, sigma = marginal_errors(chi2_hessian, score)
            # The sub-pixel floor, as noise of variance floor_var added to the
            # difference's (whose mean, in the images' units, is noise_mean).
            noise_mean = noise**2 if unknown else noise_var
            inflation = 1.0 + floor_var / noise_mean if floor_var else 1.0
            covariance = covariance * inflation
            sigma = sigma * np.sqrt(inflation)
            # Rescale the map so that delta chi2 = 1 stays the 1-sigma contour.
            naive = np.diag(2.0 * np.linalg.inv(0.5 * (chi2_hessian + chi2_hessian.T)))
            calibration = float(np.exp(np.mean(np.log(np.diag(covariance) / naive))))
        else:
            warnings.warn(
                "the chi2 surface is not curved at its minimum: the images do not constrain "
                "the shift, so its error is infinite.",
                RegistrationWarning,
                stacklevel=5,
            )
            covariance = np.full((ndim, ndim), np.inf)
            sigma = np.full(ndim, np.inf)
            calibration = 1.0

        factor, coords, delta = (
            self._delta_chi2_map(surface, shift, f_min, scale / calibration, sigma)
            if delta_chi2_map
            else (None, None, None)
        )
        logger.debug("registered: shift %s error %s", shift, sigma)
        return RegistrationResult(
            shift=shift,
            error=sigma,
            covariance=covariance,
            chi2_min=float(f_min * scale),
            dof=float(fit.dof),
            noise=noise,
            upsample_factor=factor,
            delta_chi2=delta,
            delta_chi2_coords=coords,
            boundary=self.boundary,
            method="chi2",
            filter_strength=self.strength if self.boundary == "overlap" else None,
        )

    def _spectral_surface(self, image: _Image, ref_var, mov_var, *, split_noise: bool):
        """The surface from the spectra of every term, its whole-pixel minimum over the
        whole range of shifts, a sub-pixel guess from there, and the reference's
        weighted mean square."""
        ref_map = isinstance(ref_var, np.ndarray)
        mov_map = isinstance(mov_var, np.ndarray)
        if ref_map and mov_map:
            # Both noise maps: the variance of the difference lives in two frames.
            # Find the whole-pixel shift first, then carry the moving map into the
            # reference frame, so that one weight holds the total variance.
            surface = self._surface(
                self._spectra(self._reference, ref_var), self._spectra(image, mov_var)
            )
            start = whole_pixel_minimum(
                surface, self._limits, min_weight_fraction=0.25, threads=self.threads
            )[0]
            total = ref_var + _move(mov_var, start.astype(int), wrap=True)
            ref_spec, mov_spec = (
                self._spectra(self._reference, total),
                self._spectra(image, None),
            )
        elif ref_map:
            key = ("map", float(mov_var))
            ref_spec = self._spectra(self._reference, ref_var + mov_var, cache_key=key)
            mov_spec = self._spectra(image, None)
        elif mov_map:
            ref_spec = self._spectra(self._reference, None, cache_key=("plain",))
            mov_spec = self._spectra(image, mov_var + ref_var)
        else:
            ref_spec = self._spectra(self._reference, None, cache_key=("plain",))
            mov_spec = self._spectra(image, None)
        surface = self._surface(ref_spec, mov_spec, split_noise=split_noise)
        reference_power = ref_spec.sum_w_x2 / ref_spec.sum_w  # its weighted mean square
        del ref_spec, mov_spec

        start, offset = whole_pixel_minimum(
            surface, self._limits, min_weight_fraction=0.25, threads=self.threads
        )
        return surface, start, start + offset, reference_power

    def binned_search(self, complete: bool, *, noise_maps: bool) -> bool:
        """Whether the whole-pixel search runs on binned images: overlap mode, large
        enough images, and weights that are the taper alone (nothing masked, no
        noise maps); ``complete``: the moving image has no invalid pixel.

        Axes shorter than ``SHORT_AXIS`` keep the full surface: they were left out
        when the taper's terms took the raised cosine between pixels and parted
        from the cross term there; not measured again since they take the
        interpolant.
        """
        return (
            self._tapers is not None
            and max(self._binning) > 1
            and min(self.shape) >= SHORT_AXIS
            and not noise_maps
            and self._reference_complete
            and complete
        )

    def _binned_spectra(self, image: np.ndarray) -> _Spectra:
        """The spectra of the unfiltered ``image`` binned, tapered and centred."""
        binning = self._binning
        data = _bin(image, binning)
        if self.zero_mean:
            data -= data.mean()
        weight = [
            Taper(n, max(1, t.width // f), -(-t.margin // f)).samples()
            for n, f, t in zip(data.shape, binning, self._tapers, strict=True)
        ]
        limits = np.floor(self._limits / binning).astype(int)
        padded = _fft.next_fast_shape(np.asarray(data.shape) + limits + 2)
        return _Spectra(_Image(data, None, (0,) * data.ndim), weight, padded, self.threads)

    def binned_estimate(self, moving: np.ndarray) -> np.ndarray:
        """The shift, to a pixel or two: the whole-pixel minimum of the surface of both
        images (unfiltered: the estimate is the same at every strength) binned by
        ``self._binning``, refined by a parabola, in pixels."""
        reference = self._binned_reference
        if reference is None:
            reference = self._binned_spectra(self._source)
            if self.keep_reference_spectra:
                reference.keep = True
                self._binned_reference = reference
        surface = _surface(
            reference,
            self._binned_spectra(moving),
            reference._padded,
            fit_offset=self.zero_mean,
            split_noise=False,
        )
        limits = np.floor(self._limits / self._binning)
        whole, offset = whole_pixel_minimum(
            surface, limits, min_weight_fraction=0.25, threads=self.threads
        )
        return (whole + offset) * np.asarray(self._binning)

    def _tapered_surface(self, image: _Image, *, split_noise: bool, estimate=None):
        """The surface near the shift found on binned images, with the taper's terms
        summed in image space (see ``_taper``) and the cross term from the spectra of
        both tapered images, padded only as far as that shift needs. Returns it, the
        whole-pixel minimum near the estimate, a sub-pixel guess, and the
        reference's weighted mean square."""
        if estimate is None:
            estimate = self.binned_estimate(image.source)
        centre = np.clip(np.round(estimate), -self._limits, self._limits)
        radius = np.maximum(np.asarray(self._binning) // 2, 1)
        # Room for one move of the window, Newton's pixel and the delta-chi2 map.
        room = 2 * radius + MAP_HALF_WIDTH + 2
        reach = [(c - r, c + r) for c, r in zip(centre, room, strict=True)]
        padded = _cross_padding(self.shape, np.abs(centre).astype(int) + room, self._tapers)
        profiles = [taper.samples() for taper in self._tapers]
        # Between pixels, the taper as the FFTs of the cross term see it (``Taper``).
        tapers = [
            dataclasses.replace(t, period=p) for t, p in zip(self._tapers, padded, strict=True)
        ]

        # The reference's spectrum for this padding, kept for the next call (the latest
        # padding only) unless the Registrar is a one-off. Threads sharing the
        # Registrar each hold their own entry.
        entry = self._tapered_reference.get(padded)
        if entry is None:
            spectrum = _fft.rfftn(
                self._reference.data, s=padded, threads=self.threads, weights=profiles
            )
            entry = spectrum, Marginals.from_spectrum(self._reference.data, spectrum, padded)
            if self.keep_reference_spectra:
                self._tapered_reference = {padded: entry}
        ref_spectrum, ref_values = entry
        ref_squares_sums = self._reference_squares
        if ref_squares_sums is None:
            ref_squares_sums = Marginals.of(self._reference.data, 2, tapers)
            if self.keep_reference_spectra:
                self._reference_squares = ref_squares_sums
        cross = _fft.rfftn(image.data, s=padded, threads=self.threads, weights=profiles)
        mov_values = Marginals.from_spectrum(image.data, cross, padded)
        np.conj(cross, out=cross)
        cross *= ref_spectrum

        ref_squares = TaperCorrelation(ref_squares_sums, tapers, sign=1, reach=reach)
        mov_squares = TaperCorrelation(
            Marginals.of(image.data, 2, tapers), tapers, sign=-1, reach=reach
        )
        residual = TermSum(ref_squares, mov_squares, Series(cross, padded, scale=-2.0))
        offset = None
        if self.zero_mean:
            offset = TermSum(
                TaperCorrelation(ref_values, tapers, sign=1, reach=reach),
                TaperCorrelation(mov_values, tapers, sign=-1, reach=reach, scale=-1.0),
            )
        reference_part = (
            TermSum(ref_squares, Series(cross, padded, scale=-1.0)) if split_noise else None
        )
        filtered = (
            Series(cross, padded, transfer=self._transfer(padded, power=2))
            if self._smooth
            else None
        )
        surface = Surface(residual, TaperOverlap(tapers), offset, padded, reference_part, filtered)
        start, guess = self._local_minimum(surface, centre, radius)
        weight_sum = float(np.prod([profile.sum() for profile in profiles]))
        return surface, start, guess, ref_squares_sums.total / weight_sum

    def _local_minimum(self, surface: Surface, centre, radius):
        """The whole-pixel minimum of ``surface`` within ``radius`` of ``centre`` (the
        window moved once if the minimum lies on its edge), and a parabolic guess."""
        limits = self._limits
        for _ in range(2):
            window = [
                np.arange(max(c - r, -lim), min(c + r, lim) + 1)
                for c, r, lim in zip(centre, radius, limits, strict=True)
            ]
            score = surface.values(window)
            index = np.unravel_index(int(np.argmin(score)), score.shape)
            best = np.array([w[i] for w, i in zip(window, index, strict=True)])
            on_edge = [
                (i == 0 and w[0] > -lim) or (i == len(w) - 1 and w[-1] < lim)
                for w, i, lim in zip(window, index, limits, strict=True)
            ]
            if not any(on_edge):
                break
            centre = best
        offset = parabolic_offset(score, index, [False] * len(window))
        return best, best + offset

    def _noise_coupling(self, image: _Image, ref_var, mov_var, shift) -> float:
        """``sum_x w(x)**2 v1(x) v2(x - s)`` at the best shift, chi2 weights ``w``.

        When both images are noisy, the noise of the moving image also enters
        the model's gradient; its product with the reference's noise adds score
        variance ``4 * coupling * mean((2 pi k / n)**2)`` per axis, which the chi2
        curvature does not see. It vanishes when either image is noiseless.
        """
        if np.all(np.asarray(ref_var) == 0) or np.all(np.asarray(mov_var) == 0):
            return 0.0
        if np.ndim(ref_var) == np.ndim(mov_var) == 0:
            # Scalar noise: the sum of the squared geometric weights, times a constant.
            ratio = ref_var * mov_var / (ref_var + mov_var) ** 2
            return float(self._sum_squared_weights(image, shift) * ratio)
        ref_weight = _materialize(self._base_weight(self._reference), self.shape, ones=False)
        mov_weight = _materialize(self._base_weight(image), self.shape, ones=False)
        whole = np.round(shift).astype(int)
        wrap = self.boundary == "wrap"
        weight = np.ones(self.shape) if ref_weight is None else ref_weight
        if mov_weight is not None:
            weight = weight * _move(mov_weight, whole, wrap=wrap)
        elif not wrap:  # pragma: no cover - overlap weights are never uniform
            weight = weight * _move(np.ones(self.shape), whole, wrap=False)
        moved_var = _move(mov_var, whole, wrap=wrap) if np.ndim(mov_var) else mov_var
        total = ref_var + moved_var
        with np.errstate(divide="ignore", invalid="ignore"):
            term = weight**2 * ref_var * moved_var / total**2
        return float(np.nansum(np.broadcast_to(term, self.shape)))

    def _delta_chi2_map(self, surface, shift, f_min, scale, sigma):
        if self.upsample_factor == "auto":
            widest = float(np.max(sigma)) if np.all(np.isfinite(sigma)) else 0.5
            factor = int(np.clip(np.ceil(MAP_HALF_WIDTH / (3.0 * max(widest, 1e-6))), 1, 10**6))
        else:
            factor = self.upsample_factor
        offsets = (np.arange(2 * MAP_HALF_WIDTH + 1) - MAP_HALF_WIDTH) / factor
        coords = tuple(s + offsets for s in shift)
        delta = (surface.values(coords) - f_min) * scale
        return factor, coords, delta

    def _no_information(self) -> RegistrationResult:
        warnings.warn(
            "an image is constant (no structure to register): the shift is unconstrained "
            "and its error is infinite.",
            RegistrationWarning,
            stacklevel=5,
        )
        ndim = len(self.shape)
        return RegistrationResult(
            shift=np.zeros(ndim),
            error=np.full(ndim, np.inf),
            covariance=np.full((ndim, ndim), np.inf),
            boundary=self.boundary,
            method="chi2",
            filter_strength=self.strength if self.boundary == "overlap" else None,
        )


def register(
    reference,
    moving,
    *,
    error=None,
    reference_error=None,
    mask=None,
    upsample_factor: int | Literal["auto"] = "auto",
    boundary: Boundary = "overlap",
    zero_mean: bool = True,
    max_shift=None,
    prefilter: bool = True,
    threads: int | None = None,
) -> RegistrationResult:
    """Measure the translation between two images, with calibrated 1-sigma errors.

    The chi-squared method: chi2 as a function of shift from FFT
    cross-correlations, its whole-pixel minimum, then Newton's method on the
    exact band-limited interpolant of the surface for the sub-pixel minimum and
    its curvature.

    Parameters
    ----------
    reference, moving : array_like
        Real images of the same shape, any dimension (spectra, images, volumes).
        NaN and infinite pixels are ignored. Neither is modified.
    error : float or array_like, optional
        1-sigma noise of ``moving``: a scalar or a per-pixel map.
    reference_error : float or array_like, optional
        1-sigma noise of ``reference``. If both errors are None (the default) the
        noise is estimated from the residual at the best shift, which then covers
        the noise of both images. If only one is given, the other image is taken
        as noiseless: for two equally noisy exposures, pass both.
    mask : array_like of bool, or a pair of them, optional
        True marks pixels to ignore: one mask for both images (e.g. a detector's
        bad pixels) or ``(reference_mask, moving_mask)``.
    upsample_factor : int or "auto"
        Samples per pixel of the returned delta-chi2 map (the shift and error are
        continuous and do not depend on it).
    boundary : {"overlap", "wrap"}
        ``"overlap"`` (default): non-periodic, chi2 over the overlap only, right
        for real images whose edges do not wrap. ``"wrap"``: periodic images.
    zero_mean : bool
        Subtract each image's mean first (default True).
    max_shift : float or sequence of float, optional
        Largest shift searched per axis in pixels (default: a quarter of each axis
        for ``"overlap"``, half for ``"wrap"``).
    prefilter : bool or float
        ``"overlap"`` only: discount the content near the Nyquist frequency, which
        a truncated image cannot be sub-pixel shifted with, as much as the noise
        requires (default True), at a fixed strength from 0 to 1, or not at all
        (False). See :class:`Registrar`.
    threads : int, optional
        FFT threads.

    Returns
    -------
    RegistrationResult
        ``shift`` (numpy axis order, ``(dy, dx)`` in 2-D) is the translation that
        registers ``moving`` onto ``reference``: ``fourier_shift(moving, shift)``
        reproduces ``reference``. ``error`` is the marginal 1-sigma per axis.

    Raises
    ------
    TypeError
        For complex, string, object or ragged input.
    ValueError
        For mismatched shapes, empty or single-pixel images, invalid errors,
        masks, ``upsample_factor``, ``boundary`` or ``max_shift``.

    Notes
    -----
    With weights ``a`` and ``b`` attached to each image (inverse variances,
    validity and, for ``"overlap"``, a taper), the surface minimised is the mean
    weighted squared residual over the shared pixels,

    .. math:: f(s) = \\frac{\\sum_x a(x) b(x-s) (R(x) - M(x-s))^2}{\\sum_x a(x) b(x-s)},

    each sum a combination of cross-correlations computed by FFT (equations 2-4
    of the reference documentation). chi2 is ``f`` times the summed weight at the
    minimum, so ``delta chi2 = 1`` is a 1-sigma change. The error of axis ``i``
    is ``sqrt((2 H^-1)_ii)`` with ``H`` the Hessian of chi2 at the minimum: the
    marginal 1-sigma for one parameter with the others profiled out. With no
    error given, the noise variance is the residual ``chi2 / dof``.

    References
    ----------
    M. Guizar-Sicairos, S. T. Thurman and J. R. Fienup, "Efficient subpixel image
    registration algorithms", Opt. Lett. 33, 156-158 (2008).

    Examples
    --------
    >>> from napari_imreg.core.synthetic import make_crop_pair
    >>> reference, moving = make_crop_pair(64, (2.25, -1.5), noise=0.05, seed=0)
    >>> result = register(reference, moving)
    >>> bool(abs(result.shift - (2.25, -1.5)).max() < 5 * result.error.max())
    True
    """
    ref = as_image(reference, "reference")
    mov = as_image(moving, "moving")
    check_same_shape(ref, mov, ("reference", "moving"))
    reference_mask, moving_mask = _split_mask(mask, ref.shape)
    registrar = Registrar._one_off(
        ref,
        reference_error=reference_error,
        reference_mask=reference_mask,
        upsample_factor=upsample_factor,
        boundary=boundary,
        zero_mean=zero_mean,
        max_shift=max_shift,
        prefilter=prefilter,
        threads=threads,
    )
    return registrar.register(mov, error=error, mask=moving_mask)


def apply_shift(
    image,
    shift,
    *,
    boundary: Boundary = "overlap",
    order: int = 3,
    fill_value: float = 0.0,
    threads: int | None = None,
) -> np.ndarray:
    """Resample an image translated by ``shift`` (the content moves by ``+shift``).

    Parameters
    ----------
    image : array_like
        Real image of any dimension; not modified.
    shift : float or sequence of float
        Translation in pixels, numpy axis order; a registration's ``shift``
        applied to the moving image overlays it on the reference.
    boundary : {"overlap", "wrap"}
        ``"wrap"``: exact Fourier shift of a periodic image. ``"overlap"``: spline
        interpolation of order ``order``; pixels that come from outside the image
        are set to ``fill_value``.
    order : int
        Spline order for ``"overlap"`` (0-5).
    fill_value : float
        Value of pixels shifted in from outside (``"overlap"``); NaN is allowed.
    threads : int, optional
        FFT threads for ``"wrap"``.

    Returns
    -------
    numpy.ndarray
        float32 for float32 input, float64 otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros(6)
    >>> image[2] = 1.0
    >>> apply_shift(image, 1, boundary="overlap", order=1)
    array([0., 0., 0., 1., 0., 0.])
    """
    array = as_image(image, "image")
    offsets = check_shift(shift, array.ndim)
    check_choice(boundary, "boundary", BOUNDARIES)
    if isinstance(order, bool) or order not in range(6):
        raise ValueError(f"order must be an integer from 0 to 5, got {order!r}.")
    if array.dtype != np.float32:
        array = array.astype(np.float64)
    if boundary == "wrap":
        return fourier_shift(array, offsets, threads=threads)
    return scipy.ndimage.shift(
        array, offsets, order=order, mode="constant", cval=fill_value, prefilter=order > 1
    )
