"""The errors of the shift: the covariance from the curvature and the noise.

See docs/how-it-works.md, "The error model".
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import _fft
from ._brightness import ProfiledSurface, detrended, fits_tilt
from ._chi2 import Surface, marginal_errors, outer_product
from ._filter import filter_response
from ._fourier import fourier_shift
from ._prepare import (
    INTERIOR_MARGIN,
    TAPER_WIDTH,
    PreparedImage,
    materialize,
    move,
    taper_interior,
)
from ._refine import Fit, geometric_weight_sums
from ._result import warn_registration

#: With no error given, at full filter strength, a noise variance below this fraction
#: of the reference's power is checked against the residual of the interior, whose
#: pixels lie ``INTERIOR_MARGIN`` pixels or more past both tapers.
INTERIOR_SNR = 1e-3


def _score_covariance(engine, surface: Surface, shift, scale, chi2_hessian, ratio) -> np.ndarray:
    """Covariance of the chi2 gradient due to the noise times the signal.

    For white noise it is twice the Hessian. Filtering correlates the noise:
    then it is ``4 / c2`` times the curvature of the correlation of the images
    filtered twice, ``c2`` being the variance factor of the filter.
    """
    # The score sums weight**2 where the curvature sums weight (``ratio``, see
    # :func:`_squared_weight_ratio`): the tapered edges count less in the variance.
    if surface.filtered_cross is None:
        return 2.0 * ratio * chi2_hessian
    if surface.score_ratio is not None:  # noise maps: the unweighted surface's ratio
        score = surface.score_ratio @ chi2_hessian
        return (2.0 / engine._variance_factor) * ratio * (score + score.T)
    weight = surface.weight_at(shift)
    curvature = -surface.filtered_cross.derivatives(shift)[2]
    return (4.0 / engine._variance_factor) * ratio * (scale / weight) * curvature


def _squared_weight_ratio(engine, image: PreparedImage, shift) -> float:
    """``sum t**2 / sum t`` for the geometric weight (see
    :func:`~._refine.geometric_weight_sums`), 1 without a taper; None where the images
    share no weight at ``shift``."""
    if engine._tapers is None:
        return 1.0
    first, second = geometric_weight_sums(engine, image, shift)
    return second / first if first > 0 else None


def _sum_squared_weights(engine, image: PreparedImage, shift) -> float:
    return geometric_weight_sums(engine, image, shift)[1]


def _noise_coupling_covariance(
    engine, surface: Surface, image: PreparedImage, ref_var, mov_var, shift
) -> np.ndarray:
    """Covariance of the chi2 gradient due to the product of both images' noise.

    When both images are noisy, the moving image's noise also enters the
    model's gradient; its product with the reference's noise adds
    ``4 * coupling * kappa / c2**2`` per axis, ``kappa`` the variance of the
    (filtered) derivative of unit white noise. It vanishes when either image
    is noiseless.
    """
    coupling = _noise_coupling(engine, image, ref_var, mov_var, shift)
    if coupling == 0.0:
        return np.zeros((len(engine.shape), len(engine.shape)))
    padded = surface.shape
    means = (
        [float(np.mean(t)) for t in engine._transfer(padded, power=4)]
        if engine._smooth
        else [1.0] * len(engine.shape)
    )
    kappa = []
    for axis, n in enumerate(padded):
        k = np.fft.fftfreq(n, 1 / n)
        h4 = filter_response(k / n, engine._kernels[axis]) ** 4 if engine._smooth else np.ones(n)
        others = np.prod([m for a, m in enumerate(means) if a != axis])
        kappa.append(float(np.mean(h4 * (2 * np.pi * k / n) ** 2)) * others)
    return 4.0 * coupling * np.diag(kappa) / engine._variance_factor**2


def _noise_coupling(engine, image: PreparedImage, ref_var, mov_var, shift) -> float:
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
        return float(_sum_squared_weights(engine, image, shift) * ratio)
    ref_weight = materialize(engine._base_weight(engine._reference), engine.shape, ones=False)
    mov_weight = materialize(engine._base_weight(image), engine.shape, ones=False)
    whole = np.round(shift).astype(int)
    wrap = engine.boundary == "wrap"
    weight = np.ones(engine.shape) if ref_weight is None else ref_weight
    if mov_weight is not None:
        weight = weight * move(mov_weight, whole, wrap=wrap)
    elif not wrap:  # pragma: no cover - overlap weights are never uniform
        weight = weight * move(np.ones(engine.shape), whole, wrap=False)
    moved_var = move(mov_var, whole, wrap=wrap) if np.ndim(mov_var) else mov_var
    total = ref_var + moved_var
    with np.errstate(divide="ignore", invalid="ignore"):
        term = weight**2 * ref_var * moved_var / total**2
    return float(np.nansum(np.broadcast_to(term, engine.shape)))


def _interior_variance(engine, image: PreparedImage, shift, surface=None) -> float | None:
    """The variance of the filtered difference at ``shift``, from the pixels
    ``INTERIOR_MARGIN`` or more past both images' tapers: the moving image, tapered
    and zero-padded, shifted by FFT, against the reference. None when the images
    have invalid pixels or too small an interior.

    At high signal-to-noise the residual of the chi2 surface can fall below the
    noise by the surface's own inconsistency between pixels (its terms are
    interpolated one by one), down to zero. This explicit residual cannot: away
    from the edges the shift is exact but for what leaks in from them, ~1e-3 of
    the images' level on 64-97 px crops, so it errs on the large side there."""
    if engine._tapers is None or image.valid is not None or engine._reference.valid is not None:
        return None
    inside = taper_interior(engine._tapers, shift, INTERIOR_MARGIN)
    if inside is None:
        return None
    reach = np.ceil(np.abs(shift)).astype(int)
    padded = _fft.next_fast_shape(np.asarray(engine.shape) + reach + TAPER_WIDTH)
    tapered = np.zeros(padded)
    tapered[tuple(slice(0, n) for n in engine.shape)] = (
        outer_product([taper.samples() for taper in engine._tapers]) * image.data
    )
    moved = fourier_shift(tapered, shift, threads=engine.threads)
    # The moving image in the reference's units: times the fitted gain.
    moved *= getattr(surface, "gain", 1.0)
    difference = engine._reference.data[inside] - moved[inside]
    if fits_tilt(engine.brightness):  # less its plane, as the fit's background
        difference = detrended(difference)
    elif engine.zero_mean:
        difference -= difference.mean()
    return float(np.mean(difference**2))


@dataclass(frozen=True)
class Errors:
    """The errors of a fit: the covariance and 1-sigma of the shift, the noise, chi2's
    scale, and the factor that keeps delta chi2 = 1 the 1-sigma contour of the map."""

    covariance: np.ndarray
    sigma: np.ndarray
    noise: float | None
    scale: float
    calibration: float


def measure_errors(
    engine, image: PreparedImage, moving_error, fit: Fit, *, noise_var, floor_var: float
) -> Errors:
    """The errors of the shift, from the fit of a prepared moving image with
    information in it (see docs/how-it-works.md, "The errors")."""
    ref_err, mov_err = engine._reference_error, moving_error
    surface, shift, f_min, noise, scale = (
        fit.surface,
        fit.shift,
        fit.f_min,
        fit.noise,
        fit.scale,
    )
    ndim = len(engine.shape)
    unknown = noise is not None
    ref_var = 0.0 if ref_err is None else ref_err**2
    mov_var = 0.0 if mov_err is None else mov_err**2
    if unknown:
        noise_var = noise**2 * engine._variance_factor
        if engine.strength == 1.0 and noise_var < INTERIOR_SNR * fit.reference_power:
            # Near the precision of the interpolated surface: no less than the
            # residual of the interior.
            interior = _interior_variance(engine, image, shift, surface)
            if interior is not None and interior > noise_var:
                noise_var = interior
                noise = float(np.sqrt(noise_var / engine._variance_factor))
                scale = fit.weight / noise_var
        # Split the noise between the images: sum w R (R - M) / sum w (R - M)**2
        # is the reference's share.
        share = surface.reference_share(shift, f_min)
        ref_var, mov_var = noise_var * share, noise_var * (1.0 - share)
    chi2_hessian = fit.hessian * scale

    ratio = None
    if fit.scale_fit == 0:
        # The profiled gain is clipped at 0 (the overlap is anticorrelated): chi2 is
        # the reference's own scatter there, whatever the shift, and its score is 0.
        why = "the images have nothing in common at the minimum (the fitted gain is 0)"
    elif not (fit.positive and np.all(np.isfinite(chi2_hessian))):
        why = (
            "the chi2 surface is not curved at its minimum: the images do not constrain the shift"
        )
    else:
        ratio = _squared_weight_ratio(engine, image, shift)
        why = "the minimum lies where the images no longer overlap"
    if ratio is not None:
        score = _score_covariance(engine, surface, shift, scale, chi2_hessian, ratio)
        score += _noise_coupling_covariance(engine, surface, image, ref_var, mov_var, shift)
        with np.errstate(invalid="ignore"):
            covariance, sigma = marginal_errors(chi2_hessian, score)
        if not np.all(sigma > 0):  # a score of 0 or less: the noise coupling outweighs it
            ratio = None
            why = "the residual holds no information on the shift (nothing in common)"
    if ratio is None:
        warn_registration(f"{why}, so its error is infinite.")
        infinite = np.full((ndim, ndim), np.inf)
        return Errors(infinite, np.full(ndim, np.inf), noise, scale, 1.0)
    # The sub-pixel floor, as noise of variance floor_var added to the
    # difference's (whose mean, in the images' units, is noise_mean).
    noise_mean = noise**2 if unknown else noise_var
    inflation = 1.0 + floor_var / noise_mean if floor_var else 1.0
    covariance = covariance * inflation
    sigma = sigma * np.sqrt(inflation)
    # Rescale the map so that delta chi2 = 1 stays the 1-sigma contour.
    naive = np.diag(2.0 * np.linalg.inv(0.5 * (chi2_hessian + chi2_hessian.T)))
    calibration = float(np.exp(np.mean(np.log(np.diag(covariance) / naive))))
    return Errors(covariance, sigma, noise, scale, calibration)


def undiluted(errors: Errors, fit: Fit, moving_error, reference_error, variance_factor) -> Errors:
    """The errors with the fitted gain's dilution by the moving noise undone.

    The profiled estimate maximises the overlap's correlation, as the offset model
    does, but its curvature carries the diluted gain ``a g_true``: with both images
    noisy its covariance is ``(s_R + a r_M) / (a (s_R + r_M))`` times the truth
    (``s_R`` the reference's noise, ``r_M`` the moving one's in the reference's
    units). With no error given the noise is split in halves, and the factor is
    ``2 / (1 + a)``. ``variance_factor``: the filtered noise's variance per unit raw
    noise variance.
    """
    if not isinstance(fit.surface, ProfiledSurface) or not np.all(np.isfinite(errors.sigma)):
        return errors
    gain = fit.scale_fit
    if gain == 0:  # nothing in common (anticorrelated): no gain to undilute
        return errors
    if errors.noise is not None:
        half = errors.noise**2 * variance_factor / (2.0 * gain**2)
        dilution = 1.0 / (2.0 - fit.surface.dilution(fit.shift, half))
        factor = (1.0 + dilution) / 2.0
    else:
        reference = (
            0.0 if reference_error is None else float(np.nanmean(np.square(reference_error)))
        )
        moving = 0.0 if moving_error is None else float(np.nanmean(np.square(moving_error)))
        dilution = fit.dilution
        spread = gain**2 * moving / dilution**2  # r_M with the true gain
        if not reference + spread > 0:
            return errors
        factor = dilution * (reference + spread) / (reference + dilution * spread)
    return replace(
        errors,
        covariance=errors.covariance * factor,
        sigma=errors.sigma * np.sqrt(factor),
        calibration=errors.calibration * factor,
    )
