"""Whether the residual holds a displacement that changes across the image (a rotation,
a change of scale), and if so the shift at the moving image's centre and its error.

A translation fitted to a pair that also turned or changed scale between the
exposures reports the displacement where the information lies, weighted by it: the
displacement at the centroid of the image's gradients, not at its centre. Where a few
features carry the shift off the centre, the two differ by the rotation times their
distance. The block sandwich cannot show it: the misfit is the same linear field in
every block, and the scores of a least-squares shift sum to nil over the whole image
(docs/how-it-works-errors.md, "A rotation or a change of scale").

The test fits the displacement as a linear field about the centre, ``d(x) = a + A u``
(``u`` the pixel's place from the centre over the image's length), one Gauss-Newton
step from the pipeline's fit at its shift: the ``ndim**2`` columns of ``A`` are the
shift's columns times each coordinate. ``A`` is judged by Hotelling's test with its
cluster-robust covariance over blocks of the extended fit's residual, at the tilt
test's false-alarm rate (:data:`ALPHA`) shared among six tests: the whole field and
its similarity part alone (a turn in each plane and a change of scale, what turns a
camera or a field), each with blocks of one, two and four times the edge: the
largest blocks alone are as few as 16 on a small image, where a test of ``ndim**2``
slopes has little power (a 0.3-2 degree turn of a 61 x 61 real pair went unseen, F
of 4 and 12 degrees of freedom, p = 0.01, while its shift lay 0.06-0.18 px from the
centre's at errors of 0.005-0.008 px). Where the field is significant, the shift
reported is the moving image's centre's.

The one step undershoots a turn of a degree or more: the moving image's curvature
over a displacement of a pixel at the corners (0.07 of 0.18 px on a clock pair
turned by 2 degrees). So the field is then fitted to convergence (:func:`centre_fit`):
Gauss-Newton on ``gain * m(x - a - A u) + background``, ``m`` and its gradients the
pipeline's moving image moved by its shift, resampled at each step by cubic splines
(exact at the pixels). The shift reported is the centre's from that fit itself. The
translation alone, converged with the same splines, only judges whether the centre
stands apart from the translation beyond its noise: under a turn the translation's
shift is where the weights put the information, and the stage's weights are not the
pipeline's, so the centre less that translation, added to the pipeline's shift,
carried their difference (0.01-0.06 px on binned real 128 x 128 pairs turned 1-2
degrees, as large without noise, at errors of 0.005-0.01 px). The moving image's
centre lands where ``x - d(x)`` is its centre (the
window's shift of a turned crop; the reference's centre moves by the turn times the
shift more). Its error: the field fit's block sandwich of the centre's influences,
the pipeline's noise term inflated by the ratio of the centre's to the translation's
variance in the two fits' Hessians and scaled by the field fit's share of the
translation's misfit, and a bias bound from the same fit on the images as given (no
filter: :meth:`Distortion.bias`), the analogue of the spline's. A false alarm costs
a correction within its own noise, which the error holds.

The converged fit runs only where its model can hold: not on a window (its slopes
carried to a centre far off), not on a periodic pair (a turn breaks the period),
only where the field stands with each test's degrees of freedom its effective
blocks, how many blocks its evidence comes from (a displacement that changes across
the image moves every textured block; the aliased edges of a few flat shapes are a
misfit of a few blocks: :func:`_field_p_value`), and, where the pipeline's fit shows
the field, only if the same fit with the moving image's zeroed filter margins filled
shows it too (the Fourier shift's ringing from those margins weighs most at the
edges, as a field's columns do). And the converged centre stands only where its
field is mostly a turn and a change of scale (:func:`_mostly_similar`): the edges of
a clipped face move with the clip, and a few such edges read as a stretch along one
axis that the blocks hold as firmly as a turn. Where the field is significant but
not so, the one step's bias stands, as where nothing converges.

One step undershoots a turn of degrees: on a motion-blurred clock under photon noise
(400 counts), turned 3 degrees, it read a turn of 1 degree at p = 3e-4, short of the
test's level, and the translation's shift, 0.4 px from the moving image's centre,
stood at errors of 0.03-0.05 px. So a field that stands out at :data:`SCREEN` only is
converged and tested again, with the converged fit's slopes and influences, at
:data:`ALPHA` (:func:`_confirmed`). That test is not at its level (the converged fit
follows a misfit too), so where it stands the shift stays the translation's, and the
converged centre's distance from it counts as a bias.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.special
from scipy import ndimage

from ._filters import grid_sums
from ._leverage import block_covariances, difference_beyond_noise, largest_block
from ._prefilter import FLOOR_CHECK_SIGMA

__all__ = ["ALPHA", "Distortion", "distortion", "extended_step"]

#: The test's false-alarm rate: the tilt test's (:data:`~._background.ALPHA`, which
#: this module cannot import: the background test sits above the residual stage). A
#: false alarm costs little: the bias counts only beyond its own noise.
ALPHA = 1e-3


#: The converged fit stops when no pixel's displacement moves by more than this.
TOLERANCE = 1e-4
#: At most this many Gauss-Newton steps of the converged fit.
MAX_STEPS = 12
#: The converged centre stands only where the field's part that is no turn or change
#: of scale is below this share of the rest (see :func:`_mostly_similar`).
SIMILAR = 0.5

#: The level at which the one step's field is converged and tested again (at
#: :data:`ALPHA`): one step undershoots a turn of degrees.
SCREEN = 0.05


@dataclass(frozen=True)
class Distortion:
    """The shift at the moving image's centre less the pipeline's (``correction``,
    zeros where the field is not significant); where it is, the centre's shift itself
    (``centre``, in the fit's frame), its per-block influences (``moves``), their
    block sandwich (``sandwich``), the centre less the translation converged with the
    same splines (``apart``) and the block covariance of its random part
    (``spread``), the factor by which the centre's noise error exceeds the
    translation's, per axis (``inflation``), the converged fit's weighted squared
    residual per degree of freedom (``misfit``) and its field's gradient in pixels
    per pixel (``slopes``), and the converged slopes (in pixels per axis length) with
    their per-block influences, for the field's test (``tested``). Where the field is
    significant but ``apart`` within its noise: none, and the one step's difference
    beyond its noise as a bias (``bias``)."""

    correction: np.ndarray
    centre: np.ndarray | None = None
    moves: np.ndarray | None = None
    sandwich: np.ndarray | None = None
    spread: np.ndarray | None = None
    inflation: np.ndarray | None = None
    misfit: float = 1.0
    bias: np.ndarray | None = None
    apart: np.ndarray | None = None
    slopes: np.ndarray | None = None
    tested: tuple | None = None

    @classmethod
    def none(cls, ndim: int) -> Distortion:
        """No significant field: nothing to correct."""
        return cls(np.zeros(ndim), bias=np.zeros((ndim, ndim)))

    def bound(self, other: Distortion) -> np.ndarray:
        """A bound on the centre's bias from ``other``, the centre's shift by a model
        whose bias differs: their squared difference beyond its random part (the
        block variance of the difference of their influences), per axis."""
        random, _ = largest_block(other.moves - self.moves)
        return difference_beyond_noise(other.centre - self.centre, random)


def _coordinates(shape) -> list[np.ndarray]:
    """Each pixel's place from the centre over the axis' length, per axis (broadcast)."""
    ndim = len(shape)
    return [
        ((np.arange(n) - (n - 1) / 2) / n).reshape([-1 if a == axis else 1 for a in range(ndim)])
        for axis, n in enumerate(shape)
    ]


def _field_design(jacobian, ndim: int) -> np.ndarray:
    """``jacobian``'s columns, then the shift's columns times each coordinate from the
    centre (over the axis' length): the Jacobian of a displacement linear in the
    place. Made in one array (the columns written where they go, not stacked and
    then joined)."""
    shape, p = jacobian.shape[:ndim], jacobian.shape[-1]
    coordinates = _coordinates(shape)
    design = np.empty((*jacobian.shape[:-1], p + ndim * len(coordinates)))
    design[..., :p] = jacobian
    for column, (k, u) in enumerate(itertools.product(range(ndim), coordinates), start=p):
        np.multiply(jacobian[..., k], u, out=design[..., column])
    return design


def _hotelling_p_value(slopes, covariance, blocks: float) -> float:
    """The p-value of Hotelling's ``T^2`` of ``slopes`` with a covariance from
    ``blocks`` clusters (or as many effective clusters), as an F of
    ``(q, blocks - q)`` degrees of freedom."""
    q = len(slopes)
    if blocks <= q + 1:
        return 1.0
    try:
        wald = float(slopes @ np.linalg.solve(covariance, slopes))
    except np.linalg.LinAlgError:
        return 1.0
    statistic = wald * (blocks - q) / (q * (blocks - 1))
    return float(scipy.special.fdtrc(q, blocks - q, max(statistic, 0.0)))


def _effective_blocks(scores, covariance) -> float:
    """How many of the blocks the evidence of a test comes from: each block's share
    ``d_b = i_b^T C^-1 i_b`` of the Wald statistic's scale (``scores`` the blocks'
    influences ``i_b``, rows; ``covariance`` their ``C``), and ``(sum d_b)^2 / sum
    d_b^2``: the blocks' number where all weigh alike, fewer where a few carry it."""
    shares = np.einsum("bi,ij,bj->b", scores, np.linalg.pinv(covariance), scores)
    return float(shares.sum() ** 2 / max(float(np.sum(shares**2)), 1e-300))


def _similarity_contrasts(shape) -> np.ndarray:
    """The rows that take a field's slopes (``A[k, u]`` in the order of
    :func:`_field_design`, in pixels per axis length) to its similarity part: the
    change of scale ``sum_k A[k, k] / n_k`` and, for each plane ``(i, j)``, the turn
    ``A[i, j] / n_j - A[j, i] / n_i`` (both in pixels per pixel)."""
    ndim = len(shape)
    rows = [np.diag(1.0 / np.asarray(shape, dtype=np.float64))]
    for i in range(ndim):
        for j in range(i + 1, ndim):
            turn = np.zeros((ndim, ndim))
            turn[i, j], turn[j, i] = 1.0 / shape[j], -1.0 / shape[i]
            rows.append(turn)
    return np.stack([row.ravel() for row in rows])


def _field_p_value(slopes, influences, shape, *, effective: bool = False) -> float:
    """The smallest p-value of the field's ``slopes`` (with their per-block
    ``influences``), whole or in their similarity part, at blocks of any of three
    sizes: six tests, so the field stands at a level ``alpha`` where this is below
    ``alpha / 6``. ``effective``: with each test's degrees of freedom its effective
    blocks (:func:`_effective_blocks`), not their count.

    A displacement that changes across the image moves every textured block, and the
    cluster-robust covariance's F reference holds where the blocks weigh alike. Where
    a few blocks carry the evidence, the covariance rests on those few: binned crops
    of the Shepp-Logan phantom, a pure translation, read the aliased misfit at the
    edges of its few flat shapes as a turn of 0.8-1.4 degrees at p = 1e-10 to 4e-6
    over 144-256 blocks, 7-31 of them effective (p = 5e-4 to 0.01 at best
    counted so)."""
    similar = _similarity_contrasts(shape)
    smallest = 1.0
    for covariance, blocks, scores in block_covariances(influences):
        if blocks < 4:
            break
        tests = ((slopes, covariance, scores), (similar @ slopes, None, scores @ similar.T))
        for values, spread, rows in tests:
            spread = similar @ covariance @ similar.T if spread is None else spread
            count = min(blocks, _effective_blocks(rows, spread)) if effective else blocks
            smallest = min(smallest, _hotelling_p_value(values, spread, count))
    return smallest


def _mostly_similar(slopes) -> bool:
    """Whether the displacement's gradient ``slopes`` (pixels per pixel) is mostly a
    turn and a change of scale: its symmetric traceless part (a stretch along one
    axis against another, a shear) below :data:`SIMILAR` of the rest in Frobenius
    norm.

    A turned camera or slide, a changed focus or plate scale, move an image by a
    turn and a change of scale: on binned real pairs turned by 0.3-3 degrees or
    zoomed by 1-2 % the converged fields' share is 0.01-0.06 (medians), at most 0.32
    under Gaussian noise and 0.61 (one pair turned by 0.3 degree) under Poisson
    noise. The clock clipped at one full well, a pure translation, read its clipped
    face's edges as a stretch along one axis: 0.86."""
    ndim = len(slopes)
    symmetric = (slopes + slopes.T) / 2
    other = symmetric - np.trace(slopes) / ndim * np.eye(ndim)
    return bool(np.linalg.norm(other) <= SIMILAR * np.linalg.norm(slopes - other))


def _sampled(coefficients, displacement, start):
    """Each cubic B-spline's ``coefficients`` at ``x - displacement(x)``, ``x`` every
    pixel, and where that lies inside the moving image moved by ``start``."""
    shape = coefficients[0].shape
    places = np.indices(shape, dtype=np.float64)
    places -= np.stack(np.broadcast_arrays(*displacement))
    values = [
        ndimage.map_coordinates(c, places, order=3, mode="mirror", prefilter=False)
        for c in coefficients
    ]
    view = (-1,) + (1,) * len(shape)
    moved = places - np.reshape(start, view)
    inside = np.all((moved >= 0) & (moved <= np.reshape(shape, view) - 1), axis=0)
    return values, inside


def _converged(coefficients, reference, weight, basis, start, *, field: bool):
    """Gauss-Newton to convergence on the model ``gain * m(x - s - A u) + background``
    (``A`` nil unless ``field``), ``m`` and its gradients the moving image's cubic
    splines at the pipeline's shift (``coefficients``: its value's first), the gain
    and background solved at each step: ``s``, ``A`` (``ndim x ndim``, rows the
    displacement's axes), the Jacobian (the shift's columns, the gain's, the
    background's, then the field's as :func:`_field_design`), the residual and the
    weight (``weight`` on the pixels whose model lies inside the moving image, which
    ``start`` moved)."""
    shape, ndim, base = reference.shape, reference.ndim, weight
    places = _coordinates(shape)
    shift, slopes = np.zeros(ndim), np.zeros((ndim, ndim))
    for _ in range(MAX_STEPS):
        displacement = [
            shift[k] + sum(slopes[k, j] * places[j] for j in range(ndim)) for k in range(ndim)
        ]
        (value, *gradients), inside = _sampled(coefficients, displacement, start)
        weight = base * inside
        columns = [value, *basis]
        stacked = np.stack(columns, -1).reshape(-1, len(columns))
        weighted = stacked * weight.reshape(-1, 1)
        solution = np.linalg.lstsq(
            weighted.T @ stacked, weighted.T @ reference.ravel(), rcond=None
        )[0]
        residual = reference - (stacked @ solution).reshape(shape)
        moved = [-solution[0] * g for g in gradients]
        jacobian = np.stack(moved + columns, -1)
        if field:
            jacobian = _field_design(jacobian, ndim)
        q = jacobian.shape[-1]
        wj = (jacobian * weight[..., None]).reshape(-1, q)
        step = np.linalg.lstsq(
            wj.T @ jacobian.reshape(-1, q), wj.T @ residual.ravel(), rcond=None
        )[0]
        turn = step[q - ndim * ndim :].reshape(ndim, ndim) if field else np.zeros((ndim, ndim))
        # The largest move of any pixel's displacement (the places reach half a length).
        if np.max(np.abs(step[:ndim]) + 0.5 * np.abs(turn).sum(1)) < TOLERANCE:
            break
        shift, slopes = shift + step[:ndim], slopes + turn
    return shift, slopes, jacobian, residual, weight


class _FieldStep(NamedTuple):
    """The one step's field (see :func:`_tested_step`)."""

    difference: np.ndarray  #: the shift's move against the translation's own step
    covariance: np.ndarray  #: its block covariance
    stands: bool  #: the field stands at ALPHA over its blocks
    firm: bool  #: and over each test's effective blocks too


def _tested_step(fit, block: int) -> _FieldStep | None:
    """:func:`extended_step` of the linear field from ``fit`` (see :func:`distortion`):
    where the field stands out at :data:`SCREEN`, the shift's move, its block
    covariance, whether the field stands at :data:`ALPHA` (``stands``) and, if so,
    whether with each test's effective blocks too (``firm``: see
    :func:`_field_p_value`); else None."""
    ndim = fit.residual.ndim
    design = _field_design(fit.jacobian, ndim)
    difference, slopes, influences, covariance, _ = extended_step(
        design, fit.jacobian.shape[-1], fit.residual, fit.weight, block
    )
    shape = fit.residual.shape
    p_value = _field_p_value(slopes, influences, shape)
    if not p_value < SCREEN / 6:
        return None
    stands = p_value < ALPHA / 6
    firm = stands and _field_p_value(slopes, influences, shape, effective=True) < ALPHA / 6
    return _FieldStep(difference, covariance, stands, firm)


def _firm(fit, block: int) -> bool:
    """Whether the field from ``fit`` stands with each test's effective blocks."""
    step = _tested_step(fit, block)
    return step is not None and step.firm


def _centre_of(clean, reference, start, block: int) -> tuple[Distortion, bool]:
    """:func:`centre_fit` from the pipeline's fit ``clean`` (its moving image moved
    by ``start`` and gradients, its background's columns), and whether its centre
    lies apart from the translation beyond its noise."""
    ndim = clean.residual.ndim
    jacobian, p = clean.jacobian, clean.jacobian.shape[-1]
    moved = (jacobian[..., ndim], clean.gradients)
    basis = [jacobian[..., k] for k in range(ndim + 1, p)]
    found = centre_fit(moved, reference, clean.weight, basis, start, block)
    return found, bool(np.any(found.apart**2 > FLOOR_CHECK_SIGMA**2 * np.diag(found.spread)))


def distortion(
    fit, reference, start, block: int, *, wrap: bool, converge: bool = True, filled=None
):
    """The shift at the moving image's centre less the translation's ``start``, where
    the residual holds a significant linear displacement field (see the module); else
    :meth:`Distortion.none`.

    Parameters
    ----------
    fit
        The pipeline's fit at ``start``: its ``jacobian`` (the shift's columns, the
        gain's, the background's, last axis), ``residual``, ``weight`` and
        ``gradients`` (the moving image's, moved by ``start``).
    reference : numpy.ndarray
        The reference as the pipeline compared it, in the fit's units.
    start : numpy.ndarray
        The pipeline's shift.
    block : int
        The smallest block edge of the cluster-robust covariances (blocks of two
        and four times that are tried too: the largest covariance stands).
    wrap : bool
        The images are periodic: the one step's bias only. A displacement that
        changes across a periodic pair breaks its period, so a significant field
        there is a misfit of another kind (binned real crops registered as
        periodic: the seam's misfit read as slopes of a pixel per length, and the
        converged centre 0.75 px off the truth, 8 of its errors).
    converge : bool
        Whether the images are whole (not a window): the converged fit finds the
        centre of what it sees, and a window's slopes, carried to an image's centre
        far off, would carry their noise with them (a 4 x 4096 window of a 4 x 50000
        pair: 0.006 px off at errors of 0.002 px). Else the one step's bias only.
    filled : callable, optional
        The pipeline's fit again, its moving image's zeroed margins filled
        (:func:`~._filters.fill_invalid`): where the field is significant on ``fit``
        and would be converged, the test is asked again of it, and the converged
        fit starts from it; the bias, where nothing converges, stays ``fit``'s.
        The Fourier shift of the moving image rings from the step at its margins
        into the pixels that the field's columns weigh most, the edges: under a
        tilted background (4 scene stds across a binned real 64 x 64 frame) that
        read as a change of scale, and the converged centre moved the answer by
        0.047 px, three of the translation's errors (filled, the field is not
        significant).

    Returns
    -------
    Distortion
    """
    ndim = fit.residual.ndim
    step = _tested_step(fit, block)
    if step is None:
        return Distortion.none(ndim)
    if not step.stands:
        # Standing at SCREEN only: one step undershoots a turn of degrees, so the
        # converged field is asked, where it can be converged (a bias only).
        if converge and not wrap:
            return _confirmed(fit, reference, start, block, filled)
        return Distortion.none(ndim)
    # Significant: the one step above undershoots a turn of a degree or more (the
    # image's own curvature over a displacement of pixels): converge, from a fit
    # whose field stands without the margins' ringing.
    # Converged only where the field stands with its effective blocks too (not the
    # aliased edges of a few flat shapes), on the fit and on the filled fit.
    firm = converge and not wrap and step.firm
    clean = fit if filled is None or not firm else filled()
    if firm and (clean is fit or _firm(clean, block)):
        found, apart = _centre_of(clean, reference, start, block)
        if apart and _mostly_similar(found.slopes):
            return found
    # A window, a periodic pair, a field that the margins' ringing made, a field
    # that is no turn or change of scale (a clipped face's edges), or a correction
    # within its own noise (a false alarm, or a misfit of another kind: saturated
    # cores): the shift stays the translation's, and the pipeline's one step's
    # difference counts beyond its noise, as a bias.
    return Distortion(
        np.zeros(ndim), bias=difference_beyond_noise(step.difference, step.covariance)
    )


def _confirmed(fit, reference, start, block: int, filled) -> Distortion:
    """Where the one step's field stood at :data:`SCREEN` only: the field converged
    (from the filled fit, as in :func:`distortion`) and tested again at :data:`ALPHA`,
    with its count of blocks and with its effective blocks. Where it stands, its
    centre lies apart from the translation beyond its noise and it is mostly a turn
    and a change of scale (:func:`_mostly_similar`), the shift stays the
    translation's and the centre's distance from it, beyond its noise, counts as a
    bias; else :meth:`Distortion.none`.

    The converged field's test is not at its level: the converged fit follows a
    misfit too, and aliased pure translations (the Shepp-Logan phantom, a screenshot,
    a photograph) stood at p = 1e-27 to 1e-10 over their blocks, 1e-13 to 1e-4 over
    their effective blocks (turned clocks: 1e-66 to 1e-30, and 1e-24 to 1e-14).
    Reporting the centre there moved their answers by up to 0.2 px; counting its
    distance keeps them and widens their errors. The fields that were mostly stretch
    or shear (shares 0.7-1.1) lay up to 0.9 px from the translation (a phantom at
    SNR 100, whose error was 0.015 px): they count nothing."""
    ndim = fit.residual.ndim
    found, apart = _centre_of(fit if filled is None else filled(), reference, start, block)
    shape = fit.residual.shape
    stands = all(
        _field_p_value(*found.tested, shape, effective=effective) < ALPHA / 6
        for effective in (False, True)
    )
    if not (stands and apart and _mostly_similar(found.slopes)):
        return Distortion.none(ndim)
    return Distortion(np.zeros(ndim), bias=difference_beyond_noise(found.correction, found.spread))


def extended_step(design, p: int, residual, weight, block: int):
    """One Gauss-Newton step of a model extended beyond its first ``p`` columns (the
    translation's Jacobian, the shift's ``ndim`` first, then its other parameters),
    ``design`` holding all its columns, last axis, from the translation's fit at its
    shift (``residual``, ``weight``).

    Returns the shift's move against the translation's own step (``D``), the extra
    columns' coefficients and their per-block influences (over blocks of ``block``
    pixels), and the largest block covariance of ``D``'s influences (blocks of one,
    two and four times ``block``) with its number of blocks.
    """
    ndim = residual.ndim
    q = design.shape[-1]
    weighted = (design * weight[..., None]).reshape(-1, q)
    hessian = weighted.T @ design.reshape(-1, q)
    inverse = np.linalg.pinv(hessian)
    inverse_translation = np.linalg.pinv(hessian[:p, :p])
    step = inverse @ (weighted.T @ residual.ravel())
    translation_step = inverse_translation @ (weighted[:, :p].T @ residual.ravel())
    difference = step[:ndim] - translation_step[:ndim]
    after = residual - (design.reshape(-1, q) @ step).reshape(residual.shape)
    scores = grid_sums(design * (weight * after)[..., None], block)
    influences = scores @ inverse.T
    translation = (scores[..., :p] @ inverse_translation.T)[..., :ndim]
    covariance, blocks = largest_block(influences[..., :ndim] - translation)
    return difference, step[p:], influences[..., p:], covariance, blocks


def centre_fit(moved, reference, weight, basis, start, block: int):
    """The :class:`Distortion` of the model ``gain * m(x - s - A u) + background``
    converged, ``moved`` the moving image and its gradients moved by ``start`` (any
    interpolation model's, on the reference's grid), and the translation alone
    converged with the same splines, which ``apart`` compares with it (``weight``,
    ``basis`` and ``block`` as in :func:`distortion`)."""
    ndim = reference.ndim
    images = [moved[0], *moved[1]]
    coefficients = [ndimage.spline_filter(image, order=3, mode="mirror") for image in images]
    args = (coefficients, reference, weight, basis, start)
    alone = _converged(*args, field=False)[0]
    shift, slopes, design, after, weight = _converged(*args, field=True)
    p, q = ndim + 1 + len(basis), design.shape[-1]
    weighted = (design * weight[..., None]).reshape(-1, q)
    hessian = weighted.T @ design.reshape(-1, q)
    inverse = np.linalg.pinv(hessian)
    scores = grid_sums(design * (weight * after)[..., None], block)
    influences = scores @ inverse.T
    translation = (scores[..., :p] @ np.linalg.pinv(hessian[:p, :p]).T)[..., :ndim]
    # The displacement is d(x) = a + B (x - c) about the centre c (B: the slopes over
    # each axis' length): the moving image's centre comes from the reference's x
    # with x - c = (I - B)^-1 a, its shift.
    lengths = np.asarray(reference.shape, dtype=np.float64)
    inward = np.linalg.inv(np.eye(ndim) - slopes / lengths)
    landing = inward @ (np.asarray(start, dtype=np.float64) + shift)
    # The centre's shift linearised in the parameters: its per-block influences, and
    # its noise variance over the translation's per axis (the two fits' Hessians).
    linear = np.zeros((ndim, q))
    linear[:, :ndim] = np.eye(ndim)
    for k in range(ndim):
        linear[k, p + k * ndim : p + (k + 1) * ndim] = landing / lengths
    linear = inward @ linear
    moves = influences @ linear.T
    ratio = np.diag(linear @ inverse @ linear.T) / np.diag(np.linalg.pinv(hessian[:p, :p]))[:ndim]
    sandwich, _ = largest_block(moves)
    spread, _ = largest_block(moves - translation)
    dof = max(float(np.count_nonzero(weight)) - q, 1.0)
    return Distortion(
        correction=landing - np.asarray(start),
        apart=landing - (np.asarray(start) + alone),
        centre=landing,
        moves=moves,
        sandwich=sandwich,
        spread=spread,
        inflation=np.sqrt(np.maximum(ratio, 1.0)),
        misfit=float(np.sum(weight * after**2)) / dof,
        slopes=slopes / lengths,
        tested=(slopes.ravel(), influences[..., p:]),
    )
