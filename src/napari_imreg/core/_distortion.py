"""Whether the residual holds a displacement that changes across the image (a rotation,
a change of scale), and the error it puts on the shift at the image's centre.

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
camera or a field), each with blocks of one, two and four times the edge. The bias
below takes the largest covariance (the most conservative, on the fewest blocks),
but on a small image that is as few as 16 blocks, where a test of ``ndim**2`` slopes
has little power: a 0.3-2 degree turn of a 61 x 61 real pair went unseen (F of 4
and 12 degrees of freedom, p = 0.01) while its shift lay 0.06-0.18 px from the
centre's at errors of 0.005-0.008 px. A false alarm costs little: the bias counts
only beyond its own noise. Where the field is significant, the centre's shift ``a``
less the translation's is a bias the error must hold: its square beyond that
difference's own block variance (the bound the floor check's witness gives,
:meth:`~._pipeline_residual.Witness.bias`).
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.special

from ._filters import grid_sums
from ._leverage import block_covariances, largest_block

__all__ = ["ALPHA", "distortion_bias", "extended_step"]

#: The test's false-alarm rate: the tilt test's (:data:`~._background.ALPHA`, which
#: this module cannot import: the background test sits above the residual stage). A
#: false alarm costs little: the bias counts only beyond its own noise.
ALPHA = 1e-3


def _field_design(jacobian, ndim: int) -> np.ndarray:
    """``jacobian``'s columns, then the shift's columns times each coordinate from the
    centre (over the axis' length): the Jacobian of a displacement linear in the
    place. Made in one array (the columns written where they go, not stacked and
    then joined)."""
    shape, p = jacobian.shape[:ndim], jacobian.shape[-1]
    coordinates = [
        ((np.arange(n) - (n - 1) / 2) / n).reshape([-1 if a == axis else 1 for a in range(ndim)])
        for axis, n in enumerate(shape)
    ]
    design = np.empty((*jacobian.shape[:-1], p + ndim * len(coordinates)))
    design[..., :p] = jacobian
    for column, (k, u) in enumerate(itertools.product(range(ndim), coordinates), start=p):
        np.multiply(jacobian[..., k], u, out=design[..., column])
    return design


def _hotelling_p_value(slopes, covariance, blocks: int) -> float:
    """The p-value of Hotelling's ``T^2`` of ``slopes`` with a covariance from
    ``blocks`` clusters, as an F of ``(q, blocks - q)`` degrees of freedom."""
    q = len(slopes)
    if blocks <= q + 1:
        return 1.0
    try:
        wald = float(slopes @ np.linalg.solve(covariance, slopes))
    except np.linalg.LinAlgError:
        return 1.0
    statistic = wald * (blocks - q) / (q * (blocks - 1))
    return float(scipy.special.fdtrc(q, blocks - q, max(statistic, 0.0)))


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


def _significant(slopes, influences, shape) -> bool:
    """Whether the field's ``slopes`` (with their per-block ``influences``) stand out,
    whole or in their similarity part, at blocks of any of three sizes (six tests
    sharing :data:`ALPHA`)."""
    similar = _similarity_contrasts(shape)
    for covariance, blocks in block_covariances(influences):
        if blocks < 4:
            break
        tests = ((slopes, covariance), (similar @ slopes, similar @ covariance @ similar.T))
        for values, spread in tests:
            if _hotelling_p_value(values, spread, blocks) < ALPHA / 6:
                return True
    return False


def distortion_bias(jacobian, residual, weight, block: int) -> np.ndarray:
    """The bias of the translation's shift against the shift at the image's centre,
    where the residual holds a significant linear displacement field; else zeros.

    Parameters
    ----------
    jacobian : numpy.ndarray
        The translation model's Jacobian at its shift, one column per parameter
        (the shift's ``ndim`` first), last axis.
    residual, weight : numpy.ndarray
        The model's residual and weights at that shift.
    block : int
        The smallest block edge of the cluster-robust covariance (blocks of two
        and four times that are tried too: the largest covariance stands).

    Returns
    -------
    numpy.ndarray
        ``(ndim, ndim)``, diagonal: ``max(D**2 - V, 0)`` per axis, ``D`` the
        centre's shift less the translation's and ``V`` its block variance, where
        the field is significant; else zeros.
    """
    ndim = residual.ndim
    difference, slopes, influences, covariance, _ = extended_step(
        _field_design(jacobian, ndim), jacobian.shape[-1], residual, weight, block
    )
    if not _significant(slopes, influences, residual.shape):
        return np.zeros((ndim, ndim))
    return np.diag(np.maximum(difference**2 - np.diag(covariance), 0.0))


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
