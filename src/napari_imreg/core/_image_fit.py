"""The image-space stage: least-squares refinement and errors from the residual.

A stage that runs after the whole-pixel and sub-pixel search of :func:`register`.
It fits ``reference(x) = gain * moving(x - shift) + offset`` (with ``tilt``, plus one
slope per axis) in image space, by Gauss-Newton on (shift, gain, offset, slopes), with
the moving image interpolated by a
cubic B-spline (TurboReg's model) over the overlap. It then chooses between that
model and the pipeline's Fourier model by their weighted residuals, and reports a
covariance that holds what neither model can fit:

``C = max(C_noise, C_sandwich, C_pipeline) + D D^T``

* ``C_noise``: the covariance ``H^-1`` of the weighted least squares (times
  chi2/dof when the noise was estimated), ``H`` the observed Hessian.
* ``C_pipeline``: the pipeline's own covariance, a floor where noise dominates.
* ``C_sandwich``: ``H^-1 Omega H^-1`` with ``Omega`` the per-pixel scores summed
  over blocks of pixels (cluster-robust), so a residual correlated over a few
  pixels counts as what it is.
* ``D``: the difference between the shifts of the two interpolation models (scaled
  by ``sqrt(margin / excess)`` when the residuals clearly prefer the Fourier one). The
  least-squares scores sum to zero at the fitted shift, so a bias that the model
  makes coherently over the whole image is invisible in the residual; the spread
  of two models with different failure modes (the spline attenuates and delays the
  highest frequencies, the Fourier model rings at truncated edges and aliases)
  measures it from the data instead.

With ``compared`` (the images as the pipeline compared them: in the pipeline),
the covariance is the pipeline's own instead (:func:`~._pipeline_residual.pipeline_terms`):
``max(C_pipeline, C_sandwich of the pipeline's residual)`` plus the part of a second
estimate's difference that the difference's own block sandwich does not explain.

Everything is computed on images divided by one scale, so the stage does not
depend on the data's units. ``docs/how-it-works-errors.md`` has the derivation and
the figures.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage

from ._brightness import tilt_coordinates
from ._distortion import centre_fit
from ._filters import grid_sums
from ._pipeline_residual import (
    ComparedImages,
    Witness,
    covariance_envelope,
    fourier_jet,
    fourier_shifted,
    gauss_newton_hessian,
    influence_grid,
    largest_block_covariance,
    least_squares,
    observed_hessian,
    pipeline_terms,
)
from ._spline_model import noise_gain, spline_jet, spline_model

#: Gauss-Newton stops when no shift component moves by more than this (pixels).
SHIFT_TOLERANCE = 1e-4
#: At most this many Gauss-Newton steps.
MAX_ITERATIONS = 6
#: Huber threshold, in units of the residual's standard deviation, beyond which a
#: pixel's weight falls as 1/|r| (hot pixels, cosmic rays; see issue 14).
HUBER_THRESHOLD = 3.0
#: Block edge, in pixels, over which the scores are summed for the sandwich.
BLOCK = 8


@dataclass(frozen=True)
class ImageFit:
    """The outcome of :func:`fit_image_shift`.

    Attributes
    ----------
    shift : numpy.ndarray
        Translation (numpy axis order) that registers the moving image onto the
        reference, as :func:`register`'s.
    covariance : numpy.ndarray
        Covariance of ``shift``, including the model term (see the module).
    error : numpy.ndarray
        ``sqrt(diag(covariance))``.
    gain, offset : float
        ``reference ~ gain * moving(x - shift) + offset`` (offset in the input's units).
    model : str
        The interpolation model whose shift is reported: ``"spline"`` or ``"fourier"``.
    spline_shift : numpy.ndarray
        The cubic B-spline model's shift.
    noise_covariance, sandwich_covariance, model_covariance : numpy.ndarray
        The three terms of ``covariance`` (with ``compared``: the pipeline's noise
        term, its own residual's sandwich and its bias bound).
    chi2 : float
        Weighted squared residual of the reported model (with estimated noise, in
        units of that noise, so close to ``dof``).
    dof : float
        Effective pixels compared minus fitted parameters.
    outliers : int
        Pixels down-weighted by the Huber weights.
    distortion : numpy.ndarray
        With ``compared``: the shift at the moving image's centre less the
        pipeline's, where the images turned or changed scale (see ``_distortion``);
        else zeros.
    """

    shift: np.ndarray
    covariance: np.ndarray
    error: np.ndarray
    gain: float
    offset: float
    model: str
    spline_shift: np.ndarray
    noise_covariance: np.ndarray
    sandwich_covariance: np.ndarray
    model_covariance: np.ndarray
    chi2: float
    dof: float
    outliers: int
    distortion: np.ndarray


def _overlap_weight(shape, shift, *, wrap, margin=1.0):
    """1 where ``x - shift`` lies inside the moving image by ``margin`` pixels, else 0."""
    weight = np.ones(shape)
    if wrap:
        return weight
    for axis, n in enumerate(shape):
        x = np.arange(n) - shift[axis]
        inside = (x >= margin) & (x <= n - 1 - margin)
        profile = np.where(inside, 1.0, 0.0)
        view = [1] * len(shape)
        view[axis] = n
        weight = weight * profile.reshape(view)
    return weight


def sandwich_covariance(jacobian, residual, weight, *, block: int = BLOCK, hessian=None):
    """Cluster-robust covariance ``H^-1 Omega H^-1`` of a weighted least-squares fit.

    Parameters
    ----------
    jacobian : numpy.ndarray
        Shape ``image.shape + (p,)``: derivative of the model at each pixel with
        respect to each of the ``p`` parameters.
    residual : numpy.ndarray
        Data minus model, ``image.shape``.
    weight : numpy.ndarray
        The least-squares weight of each pixel (inverse variance, or relative).
    block : int
        Block edge in pixels: the scores ``w r J`` are summed over blocks before
        their outer products, so residuals correlated within a block count fully.
    hessian : numpy.ndarray, optional
        The ``(p, p)`` Hessian to use as ``H`` (e.g. the observed one); default
        ``sum w J J^T``.

    Returns
    -------
    covariance : numpy.ndarray
        ``(p, p)``, with the small-sample factor ``G / (G - 1)`` for ``G`` blocks
        that hold data.
    hessian : numpy.ndarray
        ``H = sum w J J^T``.

    Notes
    -----
    For the estimate ``theta`` minimising ``sum w (d - m(theta))^2``, the
    linearisation ``theta - theta_0 = H^-1 sum w J r`` gives
    ``Cov = H^-1 Cov(sum w J r) H^-1``; summing the scores over blocks larger than
    the residual's correlation length makes the block sums nearly independent, so
    ``Omega = G/(G-1) sum_b s_b s_b^T`` estimates ``Cov(sum w J r)``.
    """
    wj = jacobian * weight[..., None]
    p = jacobian.shape[-1]
    if hessian is None:
        hessian = wj.reshape(-1, p).T @ jacobian.reshape(-1, p)
    scores = wj * residual[..., None]
    sums = grid_sums(scores, block).reshape(-1, scores.shape[-1])
    occupied = np.any(sums != 0, axis=1)
    sums = sums[occupied]
    groups = max(len(sums), 2)
    omega = sums.T @ sums * groups / (groups - 1)
    inverse = np.linalg.pinv(hessian)
    return inverse @ omega @ inverse, hessian


def _background(shape, tilt: bool) -> list[np.ndarray]:
    """The background's basis: a constant, and with ``tilt`` each axis's pixel
    coordinate from the centre (the pipeline's, :func:`tilt_coordinates`)."""
    basis = [np.ones(shape)]
    if tilt:
        for axis, c in enumerate(tilt_coordinates(shape)):
            view = c.reshape([-1 if a == axis else 1 for a in range(len(shape))])
            basis.append(np.broadcast_to(view, shape))
    return basis


def _fit_gain(model, reference, weight, basis=None):
    """Weighted linear fit ``reference = gain * model + background``: the gain, and the
    fitted background (the offset, a float, when ``basis`` is the constant alone)."""
    if basis is not None and len(basis) > 1:
        solution = least_squares([model, *basis], reference, weight)
        return solution[0], sum(c * b for c, b in zip(solution[1:], basis, strict=True))
    sw = weight.sum()
    mx = (weight * model).sum() / sw
    my = (weight * reference).sum() / sw
    vx = (weight * (model - mx) ** 2).sum()
    gain = (weight * (model - mx) * (reference - my)).sum() / vx if vx > 0 else 1.0
    return gain, my - gain * mx


def _huber(residual, weight, sigma):
    """Huber factors on the standardised residual; 1 for ordinary pixels."""
    z = np.abs(residual) * np.sqrt(weight) / sigma
    return np.where(z > HUBER_THRESHOLD, HUBER_THRESHOLD / np.maximum(z, 1e-300), 1.0)


def pixel_noise(image) -> float:
    """The white-noise std of an image from its finest mixed differences.

    The difference of neighbouring pixels along every axis at once (the finest
    "diagonal" Haar detail, Donoho & Johnstone 1994) cancels smooth content, and
    its median absolute value over 0.6745 is the noise std; edges and texture can
    only make it larger, so it is an upper bound on the noise.
    """
    detail = np.asarray(image, dtype=np.float64)
    for axis in range(detail.ndim):
        n = detail.shape[axis] // 2 * 2
        even = np.take(detail, np.arange(0, n, 2), axis=axis)
        odd = np.take(detail, np.arange(1, n, 2), axis=axis)
        detail = (odd - even) / np.sqrt(2.0)
    return float(np.median(np.abs(detail)) / 0.6745) if detail.size else 0.0


def _moving_noise(gain, weight, moving_variance, sigma, known):
    """``A = gain^2 sum w var_moving``: the moving image's noise in the weighted residual.

    With the noise estimated, ``moving_variance`` holds the moving image's
    :func:`pixel_noise` squared; the residual's variance ``sigma^2`` caps it. Both
    are upper bounds that overestimate in different ways (the first from texture,
    the second from the reference's noise and the model's misfit).
    """
    if known:
        return float(gain**2 * np.sum(weight * moving_variance))
    return float(np.sum(weight) * min(sigma**2, gain**2 * float(moving_variance)))


def fit_image_shift(
    reference,
    moving,
    shift,
    *,
    reference_variance=None,
    moving_variance=None,
    weight=None,
    boundary: Literal["overlap", "wrap"] = "overlap",
    covariance=None,
    robust: bool = False,
    block: int = BLOCK,
    tilt: bool = False,
    compared: ComparedImages | None = None,
    witness: Witness | None = None,
) -> ImageFit:
    """Refine a shift in image space and give it an error that holds the model's misfit.

    Parameters
    ----------
    reference, moving : array_like
        The two images (same shape, any dimension, finite; mask bad pixels with
        ``weight``).
    shift : array_like
        The pipeline's shift (numpy axis order, the sign of :func:`register`),
        within a fraction of a pixel of the truth: the starting point and the
        Fourier model's answer.
    reference_variance, moving_variance : float or array_like, optional
        Noise variance of each image, scalar or per-pixel. Per-pixel maps are in
        the reference frame (``moving_variance[x]`` is the variance of the moving
        pixel that lands on ``x``): pass them through :func:`variance_model`,
        which also makes them independent of the noise. If both are None the
        noise is estimated from the residual.
    weight : array_like, optional
        Extra per-pixel weight in the reference frame, 0 to 1 (a mask, a taper).
    boundary : {"overlap", "wrap"}
        ``"overlap"``: only pixels whose model lies inside the moving image count.
        ``"wrap"``: periodic images.
    covariance : array_like, optional
        The pipeline's covariance of ``shift`` (its Fourier model's noise term),
        used when the Fourier model is reported.
    robust : bool
        Down-weight pixels beyond ``HUBER_THRESHOLD`` standard deviations (Huber
        IRLS), so a hot pixel or a cosmic ray does not pull the shift. Off by
        default: at high signal-to-noise the model's misfit at sharp edges exceeds
        the threshold, and those are the pixels that carry the shift.
    block : int
        Block edge of the sandwich's clusters.
    tilt : bool
        Fit a linear background too (one slope per axis, the pipeline's
        ``brightness="scale+offset+tilt"``): ``offset`` is then its mean level.
    compared : ComparedImages, optional
        The images as the pipeline compared them (with ``covariance``): the
        covariance is then the pipeline's own, from its residual at ``shift``
        (its sandwich, its noise term ``covariance``, and the models' difference
        less that difference's random part).
    witness : Witness, optional
        With ``compared``: another estimate of the pipeline's shift whose bias
        differs; its bias bound is the model term in place of the models'
        difference, or, with masked pixels, the larger of the two.

    Returns
    -------
    ImageFit
        The shift (sign of :func:`register`), its covariance and its parts, the
        gain and offset, the chosen model.
    """
    reference = np.asarray(reference, dtype=np.float64)
    moving = np.asarray(moving, dtype=np.float64)
    start = np.asarray(shift, dtype=np.float64).copy()
    ndim = reference.ndim
    wrap = boundary == "wrap"
    # One scale for both images and their variances: everything below is unit-free.
    scale = float(np.std(reference)) or float(np.max(np.abs(reference))) or 1.0
    ref = reference / scale
    mov = moving / scale
    known = reference_variance is not None or moving_variance is not None
    ref_var = 0.0 if reference_variance is None else np.asarray(reference_variance) / scale**2
    mov_var = 0.0 if moving_variance is None else np.asarray(moving_variance) / scale**2
    if not known:
        # Only for the interpolation-noise term: the moving image's own noise level.
        mov_var = pixel_noise(mov) ** 2
    extra = np.ones(ref.shape) if weight is None else np.asarray(weight, dtype=np.float64)

    coefficients = ndimage.spline_filter(mov, order=3, mode="grid-wrap" if wrap else "mirror")
    basis = _background(ref.shape, tilt)
    p = ndim + 1 + len(basis)
    flags = {"known": known, "wrap": wrap, "robust": robust, "basis": basis}
    shift, gain, huber = _gauss_newton(coefficients, ref, start, extra, ref_var, mov_var, **flags)
    value, gradients, curvatures = spline_jet(coefficients, shift, wrap=wrap)
    overlap = _overlap_weight(ref.shape, shift, wrap=wrap) * extra
    variance = ref_var + gain**2 * mov_var if known else 1.0
    w = overlap / variance * huber
    gain, offset = _fit_gain(value, ref, w, basis)
    residual = ref - gain * value - offset
    chi2 = float(np.sum(w * residual**2))
    dof = float(np.sum(overlap > 0) - p)
    # Made only where read: a clear verdict on the pipeline's images reads none.
    terms = (value, gradients, curvatures, residual, w, gain, basis, block)
    noise_scale = 1.0 if known else chi2 / max(dof, 1.0)
    spline_terms = functools.cache(functools.partial(_spline_covariances, *terms, noise_scale))

    fourier, f_gain, f_offset, f_chi2, spline_chi2, margin = _compare_models(
        mov,
        ref,
        start,
        w,
        basis,
        wrap=wrap,
        spline=(shift, value, gain, offset, chi2, dof),
        moving_noise=(mov_var, known),
    )
    pipeline = None if covariance is None else np.asarray(covariance, dtype=np.float64)
    use_fourier = _prefer_fourier(shift, spline_chi2, f_chi2, margin, spline_terms, pipeline)
    difference, distortion = np.nan_to_num(shift - start, nan=1.0), np.zeros(ndim)
    if compared is not None and pipeline is not None:
        noise, sandwich, model_cov, pipeline, distortion = _pipeline_side(
            compared.scaled(scale),
            pipeline,
            (mov, ref, w, basis, start),
            wrap=wrap,
            block=block,
            variance=variance,
            spline_grid=lambda: spline_terms()[1],
            difference=difference,
            clear=spline_chi2 - f_chi2 > margin,
            witness=witness,
            noise_given=known,
        )
    elif use_fourier and pipeline is not None and spline_chi2 - f_chi2 > margin:
        # The data prefer the Fourier model clearly, i.e. they are close to band-
        # limited: the pipeline's own error is calibrated there (docs/accuracy.md),
        # and the sandwich of this module's Fourier residual (mirror-padded, no
        # filter) would count its edge ringing; the bound |D| sqrt(margin / excess)
        # is loose there (band-limited pulls 0.2-0.7): the pipeline's error stands alone.
        noise = pipeline
        sandwich = 0 * noise
        model_cov = 0 * noise
    elif use_fourier:
        jacobian, _, hessian, noise = spline_terms()
        f_residual = ref - f_gain * fourier - f_offset
        f_grid = influence_grid(jacobian, f_residual, w, hessian, max(block // 2, 1))
        bound = np.sqrt(margin / max(spline_chi2 - f_chi2, margin, 1e-300))
        noise, sandwich, model_cov = _fourier_terms(f_grid, difference, noise, pipeline, bound)
    else:
        _, influences, _, noise = spline_terms()
        sandwich = largest_block_covariance(influences)
        model_cov = np.outer(difference, difference)
    # Each axis's error is at least the noise's, the sandwich's and the pipeline's
    # (the pipeline's noise error is calibrated where the noise dominates: its
    # filter's strength follows the noise, and the linearisation above is not).
    base = covariance_envelope(sandwich, noise)
    if pipeline is not None:
        base = covariance_envelope(base, pipeline)
    total = base + model_cov
    return ImageFit(
        shift=start.copy() if use_fourier else shift.copy(),
        covariance=total,
        error=np.sqrt(np.diag(total)),
        gain=float(f_gain if use_fourier else gain),
        offset=float(np.mean(f_offset if use_fourier else offset) * scale),
        model="fourier" if use_fourier else "spline",
        spline_shift=shift.copy(),
        noise_covariance=noise,
        sandwich_covariance=sandwich,
        model_covariance=model_cov,
        chi2=f_chi2 if use_fourier else chi2,
        dof=dof,
        outliers=int(np.sum(huber < 1)),
        distortion=distortion,
    )


def _pipeline_side(compared, pipeline, raw, *, wrap, block, **kwargs):
    """:func:`~._pipeline_residual.pipeline_terms` on the pipeline's images; where they
    turned or changed scale, the bias bound of the moving image's centre's shift from
    the same converged fit on the images as given (``raw``: the moving image, the
    reference, their weights, the background's basis and the pipeline's shift; no
    filter, so a bias that differs, as the spline's difference bounds the
    translation's). The noise, sandwich and model terms, the floor (the pipeline's
    noise term ``pipeline``, or the centre's: the pipeline's read the field as noise)
    and the centre's correction."""
    mov, ref, w, basis, start = raw
    terms = pipeline_terms(
        compared, start, basis=basis, wrap=wrap, block=block, covariance=pipeline, **kwargs
    )
    noise, sandwich, model_cov, field = terms
    if field.centre is None:
        return noise, sandwich, model_cov, pipeline, field.correction
    moved = fourier_jet(mov, start, wrap=wrap)
    other = centre_fit(moved, ref, w, basis, start, max(block // 2, 1))
    # The centre is the splines' own, and so is their bias: the splines' translation
    # stands apart from the pipeline's by it (a smooth 97² synthetic crop at noise
    # 1e-3: 0.002 px, at an error of 0.0003), which the translation's path counts as
    # a model term. Here it counts whole, its noise left in (conservative).
    alone = field.correction - field.apart
    return noise, sandwich, field.bound(other) + np.diag(alone**2), noise, field.correction


def _spline_covariances(value, gradients, curvatures, residual, w, gain, basis, block, scale):
    """The spline fit's Jacobian, per-block influences (:func:`influence_grid`, at
    blocks of ``block // 2``), Hessian (the observed one where it is positive) and
    noise term (its inverse on the shift, times ``scale``: chi2/dof with the noise
    estimated)."""
    ndim = value.ndim
    jacobian = np.stack([-gain * g for g in gradients] + [value, *basis], -1)
    hessian = gauss_newton_hessian(jacobian, w)
    observed = observed_hessian(hessian, residual, w, gain, gradients, curvatures)
    if np.all(np.linalg.eigvalsh(observed[:ndim, :ndim]) > 0):
        hessian = observed
    # Else no curvature is left once the noise is discounted: the data do not hold
    # the shift (the significance test should have said so); keep Gauss-Newton's.
    influences = influence_grid(jacobian, residual, w, hessian, max(block // 2, 1))
    return jacobian, influences, hessian, (np.linalg.pinv(hessian) * scale)[:ndim, :ndim]


def _prefer_fourier(shift, spline_chi2, f_chi2, margin, spline_terms, pipeline) -> bool:
    """Whether the Fourier model's answer is reported rather than the spline's
    (``spline_terms``: makes the spline fit's terms, its noise term last)."""
    if not np.all(np.isfinite(shift)):
        return True
    if abs(spline_chi2 - f_chi2) > margin:
        return bool(f_chi2 < spline_chi2)
    # The residuals cannot tell the models apart (noise-dominated): report the one
    # with the smaller noise error; the pipeline's filter often wins there.
    return pipeline is not None and bool(np.trace(pipeline) < np.trace(spline_terms()[-1]))


def _gauss_newton(
    coefficients, ref, start, extra, ref_var, mov_var, *, known, wrap, robust, basis
):
    """Gauss-Newton on (shift, gain, background) from ``start``: the shift, gain and
    Huber weights (``basis``: the background's, see :func:`_background`).

    At low signal-to-noise its steps fall short by a constant factor (``J J^T``
    counts the moving image's noise as curvature) and the shift stops short of the
    spline's minimum. A converged Newton (observed Hessian with the noise term's
    curvature) was tried: that minimum is then as noisy as the curvature left once
    the noise is discounted, and the model term counted its noise as bias (errors
    up to 7x too large on a faint blob at SNR 20 per peak pixel). The short steps
    act as shrinkage towards the pipeline's shift, which is what the errors need.
    """
    ndim = ref.ndim
    shift = start.copy()
    p = ndim + 1 + len(basis)
    gain, offset = 1.0, 0.0
    huber = np.ones(ref.shape)
    sigma = 1.0
    for _ in range(MAX_ITERATIONS):
        value, gradients = spline_model(coefficients, shift, wrap=wrap)
        overlap = _overlap_weight(ref.shape, shift, wrap=wrap) * extra
        variance = ref_var + gain**2 * mov_var if known else 1.0
        base = overlap / variance
        gain, offset = _fit_gain(value, ref, base * huber, basis)
        residual = ref - gain * value - offset
        w = base * huber
        sigma = np.sqrt(np.sum(w * residual**2) / max(np.sum(overlap > 0) - p, 1))
        if robust:
            huber = _huber(residual, base, max(sigma, 1.0) if known else sigma)
            w = base * huber
        jacobian = np.stack([-gain * g for g in gradients] + [value, *basis], -1)
        hessian = gauss_newton_hessian(jacobian, w)
        # Minimise chi2 - A K(s): the interpolated noise's variance K(s) depends on
        # the shift, and A = gain^2 sum w var_moving is the moving noise it scales.
        gradient = jacobian.reshape(-1, p).T @ (w * residual).ravel()
        _, dk = noise_gain(shift)
        gradient[:ndim] += 0.5 * _moving_noise(gain, w, mov_var, sigma, known) * dk
        step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        # Half a pixel per step at most, and within a pixel of the search's answer:
        # the stage refines the minimum the search found, it does not look for another.
        shift = np.clip(shift + np.clip(step[:ndim], -0.5, 0.5), start - 1.0, start + 1.0)
        if np.max(np.abs(step[:ndim])) < SHIFT_TOLERANCE:
            break
    return shift, gain, huber


def _compare_models(mov, ref, start, w, basis, *, wrap, spline, moving_noise):
    """The Fourier model at the pipeline's shift ``start``, on the spline fit's pixels
    and weights, and the two models' chi2 on the same footing: the Fourier model's
    values, gain, offset and chi2, the spline's chi2 as compared, and the margin by
    which one must beat the other.

    ``spline``: the spline fit's shift, values, gain, offset, chi2 and dof;
    ``moving_noise``: the moving image's variance and whether it was given.
    """
    shift, value, gain, offset, chi2, dof = spline
    mov_var, known = moving_noise
    fourier = fourier_shifted(mov, start, wrap=wrap)
    f_gain, f_offset = _fit_gain(fourier, ref, w, basis)
    f_chi2 = float(np.sum(w * (ref - f_gain * fourier - f_offset) ** 2))
    # The spline's residual holds K(s) times the moving noise, the Fourier's about
    # once: compare them on the same footing.
    k_spline = noise_gain(shift)[0]
    sigma_all = np.sqrt(chi2 / max(dof, 1.0))
    spline_chi2 = chi2 + (1.0 - k_spline) * _moving_noise(gain, w, mov_var, sigma_all, known)
    # Prefer the Fourier model only when its residual is lower by more than three
    # times the noise in the difference of the two chi2 (2 sqrt(sum w delta^2 s2),
    # delta the models' difference): at low signal-to-noise the comparison is noise.
    delta = gain * value + offset - f_gain * fourier - f_offset
    unit = 1.0 if known else f_chi2 / max(dof, 1.0)
    margin = 3.0 * 2.0 * np.sqrt(float(np.sum(w * delta**2)) * unit)
    return fourier, f_gain, f_offset, f_chi2, spline_chi2, margin


def _fourier_terms(grid, difference, spline_noise, pipeline, bound):
    """The noise, sandwich and model terms when the Fourier answer is reported but
    the residuals do not prefer it clearly.

    The sandwich is the Fourier answer's own residual's (``grid``: its per-block
    influences, with the spline's Jacobian: the two models' gradients agree to the
    spline's interpolation error). The spline's shift is off by the spline's bias,
    which grows as the square root of its misfit; the Fourier model's misfit is at
    most the comparison's noise (``margin``) where the spline's exceeds it by
    ``spline_chi2 - f_chi2``, so the Fourier answer's bias is at most ``|D| bound``,
    ``bound = sqrt(margin / that)``, with ``D`` the difference less its noise.
    """
    sandwich = largest_block_covariance(grid)
    difference = _model_difference(difference, spline_noise, pipeline)
    noise = pipeline if pipeline is not None else spline_noise
    return noise, sandwich, np.outer(difference, difference) * bound**2


def _model_difference(difference, spline_noise, pipeline):
    """The models' shift difference less its noise: with one estimate efficient, the
    difference's variance is that of their variances (Hausman 1978); without this the
    model term counts the noise twice where it dominates (band-limited pulls 0.3-0.7)."""
    spread = np.diag(spline_noise)
    if pipeline is not None:
        spread = np.abs(spread - np.diag(pipeline))
    return np.sign(difference) * np.sqrt(np.maximum(difference**2 - spread, 0.0))


def variance_model(
    reference_variance,
    moving_variance,
    shift,
    *,
    boundary: Literal["overlap", "wrap"] = "overlap",
    smooth: float = 2.0,
):
    """Variance maps for the weights that do not correlate with the noise they weigh.

    A Poisson error map made from the data (``variance = counts``) is low where the
    counts fluctuated low: those pixels get more weight, so the weighted residual
    favours the shift that lines up the downward fluctuations, and the fit is
    biased by far more than its error (0.2-0.8 px in issue 13). The fix is to
    weigh with a model of the variance that is independent of each pixel's own
    noise: the two maps brought to the reference frame, averaged (the moving one
    by ``shift``), and smoothed by a Gaussian of ``smooth`` pixels, which shrinks a
    pixel's own fluctuation by ``~1 / (2 sqrt(pi) smooth)`` per axis.

    Parameters
    ----------
    reference_variance, moving_variance : array_like
        Per-pixel variance of each image (e.g. ``error**2``), in its own frame.
    shift : array_like
        The pipeline's shift (sign of :func:`register`).
    boundary : {"overlap", "wrap"}
        How the moving map is brought to the reference frame.
    smooth : float
        Gaussian sigma, pixels.

    Returns
    -------
    reference_model, moving_model : numpy.ndarray
        The variance of each image in the reference frame, for
        :func:`fit_image_shift`; both follow the same smoothed mean profile, scaled
        to each image's own mean variance (so unequal exposures keep their ratio).
    """
    ref = np.asarray(reference_variance, dtype=np.float64)
    mov = np.asarray(moving_variance, dtype=np.float64)
    mode = "grid-wrap" if boundary == "wrap" else "nearest"
    moved = ndimage.shift(mov, shift, order=1, mode=mode)
    ref_mean, mov_mean = float(ref.mean()), float(mov.mean())
    # The shape of the variance from both images (a noiseless one has none to give);
    # each image keeps its own level.
    shapes = [m / level for m, level in ((ref, ref_mean), (moved, mov_mean)) if level > 0]
    profile = sum(shapes) / len(shapes) if shapes else np.ones_like(ref)
    profile = ndimage.gaussian_filter(
        profile, smooth, mode="wrap" if boundary == "wrap" else "nearest"
    )
    profile = np.maximum(profile, 1e-3 * profile.mean())
    return profile * ref_mean, profile * mov_mean
