"""Chi-squared registration: the typed API of napari-imreg.

:func:`register` measures the translation between two images of any dimension,
with a calibrated 1-sigma error per axis. :class:`Registrar` does the same for
many moving images against one reference, preparing the reference once.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.ndimage

from . import _fft
from ._chi2 import (
    Series,
    Surface,
    derivative_power,
    marginal_errors,
    refine_minimum,
    whole_pixel_minimum,
)
from ._validation import (
    as_image,
    check_choice,
    check_error,
    check_max_shift,
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
    "register",
]

logger = logging.getLogger(__name__)

Boundary = Literal["overlap", "wrap"]
BOUNDARIES = ("overlap", "wrap")

#: Samples on each side of the minimum in the returned delta-chi2 map.
MAP_HALF_WIDTH = 7
#: Width, in pixels, of the cosine taper at the edges of the weights (overlap mode).
TAPER_WIDTH = 8


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
        components profiled out: delta-chi2 = 1). ``inf`` when the data cannot
        constrain the shift; ``None`` when the method computes no error.
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


def _taper(n: int, width: int) -> np.ndarray:
    """1 in the middle, a raised-cosine ramp over ``width`` pixels at each end."""
    profile = np.ones(n)
    width = min(width, n // 4)
    if width > 0:
        ramp = 0.5 * (1 - np.cos(np.pi * (np.arange(width) + 0.5) / width))
        profile[:width] = ramp
        profile[n - width :] = ramp[::-1]
    return profile


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
    valid: np.ndarray | None  # None: every pixel valid

    @classmethod
    def prepare(cls, image: np.ndarray, mask, *, zero_mean: bool, name: str) -> _Image:
        data = np.array(image, dtype=np.float64)  # a copy: the caller's array is never touched
        invalid = ~np.isfinite(data)
        if mask is not None:
            invalid |= mask
        if invalid.all():
            raise ValueError(f"{name} has no valid pixel (all NaN, infinite or masked).")
        valid = None
        if invalid.any():
            valid = ~invalid
            data[invalid] = 0.0
        if zero_mean:
            mean = data.mean() if valid is None else data[valid].mean()
            data -= mean
            if valid is not None:
                data[~valid] = 0.0
        return cls(data, valid)

    def is_flat(self) -> bool:
        values = self.data if self.valid is None else self.data[self.valid]
        return bool(np.ptp(values) == 0)


@dataclass
class _Spectra:
    """Spectra of one side's weighted image: F(w X**2), F(w X), F(w) (None: w is 1)."""

    w_x2: np.ndarray
    w_x: np.ndarray
    w: np.ndarray | None
    sum_w_x2: float
    sum_w_x: float
    sum_w: float

    @classmethod
    def of(cls, image: _Image, weight: np.ndarray | None, padded, threads) -> _Spectra:
        x = image.data
        weighted = x if weight is None else weight * x
        spectra = cls(
            w_x2=_fft.rfftn(weighted * x, s=padded, threads=threads),
            w_x=_fft.rfftn(weighted, s=padded, threads=threads),
            w=None if weight is None else _fft.rfftn(weight, s=padded, threads=threads),
            sum_w_x2=float(np.sum(weighted * x)),
            sum_w_x=float(np.sum(weighted)),
            sum_w=float(x.size if weight is None else np.sum(weight)),
        )
        return spectra


def _surface(ref: _Spectra, mov: _Spectra, padded, *, fit_offset: bool) -> Surface:
    """The surface of ``A``, ``W`` and (with ``fit_offset``) ``B`` from both sides' spectra.

    A side whose weight is uniform (``w`` None) contributes constants instead of
    spectra: a correlation with a constant is the constant times the other sum.
    """
    shape = tuple(padded)
    # T1 = corr(a R**2, b), T2 = corr(a R, b M), T3 = corr(a, b M**2); a uniform
    # side turns T1 or T3 into a constant.
    cross = ref.w_x * np.conj(mov.w_x)
    t1 = None if mov.w is None else ref.w_x2 * np.conj(mov.w)
    t3 = None if ref.w is None else ref.w * np.conj(mov.w_x2)
    t1_constant = ref.sum_w_x2 if mov.w is None else 0.0
    t3_constant = mov.sum_w_x2 if ref.w is None else 0.0
    if t1 is None and t3 is None:
        residual = Series(cross, shape, scale=-2.0, constant=t1_constant + t3_constant)
        reference_part = Series(cross, shape, scale=-1.0, constant=t1_constant)
    else:
        spectrum = -2.0 * cross
        for term in (t1, t3):
            if term is not None:
                spectrum += term
        residual = Series(spectrum, shape, constant=t1_constant + t3_constant)
        part = -cross if t1 is None else t1 - cross
        reference_part = Series(part, shape, constant=t1_constant)
    del t1, t3

    if ref.w is None and mov.w is None:
        weight = Series(None, shape, constant=float(np.prod(shape)))
    elif ref.w is None:
        weight = Series(None, shape, constant=mov.sum_w)
    elif mov.w is None:
        weight = Series(None, shape, constant=ref.sum_w)
    else:
        weight = Series(ref.w * np.conj(mov.w), shape)

    offset = None
    if fit_offset and (ref.w is not None or mov.w is not None):
        # B(s) = corr(a R, b) - corr(a, b M); a uniform side gives a constant.
        spectrum, constant = None, 0.0
        if mov.w is None:
            constant += ref.sum_w_x
        else:
            spectrum = ref.w_x * np.conj(mov.w)
        if ref.w is None:
            constant -= mov.sum_w_x
        else:
            term = ref.w * np.conj(mov.w_x)
            spectrum = -term if spectrum is None else spectrum - term
        offset = Series(spectrum, shape, constant=constant)
    return Surface(residual, weight, offset, shape, reference_part)


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
        weights taper smoothly to zero over the outer ``TAPER_WIDTH`` pixels.
        ``"wrap"`` treats both images as periodic (what FFT registration usually
        computes; exact for periodic data, biased for real images).
    zero_mean : bool
        Subtract each image's mean first (a constant background offset between
        the images then does not pull the shift).
    max_shift : float or sequence of float, optional
        Largest shift searched, per axis, in pixels. Default: half of each axis for
        ``"wrap"``, a quarter of each axis for ``"overlap"`` (raise it for larger
        offsets; the padded correlation then grows).
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
        threads: int | None = None,
    ):
        ref = as_image(reference, "reference")
        self.shape = ref.shape
        self.boundary = check_choice(boundary, "boundary", BOUNDARIES)
        self.upsample_factor = check_upsample_factor(upsample_factor)
        self.zero_mean = bool(zero_mean)
        self.threads = threads
        self._reference_error = check_error(reference_error, ref.shape, "reference_error")
        mask = _check_mask(reference_mask, ref.shape, "reference_mask")
        self._reference = _Image.prepare(ref, mask, zero_mean=self.zero_mean, name="reference")
        requested = check_max_shift(max_shift, ref.shape)
        half = np.asarray(ref.shape, dtype=np.float64) / 2
        if self.boundary == "wrap":
            self._limits = half if requested is None else np.minimum(requested, half)
            self._padded = ref.shape
            self._taper = None
        else:
            default = np.maximum(1.0, np.floor(np.asarray(ref.shape) / 4))
            limits = default if requested is None else requested
            self._limits = np.minimum(np.floor(limits), np.asarray(ref.shape) - 1)
            self._padded = _fft.next_fast_shape(
                np.asarray(ref.shape) + self._limits.astype(int) + 2
            )
            self._taper = self._outer([_taper(n, TAPER_WIDTH) for n in ref.shape])
        self._reference_cache: dict = {}

    @staticmethod
    def _outer(profiles) -> np.ndarray:
        out = profiles[0]
        for profile in profiles[1:]:
            out = np.multiply.outer(out, profile)
        return out

    def _base_weight(self, image: _Image) -> np.ndarray | None:
        """Taper times validity; None when every weight is 1 (periodic, nothing masked)."""
        weight = self._taper
        if image.valid is not None:
            weight = image.valid.astype(np.float64) if weight is None else weight * image.valid
        return weight

    def _spectra(self, image: _Image, variance, *, cache_key=None) -> _Spectra:
        if cache_key is not None and cache_key in self._reference_cache:
            return self._reference_cache[cache_key]
        weight = self._base_weight(image)
        if isinstance(variance, np.ndarray):
            inverse = 1.0 / np.where(np.isfinite(variance), variance, np.inf)
            weight = inverse if weight is None else weight * inverse
        spectra = _Spectra.of(image, weight, self._padded, self.threads)
        if cache_key is not None:
            self._reference_cache.clear()  # keep only the latest: bounded memory
            self._reference_cache[cache_key] = spectra
        return spectra

    def register(self, moving, *, error=None, mask=None) -> RegistrationResult:
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

        Returns
        -------
        RegistrationResult
            ``shift`` registers ``moving`` onto the reference (numpy axis order).
        """
        mov = as_image(moving, "moving")
        check_same_shape(self._reference.data, mov, ("reference", "moving"))
        moving_error = check_error(error, mov.shape, "error")
        mask = _check_mask(mask, mov.shape, "mask")
        image = _Image.prepare(mov, mask, zero_mean=self.zero_mean, name="moving")
        if self._reference.is_flat() or image.is_flat():
            return self._no_information()

        ref_err, mov_err = self._reference_error, moving_error
        estimate = ref_err is None and mov_err is None
        scalar_var = sum(float(e) ** 2 for e in (ref_err, mov_err) if isinstance(e, float))
        ref_map = isinstance(ref_err, np.ndarray)
        mov_map = isinstance(mov_err, np.ndarray)
        if ref_map and mov_map:
            # Both noise maps: the variance of the difference lives in two frames.
            # Find the whole-pixel shift first, then carry the moving map into the
            # reference frame, so that one weight holds the total variance.
            ref_spec = self._spectra(self._reference, ref_err**2)
            mov_spec = self._spectra(image, mov_err**2)
            surface = _surface(ref_spec, mov_spec, self._padded, fit_offset=self.zero_mean)
            start, _ = whole_pixel_minimum(
                surface, self._limits, min_weight_fraction=0.25, threads=self.threads
            )
            carried = _move(mov_err**2, start.astype(int), wrap=True)
            ref_spec = self._spectra(self._reference, ref_err**2 + carried)
            mov_spec = self._spectra(image, None)
        elif ref_map:
            extra = mov_err**2 if isinstance(mov_err, float) else 0.0
            ref_spec = self._spectra(self._reference, ref_err**2 + extra, cache_key=("map", extra))
            mov_spec = self._spectra(image, None)
        elif mov_map:
            extra = ref_err**2 if isinstance(ref_err, float) else 0.0
            ref_spec = self._spectra(self._reference, None, cache_key=("plain",))
            mov_spec = self._spectra(image, mov_err**2 + extra)
        else:
            ref_spec = self._spectra(self._reference, None, cache_key=("plain",))
            mov_spec = self._spectra(image, None)

        surface = _surface(ref_spec, mov_spec, self._padded, fit_offset=self.zero_mean)
        del ref_spec, mov_spec
        start, _ = whole_pixel_minimum(
            surface, self._limits, min_weight_fraction=0.25, threads=self.threads
        )
        shift, f_min, hessian, positive = refine_minimum(surface, start)
        weight = surface.weight_at(shift)

        ndim = mov.ndim
        fitted = ndim + (1 if self.zero_mean else 0)
        if estimate or not (ref_map or mov_map):
            pixels = weight
        else:
            # Weights hold 1/variance: convert back to a pixel count.
            variance = (ref_err**2 if ref_map else 0.0) + (mov_err**2 if mov_map else 0.0)
            pixels = weight * float(np.nanmean(variance + scalar_var))
        dof = max(pixels - fitted, 1.0)
        noise = None
        if estimate:
            noise_var = f_min * weight / dof
            noise = float(np.sqrt(max(noise_var, 0.0)))
            scale = weight / noise_var if noise_var > 0 else np.inf
        elif ref_map or mov_map:
            scale = weight
        else:
            scale = weight / scalar_var
        chi2_hessian = hessian * scale
        if estimate:
            # Split the estimated variance of the difference between the images:
            # sum w R (R - M) over sum w (R - M)**2 is the reference's share.
            share = surface.reference_share(shift)
            ref_var, mov_var = noise_var * share, noise_var * (1.0 - share)
        else:
            ref_var = 0.0 if ref_err is None else ref_err**2
            mov_var = 0.0 if mov_err is None else mov_err**2
        coupling = self._noise_coupling(image, ref_var, mov_var, shift)
        extra = 4.0 * coupling * np.diag([derivative_power(n) for n in self._padded])
        if positive and np.all(np.isfinite(chi2_hessian)):
            covariance, sigma = marginal_errors(chi2_hessian, extra)
        else:
            warnings.warn(
                "the chi2 surface is not curved at its minimum: the images do not constrain "
                "the shift, so its error is infinite.",
                RegistrationWarning,
                stacklevel=3,
            )
            covariance = np.full((ndim, ndim), np.inf)
            sigma = np.full(ndim, np.inf)

        factor, coords, delta = self._delta_chi2_map(surface, shift, f_min, scale, sigma)
        logger.debug("registered: shift %s error %s (start %s)", shift, sigma, start)
        return RegistrationResult(
            shift=shift,
            error=sigma,
            covariance=covariance,
            chi2_min=float(f_min * scale),
            dof=float(dof),
            noise=noise,
            upsample_factor=factor,
            delta_chi2=delta,
            delta_chi2_coords=coords,
            boundary=self.boundary,
            method="chi2",
        )

    def _noise_coupling(self, image: _Image, ref_var, mov_var, shift) -> float:
        """``sum_x w(x)**2 v1(x) v2(x - s)`` at the best shift, chi2 weights ``w``.

        When both images are noisy, the noise of the moving image also enters
        the model's gradient; its product with the reference's noise adds score
        variance ``4 * coupling * mean((2 pi k / n)**2)`` per axis, which the chi2
        curvature does not see. It vanishes when either image is noiseless.
        """
        if np.all(np.asarray(ref_var) == 0) or np.all(np.asarray(mov_var) == 0):
            return 0.0
        whole = np.round(shift).astype(int)
        wrap = self.boundary == "wrap"
        ref_weight = self._base_weight(self._reference)
        mov_weight = self._base_weight(image)
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
            stacklevel=3,
        )
        ndim = len(self.shape)
        return RegistrationResult(
            shift=np.zeros(ndim),
            error=np.full(ndim, np.inf),
            covariance=np.full((ndim, ndim), np.inf),
            boundary=self.boundary,
            method="chi2",
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
    registrar = Registrar(
        ref,
        reference_error=reference_error,
        reference_mask=reference_mask,
        upsample_factor=upsample_factor,
        boundary=boundary,
        zero_mean=zero_mean,
        max_shift=max_shift,
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
