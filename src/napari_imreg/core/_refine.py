"""The continuous minimum of the chi2 surface, and the chi2 scale and dof there."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._brightness import ProfiledSurface, fitted_count
from ._chi2 import Surface, refine_minimum
from ._image_fit import pixel_noise
from ._prepare import PreparedImage, materialize, move, taper_interior
from ._surface_binned import (
    binned_estimate,
    binned_road,
    masked_surface,
    tapered_road,
    tapered_surface,
)
from ._surface_spectral import spectral_surface

#: Pixels per axis of the central window an image's noise is read from when no
#: error is given (the fitted gain's noise ratio): 2**16 of them in a plane.
DETAIL_WINDOW = 256


@dataclass
class Fit:
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
    scale_fit: float | None = None  # the fitted brightness: reference ~ scale * moving + offset
    offset_fit: float | None = None
    tilt_fit: tuple | None = None  # the fitted background's slope per pixel, per axis
    dilution: float = 1.0  # the fitted gain over the true one (the moving noise's share)
    #: The whole-pixel estimate from the binned images that the surface was searched
    #: near (None off the large-image road).
    estimate: np.ndarray | None = None


def fit_minimum(engine, image: PreparedImage, moving_error, *, estimate) -> Fit:
    """The minimum of chi2, and what the errors need from it."""
    ref_err, mov_err = engine._reference_error, moving_error
    unknown = ref_err is None and mov_err is None
    ref_map = isinstance(ref_err, np.ndarray)
    mov_map = isinstance(mov_err, np.ndarray)
    ref_var = 0.0 if ref_err is None else ref_err**2
    mov_var = 0.0 if mov_err is None else mov_err**2
    if tapered_road(engine, image.valid is None, noise_maps=ref_map or mov_map):
        if estimate is None:
            estimate = binned_estimate(engine, image.source)
        surface, start, guess, reference_power = tapered_surface(
            engine, image, estimate, split_noise=unknown
        )
    elif binned_road(engine):
        # A masked pair's estimate reads both images' valid pixels as the filter
        # leaves them: one made at another strength holds only if this one filters
        # too (the unfiltered strength 0 keeps the pixels a filter would lose). An
        # unmasked (thin) pair's is the same at every strength.
        unmasked = image.valid is None and engine._reference_complete
        if estimate is None or not (unmasked or engine._smooth):
            estimate = binned_estimate(engine, image.source, image.valid)
        surface, start, guess, reference_power = masked_surface(
            engine, image, estimate, ref_var, mov_var, split_noise=unknown
        )
    else:
        surface, start, guess, reference_power = spectral_surface(
            engine, image, ref_var, mov_var, split_noise=unknown
        )
    point = start if guess is None else guess
    _weigh_noise(engine, surface, image, point, ref_var, mov_var, unknown)
    shift, f_min, hessian, positive = refine_minimum(surface, start, guess=guess)
    if isinstance(surface, ProfiledSurface) and surface.noise is not None:
        # The errors-in-variables gain placed the minimum. Chi2, the gain and the
        # errors are read from least squares there, as every later stage takes them.
        surface.noise = None
        f_min, _, hessian = surface.derivatives(shift)
        positive = bool(np.all(np.linalg.eigvalsh(0.5 * (hessian + hessian.T)) > 0))
    gain, offset, tilt = _brightness_at(engine, surface, shift)
    if surface.noise_overlap is not None:
        # chi2 holds the noise that the surface compared without (noise maps): its
        # share at the minimum is added back.
        f_min += float(surface.noise_overlap.derivatives(shift)[0]) / surface.weight_at(shift)
    weight = surface.weight_at(shift)
    # The moving image's noise in the reference's units (a noise map's weights
    # already hold it: see ``spectral_surface``).
    dilution = gain_dilution(engine, surface, shift, mov_var)
    mov_var = mov_var * gain**2 / dilution

    # chi2 = f * W * scale, in units where the filtered noise has unit variance.
    ndim = len(engine.shape)
    fitted = ndim + fitted_count(engine.brightness, ndim)
    filtered = engine._variance_factor
    if unknown or not (ref_map or mov_map):
        pixels = weight
        if engine.boundary == "wrap" and surface.weight.is_constant:
            # The Nyquist frequencies left out of the comparison carry no residual.
            kept = np.prod([1 - 1 / n for n in engine.shape if n % 2 == 0 and n > 2])
            pixels = weight * kept
    else:
        # The weights hold 1 / variance, so each pixel's term has unit expectation:
        # the count is the pixels' geometric weight (taper and validity). Their sum
        # times the mean variance would count a quiet, flat region many times over.
        pixels = geometric_weight_sums(engine, image, shift)[0]
    dof = max(pixels - fitted, 1.0)
    noise = None
    if unknown:
        level = f_min
        if f_min <= 0 and _unchecked(engine, image, shift):
            # chi2 cannot be negative: the interpolated minimum dipped below zero,
            # and no interior residual can check it (see ``_errors``). The sampled
            # whole-pixel minimum is an upper bound on the noise: errors too large
            # rather than 1e-5 px (masked pairs; 8 x 120 real pairs, 40x too small).
            level = float(surface.derivatives(np.asarray(start, dtype=np.float64))[0])
        noise_var = max(level * weight / dof, 1e-24 * reference_power)
        noise = float(np.sqrt(noise_var / filtered))
        scale = weight / noise_var
    elif ref_map or mov_map:
        scale = weight
    else:
        scale = weight / (filtered * (ref_var + mov_var))
    return Fit(
        surface,
        shift,
        f_min,
        hessian,
        positive,
        weight,
        dof,
        noise,
        scale,
        reference_power,
        gain if engine.brightness != "none" else None,
        offset,
        tilt,
        dilution,
        estimate,
    )


def _weigh_noise(engine, surface, image: PreparedImage, point, ref_var, mov_var, unknown) -> None:
    """Have a profiled surface fit its gain with both images' noise (errors in
    variables, :meth:`ProfiledSurface.weigh_noise`), each variance as compared.

    The noises are the scalar errors given or, with none given, each image's read
    from its finest detail (failing that, a flat half of an image, each is taken as
    noisy for its power over the overlap at ``point``). What the model cannot fit
    (a change of blur, the sub-pixel floor) is the residual beyond the noise at
    ``point``: it is taken as the reference's, so that a misfit leaves the gain to
    least squares, which do not read it as the images' noise.
    """
    if not isinstance(surface, ProfiledSurface) or not (unknown or np.any(mov_var)):
        return
    filtered, pixels = engine._variance_factor, surface.weight_at(point)
    if unknown:
        source = image.source if image.source is not None else image.data
        noise = (engine._reference_detail * filtered, detail_variance(source) * filtered)
        if not min(noise) > 0:
            spreads = surface.spreads(point)
            if spreads is not None:
                surface.weigh_noise(*spreads)
            return
    elif np.ndim(ref_var) or np.ndim(mov_var):
        # Noise maps: the sums are weighted by 1 / (v_R + g0**2 v_M); each noise is its
        # map's mean share of that (they sum to 1 at g0), per geometric pixel.
        g2 = surface.weights_gain**2
        with np.errstate(divide="ignore", invalid="ignore"):
            shares = [v / (ref_var + g2 * mov_var) for v in (ref_var, mov_var)]
        noise = tuple(float(np.nanmean(np.broadcast_to(v, engine.shape))) for v in shares)
        pixels = geometric_weight_sums(engine, image, point)[0]
    else:
        noise = (ref_var * filtered, mov_var * filtered)
    fit = surface.fit_at(point)  # least squares
    if pixels > 0 and fit.scale > 0:
        # The residual's noise at the least-squares gain g = a g_true: s_R + g**2 s_M / a
        # (the dilution of a noise s_M per one of the ``pixels``).
        dilution = surface.dilution(point, noise[1] * pixels / surface.weight_at(point))
        expected = noise[0] + fit.scale**2 * noise[1] / dilution
        noise = (noise[0] + max(fit.residual / pixels - expected, 0.0), noise[1])
    surface.weigh_noise(*noise)


def detail_variance(data: np.ndarray) -> float:
    """The white-noise variance of an image, from the finest detail of its central
    ``DETAIL_WINDOW`` pixels per axis (:func:`~._image_fit.pixel_noise`, an upper
    bound that texture raises); 0 where that is not finite."""
    window = tuple(
        slice(max(n - DETAIL_WINDOW, 0) // 2, max(n - DETAIL_WINDOW, 0) // 2 + DETAIL_WINDOW)
        for n in data.shape
    )
    variance = pixel_noise(data[window]) ** 2
    return variance if np.isfinite(variance) else 0.0


def geometric_weight_sums(engine, image: PreparedImage, shift) -> tuple[float, float]:
    """``sum t`` and ``sum t**2`` for the geometric weight ``t(x) = a(x) b(x - s)``
    (taper and validity, no noise), at the whole pixel nearest ``shift``."""
    whole = np.round(shift).astype(int)
    wrap = engine.boundary == "wrap"
    ref_weight = engine._base_weight(engine._reference)
    mov_weight = engine._base_weight(image)
    if ref_weight is None and mov_weight is None:  # periodic, nothing masked: all ones
        count = float(np.prod(engine.shape))
        return count, count
    if isinstance(ref_weight, list) and isinstance(mov_weight, list):
        first, second = 1.0, 1.0
        for a, b, k in zip(ref_weight, mov_weight, whole, strict=True):
            t = a * move(b, [k], wrap=wrap)
            first *= float(np.sum(t))
            second *= float(np.sum(t**2))
        return first, second
    a = materialize(ref_weight, engine.shape)
    t = a * move(materialize(mov_weight, engine.shape), whole, wrap=wrap)
    return float(np.sum(t)), float(np.sum(t**2))


def _unchecked(engine, image: PreparedImage, shift) -> bool:
    """Whether no interior residual can check a noise estimated from the surface
    (``_errors._interior_variance``): a masked image, or tapers that leave no
    interior (a thin image's short axis); the periodic mode has no tapers."""
    if image.valid is not None or engine._reference.valid is not None:
        return True
    return engine._tapers is not None and taper_interior(engine._tapers, shift) is None


def _brightness_at(engine, surface, shift) -> tuple[float, float | None, tuple | None]:
    """The fitted gain, offset and tilt at ``shift`` (gain 1 when none is fitted;
    offset and tilt None when not fitted); the profiled surface keeps the gain for
    the errors."""
    if isinstance(surface, ProfiledSurface):
        fit = surface.fit_at(shift)
        surface.gain = float(fit.scale)
        return float(fit.scale), float(fit.offset), fit.tilt
    if engine.brightness == "offset" and surface.offset is not None:
        at = [[p] for p in shift]
        orders = [(0,)] * len(shift)
        total = float(surface.offset.tensor(at, orders).reshape(-1)[0])
        return 1.0, total / surface.weight_at(shift), None
    return 1.0, (0.0 if engine.brightness == "offset" else None), None


def gain_dilution(engine, surface, point, mov_var) -> float:
    """The fitted gain's dilution by the moving noise at ``point`` (1 when no gain is
    fitted or the moving image is noiseless; see :meth:`ProfiledSurface.dilution`)."""
    if not isinstance(surface, ProfiledSurface) or not np.any(mov_var):
        return 1.0
    return surface.dilution(point, float(np.nanmean(mov_var)) * engine._variance_factor)
