"""Registration by the peak of the cross-correlation: DFT upsampling and Taylor refinement.

Two classic estimators, kept for the drop-in layer's ``register_images`` and
``cross_correlation_shifts``, written for any number of dimensions:

* :func:`register_dft` finds the correlation peak on a grid of ``1 / upsample_factor``
  pixel with the matrix-multiply DFT of Guizar-Sicairos et al. (2008);
* :func:`register_taylor` refines the integer peak with second-order Taylor steps
  (Newton's method) on the band-limited correlation, whose derivatives are exact
  Fourier sums rather than finite differences.

Both treat the images as periodic (the correlation is circular) and return the core's
:class:`~napari_imreg.core.RegistrationResult` with the same sign as
:func:`~napari_imreg.core.register`: ``shift`` is the translation that, applied
to `moving`, registers it onto `reference` (numpy axis order).

Errors: with a scalar noise model, the chi-squared of the periodic model is
``chi2(s) = (sum(reference**2) + sum(moving**2) - 2 CC(s)) / sigma**2``, so the
curvature of the correlation at its peak gives the Fisher covariance
``C = sigma**2 * inv(-Hessian(CC))``; ``sigma**2`` is the residual variance at the peak
when no noise is given. The errors are the square roots of the diagonal of ``C``
(Delta chi2 = 1, other axes profiled), like the chi-squared core's.

Those errors hold for images that do wrap. A crop of a larger scene does not: its
opposite edges meet in a seam the circular correlation matches too, and that pulls
the peak by more than the noise does (on 64² binned crops of real scenes, a median of
9 times the curvature's error). With ``errors="residual"`` (the default), a pair of
which neither image is shown to wrap (:func:`~._periodic.is_periodic`: their seams join
like their interior; textures and noisy crops often cannot be told either way) is also
registered by :func:`~._register.register` in the overlap mode, which has no seam, and
the squared difference between the two shifts, less what their noises give it (at most
the sum of their variances: the two weigh the pixels differently), joins the
covariance as a bias (the floor check's witness, ``docs/how-it-works-errors.md``): the
seam's pull, as these images show it, is then inside the error. On 32 binned 64² crops
of real scenes at SNR 30, the truth was beyond 4 sigma of 28 periodic shifts with the
curvature's errors, and of 1 with these.
``errors="fisher"`` keeps the curvature's error alone (as fast as the correlation).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import warnings

import numpy as np

from . import _fft
from ._axis_messages import AXES, AxisValueError
from ._chi2 import Series
from ._options import ERROR_MODELS, ErrorModel
from ._periodic import is_periodic
from ._pipeline_residual import Witness
from ._register import register
from ._result import RegistrationResult, held_warnings
from ._validation import (
    as_image,
    check_choice,
    check_max_shift,
    check_same_shape,
    check_upsample_factor,
)

__all__ = ["register_dft", "register_periodic", "register_taylor"]

#: Samples per pixel of the first pass of :func:`register_dft` for large upsample factors.
COARSE = 10

logger = logging.getLogger(__name__)


def _prepare(reference, moving, zero_mean: bool) -> tuple[np.ndarray, np.ndarray]:
    ref = as_image(reference, "reference")
    mov = as_image(moving, "moving")
    check_same_shape(ref, mov, ("reference", "moving"))
    out = []
    for name, image in (("reference", ref), ("moving", mov)):
        image = np.array(image, dtype=np.float64)
        finite = np.isfinite(image)
        if not finite.all():
            if not finite.any():
                raise ValueError(f"{name} is NaN everywhere; there is nothing to register.")
            logger.info("%s: %d non-finite pixels set to zero", name, int((~finite).sum()))
        if zero_mean:
            image -= image[finite].mean()
        image[~finite] = 0.0
        out.append(image)
    return out[0], out[1]


def _noise_variance(error, reference_error, shape, name: str) -> float | None:
    """The summed variance of the two images' noise, or None to estimate it."""
    total = 0.0
    given = False
    for label, value in ((name, error), ("reference_error", reference_error)):
        if value is None:
            continue
        array = np.asarray(value, dtype=np.float64)
        if array.ndim and array.shape != tuple(shape):
            raise ValueError(
                f"{label} has shape {array.shape} but the images have shape {tuple(shape)}; "
                "pass a scalar 1-sigma noise or a map of the image's shape."
            )
        finite = array[np.isfinite(array)]
        if finite.size == 0 or np.any(finite <= 0):
            raise ValueError(
                f"{label} must be a positive 1-sigma noise (scalar or map), got values down "
                f"to {np.nanmin(array)!r}; use None to estimate it from the data."
            )
        total += float(np.mean(finite**2))
        given = True
    return total if given else None


def _wrap(index: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Circular indices mapped to signed shifts in [-n/2, n/2)."""
    n = np.asarray(shape)
    return (np.asarray(index) + n // 2) % n - n // 2


def _cross_power(ref: np.ndarray, mov: np.ndarray, threads: int | None) -> tuple[Series, float]:
    """The correlation ``CC`` as a band-limited series, without the Nyquist terms.

    ``CC`` is the inverse DFT of ``F(ref) conj(F(mov))`` (half-spectrum layout). A sub-pixel
    translation cannot be represented at the Nyquist frequency of an even axis (its
    phase is ambiguous), so that term would pull the peak; dropping it costs one frequency
    out of ``n``. Also returns ``sum(ref**2) + sum(mov**2)`` over the same frequencies
    (Parseval), so that the residual at the peak is consistent.
    """
    ref_ft = _fft.rfftn(ref, threads=threads)
    mov_ft = _fft.rfftn(mov, threads=threads)
    keep = np.ones(ref_ft.shape, dtype=bool)
    for axis, n in enumerate(ref.shape):
        if n % 2 == 0 and n > 2:
            index = [slice(None)] * ref.ndim
            index[axis] = n // 2
            keep[tuple(index)] = False
    # each stored frequency of the last axis stands for itself and its conjugate
    last = ref.shape[-1]
    counts = np.full(ref_ft.shape[-1], 2.0)
    counts[0] = 1.0
    if last % 2 == 0:
        counts[-1] = 1.0
    power = (np.abs(ref_ft) ** 2 + np.abs(mov_ft) ** 2) * counts
    energy = float(np.sum(power[keep])) / ref.size
    cross = np.where(keep, ref_ft * np.conj(mov_ft), 0.0)
    return Series(cross, tuple(ref.shape)), energy


def _wrap_shift(shift: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A periodic shift mapped into [-n/2, n/2) per axis."""
    n = np.asarray(shape, dtype=np.float64)
    return (shift + n / 2) % n - n / 2


def _integer_peak(correlation: np.ndarray, max_shift: np.ndarray | None) -> np.ndarray:
    values = correlation
    if max_shift is not None:
        values = correlation.copy()
        for axis, (n, limit) in enumerate(zip(correlation.shape, max_shift, strict=True)):
            shifts = np.abs(_wrap(np.arange(n), (n,)))
            outside = shifts > limit
            if outside.all():
                raise AxisValueError(
                    f"max_shift={limit!r} excludes every shift along {AXES}.", [axis]
                )
            index = [np.newaxis] * correlation.ndim
            index[axis] = slice(None)
            values = np.where(outside[tuple(index)], -np.inf, values)
    peak = np.unravel_index(int(np.argmax(values)), values.shape)
    return _wrap(np.array(peak), correlation.shape).astype(np.float64)


def _covariance(
    hessian: np.ndarray, peak_value: float, energy: float, size: int, noise_var: float | None
) -> tuple[np.ndarray | None, float | None, float | None]:
    """Fisher covariance of the peak position; also the noise and chi2 at the peak."""
    ndim = hessian.shape[0]
    residual = max(energy - 2.0 * peak_value, 0.0)
    dof = size - ndim
    estimated = noise_var is None
    variance = residual / max(dof, 1) if estimated else noise_var
    curvature = -hessian
    try:
        eigenvalues = np.linalg.eigvalsh(curvature)
    except np.linalg.LinAlgError:  # pragma: no cover - non-finite input already rejected
        return None, None, None
    if eigenvalues.min() <= 0:
        return None, math.sqrt(variance), None
    covariance = variance * np.linalg.inv(curvature)
    chi2_min = residual / variance if variance > 0 else None
    return covariance, math.sqrt(variance), chi2_min


def _seam_widened(reference, moving, shift, covariance, errors: str, threads):
    """``covariance`` of the periodic ``shift``, widened by the seam's pull when
    ``errors`` is "residual" and neither image is shown to wrap (see the module
    docstring): one shown to wrap makes the other, a shifted copy, wrap too."""
    if covariance is None or errors == "fisher":
        return covariance
    if is_periodic(np.asarray(reference)) or is_periodic(np.asarray(moving)):
        return covariance
    shape = np.asarray(np.shape(reference))
    reach = np.minimum(np.ceil(np.abs(shift)) + 2, np.maximum(shape // 2 - 1, 1))
    with held_warnings():  # its verdicts are about the overlap mode, not this answer
        overlap = register(reference, moving, boundary="overlap", max_shift=reach, threads=threads)
    if not overlap.measured:
        # No seam-free answer to compare with (too little overlap at this shift, or
        # no signal): the curvature's error stands, as for the reference package.
        return covariance
    # The overlap shift on the periodic shift's side of each period. The two estimates
    # weigh the pixels differently (taper, filter), so their noises are not nested: the
    # noise of their difference is bounded by the sum of their variances.
    near = np.asarray(shift) - _wrap_shift(np.asarray(shift) - np.asarray(overlap.shift), shape)
    witness = Witness.of(shift, covariance, near, overlap.covariance)
    return covariance + witness.bias(independent=True)


def register_periodic(reference, moving, *, threads=None, **options) -> RegistrationResult:
    """:func:`~._register.register` with ``boundary="wrap"``, whose errors, with
    ``errors="residual"`` (the default), also hold the pull of the images' seams when
    neither image is shown to wrap (see the module docstring): the periodic chi2 of a
    crop, whose opposite edges do not meet, matches its seams too (on binned 64² crops
    of real scenes, pull rms 3.4-4.4 and 1 pair in 7 beyond 4 sigma with the periodic
    model's errors alone; 0.96-1.04 and none with the seams' pull held).

    Parameters
    ----------
    reference, moving : array_like
        The images, same shape.
    threads : int, optional
        FFT threads.
    **options
        :func:`~._register.register`'s other keywords (not ``boundary``).

    Returns
    -------
    RegistrationResult
        :func:`~._register.register`'s result, its ``error`` and ``covariance`` widened
        when the seams pull.

    Examples
    --------
    >>> from napari_imreg.core import make_extended, make_shifted
    >>> image = make_extended(64, seed=1)
    >>> result = register_periodic(image, make_shifted(image, (2.5, -1.25), noise=0.01, seed=2))
    >>> bool(abs(result.shift - (2.5, -1.25)).max() < 4 * result.error.max())
    True
    """
    result = register(reference, moving, boundary="wrap", threads=threads, **options)
    if not result.measured:
        return result
    errors = options.get("errors", "residual")
    covariance = _seam_widened(reference, moving, result.shift, result.covariance, errors, threads)
    if covariance is result.covariance:
        return result
    return dataclasses.replace(result, covariance=covariance, error=np.sqrt(np.diag(covariance)))


def register_dft(
    reference,
    moving,
    *,
    upsample_factor: int = 1,
    zero_mean: bool = True,
    max_shift=None,
    error=None,
    reference_error=None,
    errors: ErrorModel = "residual",
    threads: int | None = None,
):
    """Register by the cross-correlation peak, upsampled with a matrix-multiply DFT.

    Parameters
    ----------
    reference, moving : array_like
        Real images of the same shape, any number of dimensions, treated as periodic.
        NaNs count as zero (after the mean is removed).
    upsample_factor : int, keyword-only
        The peak is located on a grid of ``1 / upsample_factor`` pixel; 1 gives the
        integer peak.
    zero_mean : bool, keyword-only
        Subtract each image's mean first (otherwise a bright background pulls the peak
        to zero shift).
    max_shift : float or sequence of float, optional, keyword-only
        Only integer peaks within this many pixels (per axis) of zero shift are
        considered.
    error, reference_error : float or array_like, optional, keyword-only
        1-sigma noise of `moving` and `reference` (a map is reduced to its RMS). If both
        are None the noise is estimated from the residual at the peak.
    errors : {"residual", "fisher"}, keyword-only
        ``"residual"`` (default): for images not shown to wrap, the error also holds
        the seam's pull on the periodic peak, measured against :func:`register` in the
        overlap mode (see the module docstring; it costs that registration more);
        ``"fisher"``: the peak's curvature alone.
    threads : int, optional, keyword-only
        FFT threads (default: the core's choice by size).

    Returns
    -------
    RegistrationResult
        ``shift`` (numpy order; ``fourier_shift(moving, shift)`` matches `reference`),
        ``error`` and ``covariance`` from the curvature of the correlation peak plus
        the rounding to the grid (variance ``1 / (12 upsample_factor**2)``; None if the
        peak is not a proper maximum), ``noise``, ``chi2_min``, ``dof``,
        ``upsample_factor``; ``delta_chi2`` holds the upsampled window around the peak as
        Delta chi2 and ``delta_chi2_coords`` the shift of each of its samples.
        ``method`` is ``"dft"``, ``boundary`` is ``"wrap"``.

    Raises
    ------
    ValueError, TypeError
        For images of different shapes, non-numeric data, an invalid upsample factor or
        a `max_shift` that excludes every shift.

    Notes
    -----
    The cross-correlation ``CC(t) = sum_x reference(x + t) moving(x)`` is the inverse
    DFT of ``R = F(reference) conj(F(moving))``. Its integer peak comes from an inverse
    FFT; around it, ``CC`` is evaluated on a window of ``1.5`` pixel sampled at
    ``1 / upsample_factor`` by the separable matrix-multiply DFT, and the highest
    sample is the shift (for factors above 10, first at ``1/10`` pixel, then at the final
    step within ``1/10`` pixel of the best coarse sample: the same answer from far fewer
    samples). A moving image equal to the reference translated by ``d``
    peaks at ``t = -d``, which is the registration shift.

    References
    ----------
    M. Guizar-Sicairos, S. T. Thurman and J. R. Fienup, "Efficient subpixel image
    registration algorithms", Opt. Lett. 33, 156-158 (2008).

    Examples
    --------
    >>> from napari_imreg.core import make_extended, make_shifted
    >>> image = make_extended(64, seed=0)
    >>> moving = make_shifted(image, (1.25, -3.5))
    >>> register_dft(image, moving, upsample_factor=20).shift.tolist()
    [1.25, -3.5]
    """
    check_choice(errors, "errors", ERROR_MODELS)
    factor = check_upsample_factor(upsample_factor)
    if factor == "auto":
        raise ValueError(
            "register_dft needs an integer upsample_factor (e.g. 100); 'auto' is a "
            "feature of the chi-squared register()."
        )
    ref, mov = _prepare(reference, moving, zero_mean)
    limits = check_max_shift(max_shift, ref.shape)
    noise_var = _noise_variance(error, reference_error, ref.shape, "error")
    series, energy = _cross_power(ref, mov, threads)
    correlation = series.grid(threads)
    peak = _integer_peak(correlation, limits)
    window = None
    coords = None
    if factor > 1:
        # coarse pass over +-0.75 px at 1/COARSE px, then the fine grid around its best
        # sample (the same answer as one fine window, for a fraction of the samples)
        stages = (
            [(min(factor, COARSE), 0.75), (factor, 1.0 / COARSE)]
            if factor > COARSE
            else [(factor, 0.75)]
        )
        for step, reach in stages:
            centre = np.round(peak * step) / step
            half = math.ceil(reach * step)
            size = 2 * half + 1
            start = centre - half / step
            window = series.tensor(
                [s0 + np.arange(size) / step for s0 in start], [(0,)] * ref.ndim
            )
            best = np.array(np.unravel_index(int(np.argmax(window)), window.shape))
            peak = start + best / step
        coords = tuple(s + np.arange(size) / factor for s in start)
    value, _, hessian = series.derivatives(peak)
    covariance, noise, chi2_min = _covariance(hessian, value, energy, ref.size, noise_var)
    if covariance is not None:
        # the answer is rounded to the 1/upsample_factor grid: a uniform error of that width
        covariance = covariance + np.eye(ref.ndim) / (12.0 * factor**2)
    shift = _wrap_shift(np.round(peak * factor) / factor, ref.shape)
    covariance = _seam_widened(reference, moving, shift, covariance, errors, threads)
    delta = None
    if window is not None and noise:
        delta = 2.0 * (window.max() - window) / noise**2
    return RegistrationResult(
        shift=shift,
        error=None if covariance is None else tuple(np.sqrt(np.diag(covariance)).tolist()),
        covariance=covariance,
        chi2_min=chi2_min,
        dof=ref.size - ref.ndim,
        noise=None if noise_var is not None else noise,
        upsample_factor=factor,
        delta_chi2=delta,
        delta_chi2_coords=coords if delta is not None else None,
        boundary="wrap",
        method="dft",
    )


def register_taylor(
    reference,
    moving,
    *,
    zero_mean: bool = True,
    max_shift=None,
    error=None,
    reference_error=None,
    max_iterations: int = 10,
    tolerance: float = 1e-6,
    errors: ErrorModel = "residual",
    threads: int | None = None,
):
    """Register by the cross-correlation peak refined with second-order Taylor steps.

    Parameters
    ----------
    reference, moving : array_like
        Real images of the same shape, any number of dimensions, treated as periodic.
        NaNs count as zero (after the mean is removed).
    zero_mean : bool, keyword-only
        Subtract each image's mean first.
    max_shift : float or sequence of float, optional, keyword-only
        Only integer peaks within this many pixels (per axis) of zero shift are
        considered.
    error, reference_error : float or array_like, optional, keyword-only
        1-sigma noise of `moving` and `reference` (a map is reduced to its RMS). If both
        are None the noise is estimated from the residual at the peak.
    max_iterations : int, keyword-only
        The most Taylor (Newton) steps taken; 1 gives the classic single step from the
        integer peak.
    tolerance : float, keyword-only
        Stop when a step is shorter than this, in pixels.
    errors : {"residual", "fisher"}, keyword-only
        ``"residual"`` (default): for images not shown to wrap, the error also holds
        the seam's pull on the periodic peak, measured against :func:`register` in the
        overlap mode (see the module docstring; it costs that registration more);
        ``"fisher"``: the peak's curvature alone.
    threads : int, optional, keyword-only
        FFT threads (default: the core's choice by size).

    Returns
    -------
    RegistrationResult
        ``shift`` (numpy order; ``fourier_shift(moving, shift)`` matches `reference`),
        ``error``, ``covariance``, ``noise``, ``chi2_min`` and ``dof`` as for
        :func:`register_dft`; ``upsample_factor``, ``delta_chi2`` and
        ``delta_chi2_coords`` are None. ``method`` is ``"taylor"``, ``boundary`` is
        ``"wrap"``.

    Raises
    ------
    ValueError, TypeError
        For images of different shapes, non-numeric data or a `max_shift` that excludes
        every shift.

    Warns
    -----
    RuntimeWarning
        If the correlation is not curved like a maximum at the integer peak (flat or
        saddle-shaped); the integer peak is returned, without errors.

    Notes
    -----
    Around a point ``t``, ``CC(t + d) ~ CC(t) + g . d + d . H d / 2`` with the gradient
    ``g`` and Hessian ``H`` of the band-limited correlation, evaluated exactly as
    Fourier sums of ``(2 pi i k / n) R``. The maximum of this quadratic is at
    ``d = -inv(H) g``. Starting from the integer peak, the step is repeated at the new
    point until it is shorter than `tolerance`. Exact derivatives and the repeated step
    remove the bias of a single finite-difference step (tens of milli-pixels on
    extended emission), and the periodic correlation has no edge on which the peak
    could fall.

    References
    ----------
    B. T. Welsch et al., "Tests and comparisons of velocity-inversion techniques",
    ApJ 670, 1434 (2007) (cross-correlation with Taylor refinement).

    Examples
    --------
    >>> from napari_imreg.core import make_extended, make_shifted
    >>> image = make_extended(64, seed=0)
    >>> moving = make_shifted(image, (1.3, -2.6))
    >>> np.round(register_taylor(image, moving).shift, 6).tolist()
    [1.3, -2.6]
    """
    if isinstance(max_iterations, bool) or int(max_iterations) != max_iterations:
        raise TypeError(f"max_iterations must be an integer >= 1, got {max_iterations!r}.")
    if max_iterations < 1:
        raise ValueError(f"max_iterations must be >= 1, got {max_iterations!r}.")
    if not tolerance > 0:
        raise ValueError(f"tolerance must be a positive number of pixels, got {tolerance!r}.")
    check_choice(errors, "errors", ERROR_MODELS)
    ref, mov = _prepare(reference, moving, zero_mean)
    limits = check_max_shift(max_shift, ref.shape)
    noise_var = _noise_variance(error, reference_error, ref.shape, "error")
    series, energy = _cross_power(ref, mov, threads)
    start = _integer_peak(series.grid(threads), limits)
    point = start.copy()
    value, gradient, hessian = series.derivatives(point)
    if np.linalg.eigvalsh(-hessian).min() <= 0:
        warnings.warn(
            f"the cross-correlation is not curved like a maximum at shift "
            f"{tuple(start.tolist())}; returning the integer peak without errors. "
            "The images may be flat or unrelated.",
            RuntimeWarning,
            stacklevel=2,
        )
    else:
        for _ in range(int(max_iterations)):
            step = -np.linalg.solve(hessian, gradient)
            # backtracking: accept the longest fraction of the step that stays within a
            # pixel of the integer peak, raises the correlation and keeps it concave
            fraction = 1.0
            while fraction > 1e-3:
                candidate = point + fraction * step
                if np.all(np.abs(candidate - start) <= 1.0):
                    trial = series.derivatives(candidate)
                    if trial[0] >= value and np.linalg.eigvalsh(-trial[2]).min() > 0:
                        break
                fraction /= 2.0
            else:
                logger.info("Taylor step found no higher correlation; stopping at %s", point)
                break
            point = candidate
            value, gradient, hessian = trial
            if np.max(np.abs(fraction * step)) < tolerance:
                break
    covariance, noise, chi2_min = _covariance(hessian, value, energy, ref.size, noise_var)
    shift = _wrap_shift(point, ref.shape)
    covariance = _seam_widened(reference, moving, shift, covariance, errors, threads)
    return RegistrationResult(
        shift=shift,
        error=None if covariance is None else tuple(np.sqrt(np.diag(covariance)).tolist()),
        covariance=covariance,
        chi2_min=chi2_min,
        dof=ref.size - ref.ndim,
        noise=None if noise_var is not None else noise,
        boundary="wrap",
        method="taylor",
    )
