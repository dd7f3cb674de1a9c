"""A phase error that grows with the frequency: the bias an aliased scene puts on the
shift, and how to see it in the pipeline's residual.

A sampled scene that is not band-limited (sharp edges binned by the detector, text and
widgets drawn on a pixel grid, undersampled stars) is not moved by a sub-pixel shift
as any interpolation of its samples moves it: near Nyquist the two samplings hold
different aliases, and the phase of their cross-spectrum departs from the shift's
straight line by an amount that grows with the frequency. A translation fitted to
such a pair takes part of that curvature for the shift. Every filter strength and
every interpolant leans on the same content near Nyquist, so they share that bias,
and where every edge sits at the same phase of the pixel grid (a screenshot, a
rendered scene) it is the same in every block: no block sandwich sees it, and the
floor check's two strengths agree (docs/how-it-works-errors.md, "A phase error that
grows with the frequency").

The test fits the phase error's lowest odd order beyond the shift: the pipeline's
model is extended by the moving image's third derivatives (in the frequency domain,
a phase ``k_i k_j k_l``, which a shift's ``k`` cannot absorb), one Gauss-Newton step
from the pipeline's fit at its shift. Where that moves the shift on some axis beyond
its cluster-robust spread at the two-sided level of
:data:`~._prefilter.FLOOR_CHECK_SIGMA` normal sigmas (the floor check's test that a
bias, not the noise or a scattered misfit, sets two estimates apart), the move counts
as a bias beyond its own noise, as the strength witness does
(:meth:`~._pipeline_residual.Witness.bias`): as large seen from either end.

The spread is read from the blocks' scatter, often from only 9 to 36 blocks in a small
image, and a variance from few blocks is often short: on binned real pairs of 26² to
96² with the noise given and dominant (SNR 1-10), a tenth of the moves' block variances
fall below 0.3-0.4 of the variance the weights give them. Against a normal 4 sigma
such a move fired on noise or on a misfit the few blocks' scatter hides, and the true
error was a small part of the move. The level is therefore Student's t on the covariance's
degrees of freedom (its number of blocks less one), as the blur test reads its own
few-ring scatter (:func:`~._blur.blur_match`).
"""

from __future__ import annotations

import numpy as np

from ._distortion import extended_step
from ._prefilter import floor_check_level

__all__ = ["dispersion_bias"]


def dispersion_bias(jacobian, residual, weight, third, block: int) -> np.ndarray:
    """The bias of the translation's shift against the shift with a phase error of the
    third order fitted too, where the two are apart; else zeros.

    Parameters
    ----------
    jacobian : numpy.ndarray
        The translation model's Jacobian at its shift, one column per parameter
        (the shift's ``ndim`` first), last axis.
    residual, weight : numpy.ndarray
        The model's residual and weights at that shift.
    third : numpy.ndarray
        The model's third derivatives along the axes (every combination of three),
        one per column, last axis.
    block : int
        The smallest block edge of the cluster-robust covariance (blocks of two
        and four times that are tried too: the largest covariance stands).

    Returns
    -------
    numpy.ndarray
        ``(ndim, ndim)``, diagonal: ``max(D**2 - V, 0)`` per axis, ``D`` the shift's
        move and ``V`` its block variance, where ``|D|`` exceeds ``t sqrt(V)`` on some
        axis, ``t`` Student's at the two-sided level of
        :data:`~._prefilter.FLOOR_CHECK_SIGMA` normal sigmas on the covariance's
        number of blocks less one; else zeros.
    """
    ndim = residual.ndim
    design = np.concatenate([jacobian, third], -1)
    difference, _, _, covariance, blocks = extended_step(
        design, jacobian.shape[-1], residual, weight, block
    )
    variance = np.diag(covariance)
    level = floor_check_level(int(blocks) - 1)
    if not np.any(difference**2 > level**2 * variance):
        return np.zeros((ndim, ndim))
    return np.diag(np.maximum(difference**2 - variance, 0.0))
