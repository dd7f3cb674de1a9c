"""A registration robust to what real pairs differ by, stage by stage (issue 14).

:func:`register_robust` is the prototype of the stages :func:`register` gains: each
stage is a function of its own here, so that the pipeline of issue 12 can take them
one by one.

1. **prepare**: masks from the caller, NaN pixels and saturation
   (:func:`napari_imreg.core._outliers.saturated`).
2. **whole-pixel search** on copies whose outer 1% of values is clipped
   (:func:`napari_imreg.core._outliers.search_copy`), over the chi2 surface with
   the brightness fit profiled out (:class:`ProfiledSurface`).
3. **outliers**: the residual after alignment is clipped at ``threshold`` robust
   sigmas (:func:`napari_imreg.core._outliers.clip_residual`), and the surface made
   again without those pixels; repeated until the clipped set stops changing.
4. **refine**: Newton's method on the profiled surface of the images as given.
5. **errors**: ``2 sigma**2 H^-1 / W`` with ``H`` the Hessian of the profiled mean
   residual (the gain and offset profiled out), ``sigma**2`` the residual over the
   degrees of freedom (pixels kept minus the shift and brightness parameters).

The surface is made of six FFT correlations (:func:`overlap_sums`); the pipeline's
own surface code makes them faster (the separable taper, the binned road) and
filters the images first. This prototype does not filter: its accuracy on binned
scenes is the unfiltered chi2's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.ndimage

from . import _fft
from ._brightness import (
    Jet,
    OverlapSums,
    TiltSums,
    check_brightness,
    fitted_count,
    profiled_residual,
)
from ._chi2 import Series, marginal_errors, outer_product, refine_minimum, whole_pixel_minimum
from ._filter import SHORT_AXIS, SMOOTHING, SMOOTHING_SHORT
from ._outliers import clip_residual, dilate, saturated, search_copy
from ._validation import as_image, check_choice, check_error, check_max_shift, check_same_shape

__all__ = ["ProfiledSurface", "RobustResult", "overlap_sums", "register_robust"]

#: Width in pixels of the raised-cosine taper of the weights in overlap mode.
TAPER_WIDTH = 8
#: Shifts where the images share less than this fraction of the largest weight are
#: not candidates.
MIN_OVERLAP = 0.25
#: The interpolation error allowed in the residual, as a multiple of the difference
#: between the cubic and the linear interpolant of the moving image.
MODEL_ERROR = 3.0
#: The clipping level in robust sigmas of the residual. The MAD measures the noise;
#: images also differ by small systematic mismatches (the interpolation, the blur of
#: a stack's mean, a changed PSF) that are many noise sigmas at high signal-to-noise:
#: at 5 sigmas the blur of a drifting stack's mean was clipped as outliers (0.33 px
#: off, 760 px set aside per frame); at 10 it is kept (0.011 px). Hot pixels and
#: cosmic rays worth removing stand tens of sigmas out.
THRESHOLD = 10.0
#: Residuals below this fraction of the reference's std are never clipped.
ROUND_OFF = 1e-6
#: Outlier pixels the search copies allow for (clipped: at least 1%, at most 5%).
SEARCH_OUTLIERS = 64
#: The filter is skipped where it would keep less than this fraction of the valid pixels.
FILTER_KEEPS = 0.5
#: The fraction of the difference between the unfiltered and the filtered minimum
#: taken as the filter's residual bias (added in quadrature to the error).
FLOOR = 0.5
MODEL_REACH = 1


@dataclass(frozen=True)
class RobustResult:
    """The outcome of :func:`register_robust`.

    Attributes
    ----------
    shift : numpy.ndarray
        Translation (numpy axis order) that registers the moving image onto the
        reference: ``reference(x) ~ scale * moving(x - shift) + offset``.
    error, covariance : numpy.ndarray
        Marginal 1-sigma per axis and covariance of ``shift`` (gain and offset
        profiled out), the noise's and, with ``prefilter``, a floor for the bias
        the filter leaves (``floor``) in quadrature.
    floor : numpy.ndarray
        That floor per axis: ``FLOOR`` times the distance from the filtered to the
        unfiltered minimum (zeros without the filter).
    scale, offset : float
        The fitted brightness relation ``reference ~ scale * moving + offset``
        (1 and 0 where not fitted).
    chi2_min, dof : float
        chi2 at the minimum and its degrees of freedom (pixel weight kept minus the
        shift and brightness parameters).
    noise : float or None
        1-sigma of the residual, estimated from it when no error was given.
    clipped : int
        Pixels set aside by the residual clipping (both images counted).
    saturated : int
        Pixels set aside as saturated (both images counted, grown by one pixel).
    reference_mask, moving_mask : numpy.ndarray of bool
        All the pixels left out of the final chi2 (the caller's masks included).
    brightness, boundary : str
        The options used.
    """

    shift: np.ndarray
    error: np.ndarray
    covariance: np.ndarray
    floor: np.ndarray
    scale: float
    offset: float
    chi2_min: float
    dof: float
    noise: float | None
    clipped: int
    saturated: int
    reference_mask: np.ndarray
    moving_mask: np.ndarray
    brightness: str
    boundary: str


def _taper_profile(n: int, width: int) -> np.ndarray:
    """Raised cosine over ``width`` pixels at each end of an axis, one between."""
    width = max(1, min(width, n // 4))
    ramp = 0.5 * (1.0 - np.cos(np.pi * (np.arange(width) + 0.5) / width))
    profile = np.ones(n)
    profile[:width] = ramp
    profile[n - width :] = ramp[::-1]
    return profile


def overlap_sums(
    reference: np.ndarray,
    moving: np.ndarray,
    reference_weight: np.ndarray,
    moving_weight: np.ndarray,
    padded,
    *,
    threads=None,
    drop_nyquist: bool = False,
    tilt: bool = False,
) -> OverlapSums:
    """The six overlap sums of :mod:`napari_imreg.core._brightness` as series in the shift.

    ``reference_weight`` (``a``) and ``moving_weight`` (``b``) are zero at the pixels
    left out (their image values are then ignored). Each sum is the correlation
    ``corr(f, g)(s) = sum_x f(x) g(x - s)``, spectrum ``F(f) conj(F(g))``, on the
    FFT shape ``padded`` (the images' shape: periodic; larger: zero-padded).
    ``drop_nyquist`` leaves the Nyquist frequency of even axes out of the cross sum
    (periodic images). ``tilt`` adds the sums of a background tilt
    (:class:`napari_imreg.core._brightness.TiltSums`).

    Returns
    -------
    OverlapSums
        Of :class:`napari_imreg.core._chi2.Series`: exact at whole-pixel shifts,
        and their trigonometric interpolant (with its derivatives) between.
    """
    r = np.where(reference_weight > 0, reference, 0.0)
    m = np.where(moving_weight > 0, moving, 0.0)
    a, b = reference_weight, moving_weight
    shape = tuple(int(n) for n in padded)

    def spectrum(x):
        return _fft.rfftn(x, s=shape, threads=threads).copy()

    fa, far, far2 = spectrum(a), spectrum(a * r), spectrum(a * r * r)
    fb, fbm, fbm2 = spectrum(b), spectrum(b * m), spectrum(b * m * m)

    cross = far * np.conj(fbm)
    if drop_nyquist:
        # A sub-pixel shift of a real periodic image cannot be represented at the
        # Nyquist frequency of an even axis: that term of the cross sum would pull
        # the minimum (as in the surface code's ``drop_nyquist``).
        for axis, n in enumerate(shape):
            if n % 2 == 0 and n > 2:
                index = [slice(None)] * len(shape)
                index[axis] = n // 2
                cross[tuple(index)] = 0.0

    def corr(f, g):
        return Series(f * np.conj(g), shape)

    tilt_sums = None
    if tilt:
        # The reference's coordinates, centred and scaled to [-1/2, 1/2].
        grids = np.meshgrid(
            *[(np.arange(n) - (n - 1) / 2) / n for n in reference.shape], indexing="ij"
        )
        fx = [spectrum(a * x) for x in grids]
        pairs = [(i, j) for i in range(len(grids)) for j in range(i, len(grids))]
        tilt_sums = TiltSums(
            x=tuple(corr(f, fb) for f in fx),
            xm=tuple(corr(f, fbm) for f in fx),
            xr=tuple(corr(spectrum(a * x * r), fb) for x in grids),
            xx=tuple(corr(spectrum(a * grids[i] * grids[j]), fb) for i, j in pairs),
        )
    return OverlapSums(
        w=corr(fa, fb),
        r=corr(far, fb),
        m=corr(fa, fbm),
        rr=corr(far2, fb),
        mm=corr(fa, fbm2),
        rm=Series(cross, shape),
        tilt=tilt_sums,
    )


class ProfiledSurface:
    """The mean weighted residual over the overlap, the brightness fit profiled out:
    ``f(s) = min_{g, c} sum w (R - g M' - c)**2 / W``.

    It offers what :func:`napari_imreg.core._chi2.whole_pixel_minimum` and
    :func:`napari_imreg.core._chi2.refine_minimum` ask of a surface (``shape``,
    ``grid``, ``derivatives``, ``weight_at``), so those run on it unchanged.
    """

    def __init__(self, sums: OverlapSums, brightness: str, *, normalised: bool = False):
        self.sums = sums
        self.brightness = brightness
        self.normalised = normalised and brightness.startswith("scale+offset")
        self.shape = sums.w.shape

    def _terms(self):
        s = self.sums
        terms = [s.w, s.r, s.m, s.rr, s.mm, s.rm]
        if s.tilt is not None:
            terms += [*s.tilt.x, *s.tilt.xm, *s.tilt.xr, *s.tilt.xx]
        return terms

    def _sums(self, values) -> OverlapSums:
        """The sums rebuilt from values in the order of ``_terms``."""
        if self.sums.tilt is None:
            return OverlapSums(*values[:6])
        n = len(self.sums.tilt.x)
        rest = values[6:]
        tilt = TiltSums(
            tuple(rest[:n]),
            tuple(rest[n : 2 * n]),
            tuple(rest[2 * n : 3 * n]),
            tuple(rest[3 * n :]),
        )
        return OverlapSums(*values[:6], tilt=tilt)

    def grid(self, threads=None, window=None):
        """The score at every whole-pixel shift (FFT layout, or ``window``) and ``W``."""
        values = [term.grid(threads, window=window) for term in self._terms()]
        values = [np.array(v, dtype=np.float64) for v in values]
        weight = np.broadcast_to(values[0], np.broadcast_shapes(*[np.shape(v) for v in values]))
        fit = profiled_residual(self._sums(values), self.brightness)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.normalised:
                # 1 - rho**2: a flat overlap (rho ~ 0) scores 1, however small its
                # residual, where the mean residual would favour it.
                w, r, rr = values[0], values[1], values[3]
                score = np.array(fit.residual / (rr - r * r / w), dtype=np.float64)
            else:
                score = np.array(fit.residual / weight, dtype=np.float64)
        return score, np.array(weight)

    def values(self, positions) -> np.ndarray:
        """``f`` (or the search score) on the tensor grid of ``positions`` (one array of
        shifts per axis): what the surface code's tapered road asks of a surface, whose
        terms are evaluated by ``tensor`` alone."""
        orders = [(0,)] * len(positions)
        values = [term.tensor(positions, orders) for term in self._terms()]
        fit = profiled_residual(self._sums(values), self.brightness)
        w, r, rr = values[0], values[1], values[3]
        with np.errstate(divide="ignore", invalid="ignore"):
            divisor = rr - r * r / w if self.normalised else w
            return np.where(w > 0, fit.residual / divisor, np.inf)

    def fit_at(self, point):
        """The :class:`~napari_imreg.core._brightness.BrightnessFit` at one shift (floats)."""
        orders = [(0,)] * len(point)
        at = [[p] for p in point]
        values = [float(term.tensor(at, orders).reshape(-1)[0]) for term in self._terms()]
        if not values[0] > 0:
            return profiled_residual(OverlapSums(1.0, 0.0, 0.0, 0.0, 0.0, 0.0), "none"), 0.0
        return profiled_residual(self._sums(values), self.brightness), values[0]

    def derivatives(self, point, *, third: bool = False):
        """Value, gradient and Hessian of ``f`` at one shift (and None: no third
        derivatives, so Newton steps are quadratic)."""
        jets = [Jet(*term.derivatives(point)) for term in self._terms()]
        if not jets[0].value > 0:  # no overlap left there: not a candidate
            ndim = len(point)
            out = (np.inf, np.zeros(ndim), np.zeros((ndim, ndim)))
            return (*out, None) if third else out
        f = profiled_residual(self._sums(jets), self.brightness).residual / jets[0]
        if not isinstance(f, Jet):  # pragma: no cover - a constant surface
            f = Jet.constant(f, len(point))
        out = (f.value, f.grad, f.hess)
        return (*out, None) if third else out

    def weight_at(self, point) -> float:
        return float(self.sums.w.derivatives(point)[0])


def _moved(values: np.ndarray, shift, *, wrap: bool, order: int = 3, fill=0.0) -> np.ndarray:
    """``values(x - shift)`` by a cubic spline (local: an outlier rings over a few
    pixels only, where an FFT shift would spread it along whole rows)."""
    mode = "grid-wrap" if wrap else "constant"
    return scipy.ndimage.shift(values, shift, order=order, mode=mode, cval=fill, prefilter=True)


def _weights(shape, valid: np.ndarray, wrap: bool, variance=None) -> np.ndarray:
    """The weight of each pixel: the taper (overlap mode) where valid, over ``variance``."""
    weight = valid.astype(np.float64)
    if not wrap:
        weight *= outer_product([_taper_profile(n, TAPER_WIDTH) for n in shape])
    if variance is not None:
        weight = weight / variance
    return weight


def _surface(
    reference, moving, ref_weight, mov_weight, padded, brightness, threads, normalised=False
):
    wrap = tuple(padded) == tuple(reference.shape)
    sums = overlap_sums(
        reference,
        moving,
        ref_weight,
        mov_weight,
        padded,
        threads=threads,
        drop_nyquist=wrap,
        tilt=brightness == "scale+offset+tilt",
    )
    return ProfiledSurface(sums, brightness, normalised=normalised)


def register_robust(
    reference,
    moving,
    *,
    error=None,
    reference_error=None,
    mask=None,
    boundary: str = "overlap",
    brightness: str | None = None,
    zero_mean: bool | None = None,
    outliers: bool = True,
    threshold: float = THRESHOLD,
    saturation: bool = True,
    max_shift=None,
    max_iterations: int = 4,
    prefilter: bool = True,
    threads=None,
) -> RobustResult:
    """Measure the shift between two images that also differ by a gain and an offset,
    hot pixels, cosmic rays and saturation.

    Parameters
    ----------
    reference, moving : array_like
        Real images of the same shape, any dimension. NaN pixels are ignored.
    error, reference_error : float or array_like, optional
        1-sigma noise of ``moving`` and ``reference``; with neither, the noise is
        estimated from the residual.
    mask : array_like of bool, or a pair of them, optional
        True marks pixels to ignore (one for both images, or one per image).
    boundary : {"overlap", "wrap"}
        Non-periodic images compared over their overlap, or periodic ones.
    brightness : {"scale+offset", "offset", "none"}, optional
        What is fitted between the images: ``reference ~ scale * moving + offset``,
        an offset only, or nothing. Default ``"scale+offset"``, or what
        ``zero_mean`` says when given (True: ``"offset"``).
    zero_mean : bool, optional
        The older name: True is ``brightness="offset"``, False ``"none"``.
    outliers : bool
        Clip the residual at ``threshold`` robust sigmas, and search on images
        whose top and bottom 1% are clipped (default True).
    threshold : float
        The clipping level, in robust sigmas of the residual (default 10; see
        ``THRESHOLD``).
    saturation : bool
        Leave out pixels at an image's largest value when three or more are.
    max_shift : float or sequence of float, optional
        Largest shift searched per axis (default: a quarter of each axis for
        ``"overlap"``, half for ``"wrap"``).
    max_iterations : int
        Rounds of clipping and refinement at most.
    prefilter : bool
        ``"overlap"`` only: find the shift on both images through the pipeline's
        low-pass filter (:data:`napari_imreg.core._filter.SMOOTHING`), which a
        truncated image's near-Nyquist content would otherwise bias; the errors
        come from the images as given.
    threads : int, optional
        FFT threads.

    Returns
    -------
    RobustResult
        ``shift`` registers ``moving`` onto ``reference``
        (``fourier_shift(moving, shift)`` reproduces it); ``scale`` and ``offset``
        the fitted brightness; ``clipped`` and ``saturated`` the pixels set aside.

    Raises
    ------
    TypeError, ValueError
        For invalid images, errors, masks or options (the message names it).

    Examples
    --------
    >>> from napari_imreg.core import fourier_shift, make_extended
    >>> ref = make_extended(64, seed=1)
    >>> mov = 4.0 * fourier_shift(ref, (1.5, -2.25)) + 10.0  # ref(x) = mov(x - s) / 4 - 2.5
    >>> result = register_robust(ref, mov, boundary="wrap")
    >>> np.round(result.shift, 3), round(result.scale, 3), result.clipped
    (array([-1.5 ,  2.25]), 0.25, 0)
    """
    ref = np.asarray(as_image(reference, "reference"), dtype=np.float64)
    mov = np.asarray(as_image(moving, "moving"), dtype=np.float64)
    check_same_shape(ref, mov, ("reference", "moving"))
    boundary = check_choice(boundary, "boundary", ("overlap", "wrap"))
    brightness = check_brightness(brightness, zero_mean)
    if not (isinstance(threshold, int | float) and threshold > 0):
        raise ValueError(f"threshold must be a positive number of sigmas, got {threshold!r}.")
    wrap = boundary == "wrap"
    shape = ref.shape
    ndim = ref.ndim
    mov_err = check_error(error, shape, "error")
    ref_err = check_error(reference_error, shape, "reference_error")
    limits = check_max_shift(max_shift, shape)
    if limits is None:
        limits = np.array([n / (2 if wrap else 4) for n in shape])

    # Prepare: the pixels each image cannot offer.
    if mask is None:
        ref_mask = mov_mask = np.zeros(shape, dtype=bool)
    elif isinstance(mask, tuple | list) and len(mask) == 2 and np.ndim(mask[0]) == ndim:
        ref_mask, mov_mask = (np.asarray(m, dtype=bool) for m in mask)
    else:
        ref_mask = mov_mask = np.asarray(mask, dtype=bool)
    for name, m in (("mask", ref_mask), ("mask", mov_mask)):
        if m.shape != shape:
            raise ValueError(f"{name} has shape {m.shape} but the images have shape {shape}.")
    ref_mask = ref_mask | ~np.isfinite(ref)
    mov_mask = mov_mask | ~np.isfinite(mov)
    for err, m in ((ref_err, ref_mask), (mov_err, mov_mask)):
        if isinstance(err, np.ndarray):
            m |= ~np.isfinite(err)
    n_saturated = 0
    if saturation:
        ref_sat, mov_sat = (
            saturated(np.where(ref_mask, np.nan, ref)),
            saturated(np.where(mov_mask, np.nan, mov)),
        )
        n_saturated = int(
            np.count_nonzero(ref_sat & ~ref_mask) + np.count_nonzero(mov_sat & ~mov_mask)
        )
        ref_mask, mov_mask = ref_mask | ref_sat, mov_mask | mov_sat
    if ref_mask.all() or mov_mask.all():
        raise ValueError("no valid pixel left in one of the images (masked, NaN or saturated).")

    padded = (
        shape
        if wrap
        else _fft.next_fast_shape(np.asarray(shape) + np.ceil(limits).astype(int) + 1)
    )
    ref_clean = np.where(ref_mask, 0.0, ref)
    mov_clean = np.where(mov_mask, 0.0, mov)

    # Whole-pixel search, on copies whose outliers weigh no more than real features.
    ref_search, mov_search = ref_clean, mov_clean
    extreme = (None, None)
    if outliers:
        # Small images: a few streaks are a larger share of the pixels.
        tail = float(np.clip(SEARCH_OUTLIERS / ref.size, 0.01, 0.05))
        ref_search = search_copy(ref_clean, ~ref_mask, tail=tail)
        mov_search = search_copy(mov_clean, ~mov_mask, tail=tail)
        extreme = (ref_search != ref_clean, mov_search != mov_clean)
    surface = _surface(
        ref_search,
        mov_search,
        _weights(shape, ~ref_mask, wrap),
        _weights(shape, ~mov_mask, wrap),
        padded,
        brightness,
        threads,
        normalised=True,
    )
    start, offset = whole_pixel_minimum(
        surface, limits, min_weight_fraction=MIN_OVERLAP, threads=threads
    )
    shift, *_ = refine_minimum(surface, start, guess=start + offset)

    # Outliers: clip the residual at the current alignment, refine, until stable.
    fit = surface.fit_at(shift)[0]
    clip_ref = np.zeros(shape, dtype=bool)
    clip_mov = np.zeros(shape, dtype=bool)
    ref_var = None if ref_err is None else np.asarray(ref_err, dtype=np.float64) ** 2
    mov_var = None if mov_err is None else np.asarray(mov_err, dtype=np.float64) ** 2
    for iteration in range(max(1, int(max_iterations))):
        if outliers:
            new_ref, new_mov = _clip_outliers(
                ref_clean,
                mov,
                ref_mask,
                mov_mask,
                shift,
                fit,
                wrap=wrap,
                threshold=threshold,
                extreme=extreme,
                levelled=(ref_search, mov_search) if outliers else None,
            )
            # The first round judges with the gain of the search copies, whose tails
            # are levelled: it may clip the cores of real bright features, so the
            # second judges afresh. From then on the set only grows: a pixel once
            # found out stays out, and the rounds cannot cycle.
            if iteration >= 2:
                new_ref |= clip_ref
                new_mov |= clip_mov
            if (
                iteration
                and np.array_equal(new_ref, clip_ref)
                and np.array_equal(new_mov, clip_mov)
            ):
                break
            clip_ref, clip_mov = new_ref, new_mov
        surface, weight_r = _final_surface(
            ref_clean,
            mov_clean,
            ref_mask | clip_ref,
            mov_mask | clip_mov,
            shape,
            padded,
            brightness,
            wrap,
            ref_var,
            mov_var,
            shift,
            threads,
            prefilter=prefilter and not wrap,
        )
        shift, f_min, hessian, positive = refine_minimum(surface, np.round(shift), guess=shift)
        fit, weight = surface.fit_at(shift)
        if not outliers:
            break

    floor = np.zeros(ndim)
    # Errors: from the images as given (the filter correlates the noise between
    # pixels, which the Fisher matrix of independent pixels would not see).
    if prefilter and not wrap:
        surface, weight_r = _final_surface(
            ref_clean,
            mov_clean,
            ref_mask | clip_ref,
            mov_mask | clip_mov,
            shape,
            padded,
            brightness,
            wrap,
            ref_var,
            mov_var,
            shift,
            threads,
            prefilter=False,
        )
        f_min, _, hessian = surface.derivatives(shift)
        fit, weight = surface.fit_at(shift)
        positive = bool(np.all(np.linalg.eigvalsh(0.5 * (hessian + hessian.T)) > 0))
        # The unfiltered minimum is a second measurement, biased by the near-Nyquist
        # content the filter discounts; the filter leaves 20-45% of that bias on 4x4
        # binned scenes, so a fraction of the difference is a floor on the error.
        unfiltered = refine_minimum(surface, np.round(shift), guess=shift)[0]
        floor = FLOOR * np.abs(unfiltered - shift)
    known = ref_err is not None or mov_err is not None
    nfit = ndim + fitted_count(brightness, ndim)
    if known:
        # The weights held 1 / variance: the residual is chi2, and the pixels kept
        # are the weight of the taper and masks alone.
        pixels = float(surface_pixels(weight_r, ~(mov_mask | clip_mov), shape, wrap, shift))
        dof = max(pixels - nfit, 1.0)
        chi2 = f_min * weight
        scale_to_chi2 = weight
        noise = None
    else:
        # The noise from the explicit residual: the surface's own residual, made of
        # interpolated sums, can fall below it (or below zero) where much is masked.
        squares, pixels = _explicit_residual(
            ref_clean, mov, ref_mask | clip_ref, mov_mask | clip_mov, shift, fit, wrap=wrap
        )
        dof = max(pixels - nfit, 1.0)
        noise_var = max(squares / dof, np.finfo(float).tiny)
        chi2 = squares / noise_var
        scale_to_chi2 = weight / noise_var
        noise = float(np.sqrt(noise_var))
    if positive:
        covariance, _ = marginal_errors(hessian * scale_to_chi2)
        covariance = covariance + np.diag(floor**2)
        error_out = np.sqrt(np.diag(covariance))
    else:
        covariance = np.full((ndim, ndim), np.inf)
        error_out = np.full(ndim, np.inf)
    n_clipped = int(np.count_nonzero(clip_ref) + np.count_nonzero(clip_mov))
    return RobustResult(
        shift=np.asarray(shift, dtype=np.float64),
        error=error_out,
        covariance=covariance,
        floor=floor,
        scale=float(fit.scale),
        offset=float(fit.offset),
        chi2_min=float(chi2),
        dof=float(dof),
        noise=noise,
        clipped=n_clipped,
        saturated=n_saturated,
        reference_mask=ref_mask | clip_ref,
        moving_mask=mov_mask | clip_mov,
        brightness=brightness,
        boundary=boundary,
    )


def _clip_outliers(
    ref,
    mov,
    ref_mask,
    mov_mask,
    shift,
    fit,
    *,
    wrap,
    threshold,
    extreme=(None, None),
    levelled=None,
):
    """The pixels of each image whose residual ``R - g M' - c`` at ``shift`` is an
    outlier (:func:`napari_imreg.core._outliers.clip_residual`), as a mask on each
    image's own grid.

    ``extreme`` (one mask per image, or None): the pixels in the outer tails of the
    image's values. Those outside the overlap, which no residual judges, are set
    aside too: at the neighbouring whole-pixel shifts they enter the sums, and the
    interpolant of the sums between those shifts carries them to this one."""
    fill = float(np.median(mov[~mov_mask]))
    filled = np.where(mov_mask, fill, mov)
    moved = _moved(filled, shift, wrap=wrap)
    moved_valid = _moved((~mov_mask).astype(np.float64), shift, wrap=wrap, order=1) > 0.999
    valid = ~ref_mask & moved_valid
    residual = ref - float(fit.scale) * moved - float(fit.offset)
    # What the interpolation can leave at sharp features: the cubic interpolant
    # against the linear one at the same fraction of a pixel, over the neighbouring
    # pixels (an edge moves). Only where both images are sharp: an outlier makes
    # its own image sharp, and must not excuse itself.
    # Judged on the copies whose tails are clipped (``levelled``): there a hot
    # pixel near another image's hot pixel cannot make both look sharp.
    fraction = np.asarray(shift) - np.round(shift)
    ref_level, mov_level = (ref, filled) if levelled is None else levelled
    mov_level = np.where(mov_mask, fill, mov_level)
    sharp_mov = np.abs(
        _moved(mov_level, shift, wrap=wrap) - _moved(mov_level, shift, wrap=wrap, order=1)
    )
    sharp_ref = np.abs(
        _moved(ref_level, fraction, wrap=wrap) - _moved(ref_level, fraction, wrap=wrap, order=1)
    )
    if MODEL_REACH:
        size = 2 * MODEL_REACH + 1
        sharp_mov = scipy.ndimage.maximum_filter(sharp_mov, size=size)
        sharp_ref = scipy.ndimage.maximum_filter(sharp_ref, size=size)
    model_error = MODEL_ERROR * np.minimum(abs(float(fit.scale)) * sharp_mov, sharp_ref)
    # Noiseless images: a residual at round-off is no outlier.
    model_error = np.maximum(model_error, ROUND_OFF * float(np.std(ref[valid])))
    clipped, _sigma = clip_residual(residual, valid, threshold=threshold, model_error=model_error)
    # The same pixels on the moving image's grid (those that reached them).
    back = -np.asarray(shift)
    on_moving = _moved(clipped.astype(np.float64), back, wrap=wrap, order=1) > 0
    on_moving &= ~mov_mask
    ref_extreme, mov_extreme = extreme
    if ref_extreme is not None:
        clipped |= dilate(ref_extreme & ~valid & ~ref_mask, 1)
    if mov_extreme is not None:
        judged = _moved(valid.astype(np.float64), back, wrap=wrap, order=1) > 0
        on_moving |= dilate(mov_extreme & ~judged & ~mov_mask, 1)
    return clipped, on_moving


def _filtered(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``image`` (masked pixels zeroed) through the pipeline's low-pass filter along
    each axis, and the mask grown to every pixel the filter drew from a masked one
    or from outside the image."""
    kernels = [SMOOTHING if n >= SHORT_AXIS else SMOOTHING_SHORT for n in image.shape]
    out = np.where(mask, 0.0, image)
    for axis, kernel in enumerate(kernels):
        out = scipy.ndimage.correlate1d(out, kernel, axis=axis, mode="constant")
    footprint = np.ones(tuple(k.size for k in kernels), dtype=bool)
    valid = scipy.ndimage.binary_erosion(~mask, footprint, border_value=0)
    if np.count_nonzero(valid) < FILTER_KEEPS * np.count_nonzero(~mask):
        # Masked in so many places that the filter would leave too little: unfiltered.
        return np.where(mask, 0.0, image), mask
    return np.where(valid, out, 0.0), ~valid


def _explicit_residual(ref, mov, ref_mask, mov_mask, shift, fit, *, wrap):
    """``sum w (R - g M' - c)**2`` and ``sum w`` over the pixels kept, ``M'`` the moving
    image moved by a cubic spline and ``w`` the taper of both images."""
    fill = float(np.median(mov[~mov_mask]))
    moved = _moved(np.where(mov_mask, fill, mov), shift, wrap=wrap)
    shape = ref.shape
    weight = _weights(shape, ~ref_mask, wrap) * np.clip(
        _moved(_weights(shape, ~mov_mask, wrap), shift, wrap=wrap, order=1), 0.0, None
    )
    residual = np.where(weight > 0, ref - float(fit.scale) * moved - float(fit.offset), 0.0)
    return float(np.sum(weight * residual**2)), float(np.sum(weight))


def _final_surface(
    ref,
    mov,
    ref_mask,
    mov_mask,
    shape,
    padded,
    brightness,
    wrap,
    ref_var,
    mov_var,
    shift,
    threads,
    *,
    prefilter=False,
):
    """The profiled surface of the images as given, without the masked pixels; with
    noise given, the reference's weights hold ``1 / (ref_var + g**2 mov_var)``, the
    moving variance brought to the reference's grid by the current shift."""
    if prefilter:
        ref, ref_mask = _filtered(ref, ref_mask)
        mov, mov_mask = _filtered(mov, mov_mask)
    ref_w = _weights(shape, ~ref_mask, wrap)
    mov_w = _weights(shape, ~mov_mask, wrap)
    if ref_var is None and mov_var is None:
        return _surface(ref, mov, ref_w, mov_w, padded, brightness, threads), ref_w
    # The gain multiplies the moving noise: take it from an unweighted fit first.
    plain = _surface(ref, mov, ref_w, mov_w, padded, brightness, threads)
    gain = float(plain.fit_at(shift)[0].scale)
    total = 0.0 if ref_var is None else ref_var
    if mov_var is not None:
        moved = (
            mov_var
            if np.ndim(mov_var) == 0
            else _moved(mov_var, shift, wrap=wrap, order=1, fill=np.nan)
        )
        total = total + gain**2 * moved
    total = np.broadcast_to(np.where(np.isfinite(total), total, np.inf), shape)
    return _surface(ref, mov, ref_w / total, mov_w, padded, brightness, threads), ref_w


def surface_pixels(ref_weight, mov_valid, shape, wrap, shift) -> float:
    """The taper-and-mask weight of the overlap at ``shift`` (a pixel count)."""
    mov_w = _weights(shape, mov_valid, wrap)
    moved = _moved(mov_w, shift, wrap=wrap, order=1)
    return float(np.sum(ref_weight * moved))
