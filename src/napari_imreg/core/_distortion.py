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
test's false-alarm rate (:data:`ALPHA`). Where it
is significant, the centre's shift ``a`` less the translation's is a bias the error
must hold: its square beyond that difference's own block variance (the bound the
floor check's witness gives, :meth:`~._pipeline_residual.Witness.bias`).
"""

from __future__ import annotations

import numpy as np
import scipy.special

from ._filters import grid_sums
from ._leverage import largest_block

__all__ = ["ALPHA", "distortion_bias"]

#: The test's false-alarm rate: the tilt test's (:data:`~._background.ALPHA`, which
#: this module cannot import: the background test sits above the residual stage). A
#: false alarm costs little: the bias counts only beyond its own noise.
ALPHA = 1e-3


def _field_columns(jacobian, ndim: int) -> np.ndarray:
    """The shift's columns of ``jacobian`` times each coordinate from the centre (over
    the axis' length): the Jacobian of a displacement linear in the place."""
    shape = jacobian.shape[:ndim]
    coordinates = [
        ((np.arange(n) - (n - 1) / 2) / n).reshape([-1 if a == axis else 1 for a in range(ndim)])
        for axis, n in enumerate(shape)
    ]
    columns = [jacobian[..., k] * u for k in range(ndim) for u in coordinates]
    return np.stack(columns, -1)


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
    p = jacobian.shape[-1]
    design = np.concatenate([jacobian, _field_columns(jacobian, ndim)], -1)
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
    field_covariance, blocks = largest_block(influences[..., p:])
    if _hotelling_p_value(step[p:], field_covariance, blocks) >= ALPHA:
        return np.zeros((ndim, ndim))
    translation = (scores[..., :p] @ inverse_translation.T)[..., :ndim]
    covariance, _ = largest_block(influences[..., :ndim] - translation)
    return np.diag(np.maximum(difference**2 - np.diag(covariance), 0.0))
