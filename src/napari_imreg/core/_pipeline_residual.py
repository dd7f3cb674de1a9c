"""The pipeline's own residual at its shift, and what each block of it says about that shift.

The residual stage (:mod:`._image_fit`) fits a cubic spline in image space. Its
sandwich, built from the spline's residual, measures the spline's misfit: on an
aliased real scene that misfit is several times the pipeline's, whose filter
discounts the content near Nyquist that neither model can shift. The shift
reported is the pipeline's, so its error must come from the pipeline's residual:
the filtered, tapered images it compared, under the Fourier model, at its shift.

:func:`pipeline_influences` returns, for each block of pixels, ``H^-1 s_b``: the
move of the shift that the block's scores ``s_b`` ask for (a linearised
influence). Summed over the blocks they are zero at the pipeline's minimum; their
spread is its cluster-robust (sandwich) covariance, and the difference of two
estimators' influences, block by block, is the random part of the difference of
their shifts (docs/how-it-works-errors.md, "The pipeline's own residual").
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from ._chi2 import outer_product
from ._dispersion import dispersion_bias
from ._distortion import distortion
from ._filters import fill_invalid, grid_sums
from ._leverage import (
    adjusted_sandwich,
    difference_beyond_noise,
    largest_block,
    noise_level,
    sandwich_beyond_noise,
)
from ._prefilter import FLOOR_CHECK_SIGMA

__all__ = [
    "ComparedImages",
    "Witness",
    "broader_than_modelled",
    "clear_sandwich",
    "covariance_envelope",
    "influence_grid",
    "largest_block_covariance",
    "observed_hessian",
    "pipeline_influences",
    "pipeline_terms",
    "residual_excess",
]


@dataclass(frozen=True)
class ComparedImages:
    """The images as the pipeline compared them, in the stage's frame.

    ``reference`` and ``moving``: filtered and centred as prepared (their
    filter's margins zeroed); ``reference_weight`` and ``moving_weight``: each
    image's taper times its validity in its own frame, None (all ones), a list of
    one profile per axis (separable), or an array. ``tapered_through``: the tapers
    leave no interior on some axis (a thin image's short axis is all taper).
    ``excess``: the pipeline's chi2 per degree of freedom beyond the noise given
    (:func:`residual_excess`). ``filtered``: the variance of the filtered noise per
    unit of the raw noise's (the pipeline's filter; 1 unfiltered). ``windowed``: the
    images are a window cut from larger ones (:meth:`window`).
    """

    reference: np.ndarray
    moving: np.ndarray
    reference_weight: object = None
    moving_weight: object = None
    tapered_through: bool = False
    excess: float = 1.0
    filtered: float = 1.0
    windowed: bool = False

    @property
    def masked(self) -> bool:
        """Whether either image has pixels set aside (its weight is an array)."""
        return any(isinstance(w, np.ndarray) for w in (self.reference_weight, self.moving_weight))

    @property
    def shared_bias(self) -> bool:
        """Whether every filter strength shares a bias of the pipeline's: the
        zero-filled holes of a mask, or a taper across a whole axis (both strengths
        weigh the images alike there; the spline fit does neither)."""
        return self.masked or self.tapered_through

    def scaled(self, scale: float) -> ComparedImages:
        """Both images divided by ``scale`` (the stage's unit), the weights as they are."""
        return replace(self, reference=self.reference / scale, moving=self.moving / scale)

    def window(self, reference_slices, moving_slices) -> ComparedImages:
        """The same images cut to the stage's window (slices of each image)."""

        def cut(weight, slices):
            if weight is None:
                return None
            if isinstance(weight, list):
                return [profile[s] for profile, s in zip(weight, slices, strict=True)]
            return weight[slices]

        return replace(
            self,
            windowed=True,
            reference=self.reference[reference_slices],
            moving=self.moving[moving_slices],
            reference_weight=cut(self.reference_weight, reference_slices),
            moving_weight=cut(self.moving_weight, moving_slices),
        )


def _shifted_spectrum(moving, shift, *, wrap: bool):
    """The half-spectrum of ``moving(x - shift)`` by the Fourier shift theorem
    (mirror-extended by the shift plus 16 pixels per side unless ``wrap``, so the
    periodic copy's seam stays outside the overlap), each axis' frequencies, and the
    function that brings a half-spectrum back to the image's pixels.

    The extension is one pixel longer where that makes an axis odd: an even axis
    has a Nyquist term, which the real transform's last axis shifts as
    ``cos(pi s)`` and the complex axes as ``exp(i pi s)``, so the model would differ
    with the image's orientation (by 3x the noise on an 8 x 120 real pair).
    """
    if wrap:
        padded, margins = moving, [0] * moving.ndim
    else:
        margins = [int(np.ceil(abs(s))) + 16 for s in shift]
        lengths = [odd_fast_length(n + 2 * m) for n, m in zip(moving.shape, margins, strict=True)]
        padded = np.pad(
            moving,
            [(m, size - n - m) for n, m, size in zip(moving.shape, margins, lengths, strict=True)],
            mode="symmetric",
        )
    axes = tuple(range(padded.ndim))
    spectrum = np.fft.rfftn(padded, axes=axes)
    frequencies = []
    for axis, n in enumerate(padded.shape):
        k = np.fft.rfftfreq(n) if axis == padded.ndim - 1 else np.fft.fftfreq(n)
        view = [1] * padded.ndim
        view[axis] = len(k)
        k = k.reshape(view)
        spectrum *= np.exp(-2j * np.pi * k * shift[axis])  # the transform's own array
        frequencies.append(k)
    inside = tuple(slice(m, m + n) for m, n in zip(margins, moving.shape, strict=True))

    def back(values):
        # numpy's irfftn, one axis at a time in its order, each cut to the image's
        # pixels once transformed: the later axes' transforms then skip the margins
        # (a thin image's short axis is mostly margin). The same values.
        for axis in axes[:-1]:
            values = np.fft.ifft(values, n=padded.shape[axis], axis=axis)
            values = values[(slice(None),) * axis + (inside[axis],)]
        return np.fft.irfft(values, n=padded.shape[-1], axis=-1)[..., inside[-1]]

    return spectrum, frequencies, back


def odd_fast_length(least: int) -> int:
    """The smallest odd length from ``least`` whose factors are 3, 5, 7 and 11 only: a
    fast transform (a prime length such as 163 costs about ten times 165)."""
    size = least + 1 - least % 2
    while True:
        rest = size
        for factor in (3, 5, 7, 11):
            while rest % factor == 0:
                rest //= factor
        if rest == 1:
            return size
        size += 2


def fourier_shifted(moving, shift, *, wrap: bool):
    """``moving(x - shift)`` by the Fourier shift theorem (see ``_shifted_spectrum``)."""
    spectrum, _, back = _shifted_spectrum(moving, shift, wrap=wrap)
    return back(spectrum)


def fourier_jet(moving, shift, *, wrap: bool, curvatures: bool = False):
    """``moving(x - shift)`` and its gradient along each axis, by the Fourier shift
    theorem (see ``_shifted_spectrum``); with ``curvatures``, also its second
    derivatives, a dict keyed by the axes ``(k, m)``, ``k <= m``."""
    spectrum, frequencies, back = _shifted_spectrum(moving, shift, wrap=wrap)
    derivatives = [spectrum * (2j * np.pi * k) for k in frequencies]
    gradients = [back(d) for d in derivatives]
    if not curvatures:
        return back(spectrum), gradients
    second = {
        (k, m): back(derivatives[k] * (2j * np.pi * frequencies[m]))
        for k in range(len(frequencies))
        for m in range(k, len(frequencies))
    }
    return back(spectrum), gradients, second


def fourier_third(moving, shift, *, wrap: bool) -> np.ndarray:
    """The third derivatives of ``moving(x - shift)`` (every combination of three axes,
    one per column, last axis) by the Fourier shift theorem (see ``_shifted_spectrum``)."""
    spectrum, frequencies, back = _shifted_spectrum(moving, shift, wrap=wrap)
    columns = []
    for axes in itertools.combinations_with_replacement(range(moving.ndim), 3):
        values = spectrum
        for axis in axes:
            values = values * (2j * np.pi * frequencies[axis])
        columns.append(back(values))
    return np.stack(columns, -1)


def least_squares(columns, target, weight):
    """The weighted least-squares coefficients of ``target`` on ``columns``."""
    gram = np.array([[float(np.sum(weight * a * b)) for b in columns] for a in columns])
    moments = np.array([float(np.sum(weight * a * target)) for a in columns])
    return np.linalg.lstsq(gram, moments, rcond=None)[0]


def gauss_newton_hessian(jacobian, weight):
    """``sum w J J^T`` over the pixels (``jacobian``: one column per parameter, last)."""
    p = jacobian.shape[-1]
    return (jacobian * weight[..., None]).reshape(-1, p).T @ jacobian.reshape(-1, p)


def covariance_envelope(first, second):
    """The covariance of larger trace, each diagonal term raised to the other's where
    that is larger: positive semi-definite, and no axis's variance below either's.

    >>> covariance_envelope(np.diag([4.0, 1.0]), np.diag([1.0, 2.0])).tolist()
    [[4.0, 0.0], [0.0, 2.0]]
    """
    big, small = (first, second) if np.trace(first) >= np.trace(second) else (second, first)
    return big + np.diag(np.maximum(np.diag(small) - np.diag(big), 0.0))


def observed_hessian(hessian, residual, weight, gain, gradients, curvatures):
    """``sum w (J J^T - r d2m)``: the least-squares Hessian with the residual term,
    from the Gauss-Newton ``hessian = sum w J J^T`` of the model
    ``gain * moving(x - shift) + background`` (parameters: the shift, the gain, then
    the background's).

    The Gauss-Newton ``sum w J J^T`` alone counts the moving image's noise in its
    gradient as information: at low signal-to-noise it overstates the curvature
    and understates the error. The residual term removes that in expectation
    (``E[n d2n] = -E[dn dn]`` for stationary noise) and leaves the observed
    information (Efron & Hinkley 1978).
    """
    ndim = len(gradients)
    hessian = hessian.copy()
    wr = (weight * residual).ravel()
    for (k, m), values in curvatures.items():
        # d2 model / ds_k ds_m = gain * d2 moving / dx_k dx_m.
        term = gain * float(wr @ values.ravel())
        hessian[k, m] -= term
        if k != m:
            hessian[m, k] -= term
    for k in range(ndim):
        # d2 model / ds_k dgain = -d moving / dx_k.
        term = -float(wr @ gradients[k].ravel())
        hessian[k, ndim] -= term
        hessian[ndim, k] -= term
    return hessian


def _moved_weight(weight, shift, shape, *, wrap: bool) -> np.ndarray:
    """The moving image's weight at ``x - shift`` (linear between pixels), on the
    reference's grid."""
    if weight is None:
        return np.ones(shape)
    if isinstance(weight, list):
        profiles = []
        for profile, s, n in zip(weight, shift, shape, strict=True):
            x = np.arange(n) - s
            if wrap:
                profiles.append(np.interp(x, np.arange(n), profile, period=n))
            else:
                profiles.append(np.interp(x, np.arange(n), profile, left=0.0, right=0.0))
        return outer_product(profiles)
    mode = "grid-wrap" if wrap else "constant"
    return ndimage.shift(np.asarray(weight, dtype=np.float64), shift, order=1, mode=mode)


def influence_grid(jacobian, residual, weight, hessian, block: int) -> np.ndarray:
    """``(H^-1 s_b)`` restricted to the shift, for each block ``b`` of ``block`` pixels
    per axis: shape ``grid + (ndim,)``. The first ``ndim`` parameters are the shift."""
    sums = grid_sums(jacobian * (weight * residual)[..., None], block)
    return (sums @ np.linalg.pinv(hessian).T)[..., : residual.ndim]


def largest_block_covariance(grid: np.ndarray) -> np.ndarray:
    """``G/(G-1) sum_b i_b i_b^T`` over a grid of per-block influences ``i_b``
    (:func:`influence_grid`), at its blocks and at blocks two and four times
    larger: the largest.

    A residual correlated beyond the block is cut at the block edges and its
    covariance lost: the estimate grows with the block until the blocks hold
    the correlation, then levels off (and gets noisier). Taking the largest of
    three sizes is the conservative end of that plateau. Influences are linear in
    the scores, so larger blocks are the sums of smaller ones, two by two per axis.
    """
    return largest_block(grid)[0]


@dataclass(frozen=True)
class _PipelineFit:
    """The pipeline's Fourier model fitted at its shift: the Jacobian (the shift's
    columns, the gain's, the background's), the residual, the weight (``base``, the
    tapers and validity, over the stage's variance), the gain, and the model's
    gradients and second derivatives (None unless asked for)."""

    jacobian: np.ndarray
    residual: np.ndarray
    weight: np.ndarray
    base: np.ndarray
    gain: float
    gradients: list
    curvatures: dict | None


def _fit_pipeline(
    compared: ComparedImages,
    shift,
    *,
    variance,
    basis,
    wrap: bool,
    curvatures: bool,
    margins_filled: bool = False,
) -> _PipelineFit:
    """The model ``gain * moving(x - shift) + background`` (``basis``: the
    background's columns, a constant first) by the Fourier shift theorem, fitted
    over the product of the reference's weight and the moving weight moved by
    ``shift``, divided by ``variance`` (the stage's, a scalar or a map).
    ``margins_filled``: the zeroed margins of a separable weight are filled too (as
    a mask's holes are)."""
    reference = np.asarray(compared.reference, dtype=np.float64)
    moving = np.asarray(compared.moving, dtype=np.float64)
    if isinstance(compared.moving_weight, np.ndarray):
        # The pipeline zeroes the pixels it sets aside; its masked chi2 never reads
        # them, but a Fourier shift of the zeroed image rings from each hole's edge
        # into the pixels round it (a sandwich 30x the pipeline's error on a pair
        # whose outlier stage clipped 600 pixels): the holes are filled smoothly.
        moving = fill_invalid(moving, compared.moving_weight > 0)
    elif margins_filled and isinstance(compared.moving_weight, list):
        moving = fill_invalid(moving, outer_product(compared.moving_weight) > 0)
    value, gradients, *second = fourier_jet(moving, shift, wrap=wrap, curvatures=curvatures)
    base = _moved_weight(compared.moving_weight, shift, reference.shape, wrap=wrap)
    if compared.reference_weight is not None:
        own = compared.reference_weight
        base = base * (outer_product(own) if isinstance(own, list) else own)
    weight = base / variance
    columns = [value, *basis]
    solution = least_squares(columns, reference, weight)
    residual = reference - sum(c * a for c, a in zip(solution, columns, strict=True))
    jacobian = np.stack([-solution[0] * g for g in gradients] + columns, -1)
    return _PipelineFit(
        jacobian,
        residual,
        weight,
        base,
        float(solution[0]),
        gradients,
        second[0] if second else None,
    )


def pipeline_influences(
    compared: ComparedImages, shift, *, variance, basis, wrap: bool, block: int, fit=None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The pipeline's per-block influences (:func:`influence_grid`) at ``shift``,
    through Gauss-Newton's Hessian and through the observed one
    (:func:`observed_hessian`; None where it is not positive on the shift), of
    the model that :func:`_fit_pipeline` fits. ``fit``: that fit at ``shift`` with its
    curvatures, if made already.
    """
    if fit is None or fit.curvatures is None:
        fit = _fit_pipeline(
            compared, shift, variance=variance, basis=basis, wrap=wrap, curvatures=True
        )
    ndim = fit.residual.ndim
    hessian = gauss_newton_hessian(fit.jacobian, fit.weight)
    grid = influence_grid(fit.jacobian, fit.residual, fit.weight, hessian, block)
    observed = observed_hessian(
        hessian, fit.residual, fit.weight, fit.gain, fit.gradients, fit.curvatures
    )
    if not np.all(np.linalg.eigvalsh(observed[:ndim, :ndim]) > 0):
        return grid, None
    return grid, influence_grid(fit.jacobian, fit.residual, fit.weight, observed, block)


def clear_sandwich(
    compared: ComparedImages,
    shift,
    covariance,
    *,
    variance,
    basis,
    wrap: bool,
    block: int,
    noise_given: bool,
    fit=None,
) -> np.ndarray:
    """The pipeline's bias-reduced sandwich at ``shift`` where the Fourier model fits
    clearly better than the spline, when it shows the minimum broader than the noise
    term ``covariance`` beyond its sampling error; else zeros
    (:func:`~._leverage.sandwich_beyond_noise`).

    ``noise_given``: the noise term holds the noise the caller stated (``variance``),
    whose level the test then takes from the residual's typical block
    (:func:`~._leverage.noise_level`); else the noise term was read from the
    residual already. ``fit``: the pipeline's fit at ``shift``, if made already.
    """
    if fit is None:
        fit = _fit_pipeline(
            compared, shift, variance=variance, basis=basis, wrap=wrap, curvatures=False
        )
    sandwich, effective = adjusted_sandwich(fit.jacobian, fit.residual, fit.weight, block)
    level = 1.0
    if noise_given:
        level = noise_level(fit.residual, fit.weight, fit.base, block, compared.filtered)
    return sandwich_beyond_noise(sandwich, effective, covariance, level)


def broader_than_modelled(sandwich, observed_grid, covariance) -> np.ndarray:
    """The pipeline's ``sandwich``, raised to the sandwich through the observed
    Hessian (``observed_grid``: its influences, or None) when that exceeds both the
    ``sandwich`` and the noise term ``covariance`` on some axis by more than
    :data:`~._prefilter.FLOOR_CHECK_SIGMA` times its own sampling error.

    Gauss-Newton's ``sum w J J^T`` reads the moving image's noise in its gradient as
    curvature, so its sandwich falls short of the noise where the noise is large
    (a half to a sixth of the noise term on real pairs at a signal-to-noise of
    1-3). The sandwich through the observed Hessian does not, and where the model
    holds it estimates the noise term's variance again, more noisily (their ratio
    0.8-1.0 there): the larger of the two would overstate it. At high
    signal-to-noise the model's misfit raises both sandwiches above the noise term,
    which the Gauss-Newton one already counts. Beyond both, by more than its
    sampling error (relative ``sqrt(2 / (G - 1))`` over ``G`` blocks), it says the
    minimum is broader than either model of its curvature (White 1982: the
    model's covariance against the sandwich; a colour wheel at a signal-to-noise of
    3 whose minimum lay 1.4 px from the truth: 0.33 px by the noise term, 0.02 by
    Gauss-Newton's sandwich, 1.3 by this).
    """
    if observed_grid is None:
        return sandwich
    observed, groups = largest_block(observed_grid)
    modelled = np.diag(covariance_envelope(sandwich, covariance))
    limit = modelled * (1.0 + FLOOR_CHECK_SIGMA * np.sqrt(2.0 / (groups - 1)))
    if np.any(np.diag(observed) > limit):
        return covariance_envelope(sandwich, observed)
    return sandwich


@dataclass(frozen=True)
class Witness:
    """Another estimate of the pipeline's shift whose bias differs (the pipeline at
    the floor check's other filter strength, or at the strength of least predicted
    variance that the floor bound overruled): its ``difference`` from the shift and
    the two estimates' noise variances per axis (``variance``: the shift's,
    ``witness_variance``: the witness's)."""

    difference: np.ndarray
    variance: np.ndarray
    witness_variance: np.ndarray

    @classmethod
    def of(cls, shift, covariance, witness_shift, witness_covariance) -> Witness:
        """The witness from both estimates' shifts and covariances."""
        difference = np.asarray(witness_shift, dtype=np.float64) - np.asarray(shift)
        return cls(difference, np.diag(covariance).copy(), np.diag(witness_covariance).copy())

    def apart(self) -> bool:
        """Whether the two estimates differ on some axis by more than
        :data:`~._prefilter.FLOOR_CHECK_SIGMA` times the noise of their difference
        (Hausman's ``sqrt(|var_witness - var|)``): the floor check's own test that
        a bias, not the noise, sets them apart."""
        spread = np.sqrt(np.abs(self.witness_variance - self.variance))
        return bool(np.any(np.abs(self.difference) > FLOOR_CHECK_SIGMA * spread))

    def bias(self, *, independent: bool) -> np.ndarray:
        """A bound on the shift's bias: the squared difference less the noise's share
        of it, per axis and never below zero; what is left is the difference of the
        two biases, as large seen from either end.

        The noise's share is Hausman's (1978) ``|var_witness - var|`` when one estimate
        is the more efficient and holds the other's noise (nested), and at most
        ``var_witness + var`` however the two noises correlate (``independent``).

        >>> Witness(np.array([0.05]), np.array([1e-4]), np.array([5e-4])).bias(
        ...     independent=False
        ... ).round(6).tolist()
        [[0.0021]]
        """
        if independent:
            spread = self.witness_variance + self.variance
        else:
            spread = np.abs(self.witness_variance - self.variance)
        return np.diag(np.maximum(self.difference**2 - spread, 0.0))


def residual_excess(chi2: float, dof: float) -> float:
    """The pipeline's ``chi2`` per degree of freedom where it exceeds 1 beyond its
    sampling error (:data:`~._prefilter.FLOOR_CHECK_SIGMA` standard deviations of a
    chi2 of ``dof`` degrees of freedom), else 1.

    With the noise estimated it is 1 by construction. With the noise given, more
    is a misfit that no shift explains (a change of focus or seeing between the
    exposures) or noise beyond the one declared: either way, the residual shows
    the errors the declared noise alone would understate.
    """
    ratio = chi2 / max(dof, 1.0)
    return ratio if ratio > 1.0 + FLOOR_CHECK_SIGMA * np.sqrt(2.0 / max(dof, 1.0)) else 1.0


def pipeline_terms(
    compared: ComparedImages,
    shift,
    *,
    variance,
    basis,
    wrap: bool,
    block: int,
    spline_grid,
    difference,
    covariance,
    clear: bool,
    witness: Witness | None = None,
    noise_given: bool = False,
):
    """The noise, sandwich and model terms of the pipeline's ``shift``.

    The noise term is the pipeline's ``covariance``. The model term is the
    ``witness``'s bias bound when there is one; else the part of the models'
    ``difference`` (spline less pipeline) that its random part, the block sandwich
    of the two estimates' influences' difference, does not explain: a bias coherent
    over the image, which no residual shows and which is as large seen from either
    end. The sandwich is that of the pipeline's own residual
    (:func:`pipeline_influences`, at blocks of ``block // 2`` and up, as the spline
    fit's influences that ``spline_grid()`` returns, called only where they count),
    raised where the observed Hessian's shows the minimum broader than modelled
    (:func:`broader_than_modelled`).

    ``clear``: the residuals prefer the Fourier model clearly. On data close to
    band-limited the pipeline's noise term is then calibrated: no spline term (the
    spline's difference is then the spline's bias, all of it on band-limited
    data), and the witness counts only beyond any share of the noise
    (``independent``). But a clear verdict says that the Fourier model fits better
    than the spline, not that it fits to the noise: on a sparse scene under photon
    noise (stars, puncta) it fits the smooth sky far better and misses each of the
    few bright features that carry the shift by a misfit of its own (an
    undersampled core's phase error, a photon noise far above the sky's), which the
    noise term, one level of noise for every pixel, does not hold (pulls of 5-60).
    So the pipeline's bias-reduced sandwich counts where it shows the minimum broader
    than the noise term beyond its sampling error (:func:`clear_sandwich`). A
    witness apart by the floor check's test (:meth:`Witness.apart`) refutes the
    verdict (on band-limited data both strengths estimate the same shift): the two
    may share a bias their difference does not show, and the pipeline's sandwich
    counts too.

    With the noise given, a phase error that grows with the frequency (an aliased
    scene whose edges sit at one phase of the pixel grid: binned text, a few
    undersampled stars) biases every strength alike and no sandwich shows it; where
    the residual shows it apart from its own spread, its bound joins the model term
    in every branch (:func:`~._dispersion.dispersion_bias`).

    A witness must not share the bias it bounds. With masked pixels (a weight that
    is an array) both filter strengths zero-fill the same holes before filtering,
    and a bias from them is common to both; the spline fit weighs the holes out of
    the images as given instead, so its bound counts too, the larger standing. So
    where the tapers cross a whole axis (``compared.tapered_through``): both
    strengths weigh that axis by the same taper, and the Fourier model's better fit
    is no sign of band-limited data there (8 x 120 real pairs 0.5 px apart across:
    every strength 0.08-0.11 px off, the verdict clear, errors 0.01 px).
    """
    clear = clear and not compared.tapered_through
    kwargs = {"variance": variance, "basis": basis, "wrap": wrap, "block": max(block // 2, 1)}
    alone = clear and not (witness is not None and witness.apart())
    fit = _fit_pipeline(
        compared, shift, variance=variance, basis=basis, wrap=wrap, curvatures=not alone
    )
    # A displacement that changes across the image (a rotation, a change of scale):
    # the translation's shift is the one where the information lies, not the
    # centre's; no sandwich shows it (see _distortion).
    reference = np.asarray(compared.reference, dtype=np.float64)

    def filled():
        # The filter's zeroed margins step from the image's level (a background's
        # ramp: 4 scene stds across a 64 x 64 frame), and the Fourier shift rings from
        # that step into the pixels that the field's columns weigh most, the edges.
        return _fit_pipeline(
            compared,
            shift,
            variance=variance,
            basis=basis,
            wrap=wrap,
            curvatures=False,
            margins_filled=True,
        )

    field = distortion(
        fit,
        reference,
        shift,
        kwargs["block"],
        wrap=wrap,
        converge=not compared.windowed,
        filled=filled,
    )
    if field.sandwich is not None:
        # The moving image's centre's shift is reported: its noise term is the
        # translation's, inflated as the fits' Hessians say; its sandwich the field
        # fit's (the translation's residual holds the field); its model term the
        # caller's, who holds another model (the translation's would count the field).
        # The translation's residual held the field: the noise term, read from it
        # (estimated) or beyond it (``excess``), scales by the field fit's share of it.
        translation = float(np.sum(fit.weight * fit.residual**2))
        dof = max(float(np.count_nonzero(fit.weight)) - fit.jacobian.shape[-1], 1.0)
        share = field.misfit / max(translation / dof, 1e-300)
        share = max(share * compared.excess, 1.0) if noise_given else share
        noise = covariance * np.outer(field.inflation, field.inflation) * share
        return noise, field.sandwich, 0 * covariance, field
    bias = field.bias
    if noise_given:
        # A phase error that grows with the frequency, the same in every block (an
        # aliased scene drawn on the pixel grid): every strength shares its bias, and
        # no sandwich shows it (see _dispersion). With the noise estimated, the noise
        # term is read from the residual, which holds that misfit already.
        moving = compared.moving
        if isinstance(compared.moving_weight, np.ndarray):
            moving = fill_invalid(moving, compared.moving_weight > 0)
        third = fourier_third(np.asarray(moving, dtype=np.float64), shift, wrap=wrap)
        bias = bias + dispersion_bias(
            fit.jacobian, fit.residual, fit.weight, third, kwargs["block"]
        )
    kwargs["fit"] = fit
    args = (compared, shift, covariance, kwargs, spline_grid, difference)
    noise, sandwich, terms = _terms(
        *args, alone=alone, clear=clear, witness=witness, noise_given=noise_given
    )
    return noise, sandwich, terms + bias, field


def _terms(
    compared,
    shift,
    covariance,
    kwargs,
    spline_grid,
    difference,
    *,
    alone,
    clear,
    witness,
    noise_given,
):
    """:func:`pipeline_terms`' noise, sandwich and model terms, the field's apart."""
    shared = compared.shared_bias
    if alone:
        sandwich = clear_sandwich(compared, shift, covariance, noise_given=noise_given, **kwargs)
        if compared.excess > 1.0:
            # The noise given is not all the residual holds (see residual_excess): the
            # noise term scaled by it, as an estimated noise would be, counts too.
            sandwich = covariance_envelope(sandwich, covariance * compared.excess)
        if witness is None:
            return covariance, sandwich, 0 * covariance
        return covariance, sandwich, witness.bias(independent=True)
    grid, observed = pipeline_influences(compared, shift, **kwargs)
    sandwich = broader_than_modelled(largest_block_covariance(grid), observed, covariance)
    if clear:
        return covariance, sandwich, witness.bias(independent=True)
    if witness is not None and not shared:
        return covariance, sandwich, witness.bias(independent=False)
    random = largest_block_covariance(spline_grid() - grid)
    spline = difference_beyond_noise(difference, random)
    if witness is None:
        return covariance, sandwich, spline
    return covariance, sandwich, np.maximum(spline, witness.bias(independent=False))
