"""The block sandwich of a least-squares shift with each block's leverage undone, and its
test against the noise term.

A sandwich sums the scores of blocks of pixels. Where a few blocks carry most of the
information (a few bright stars on a dark sky, puncta, a lone blob), the residual at
the fitted shift is pulled towards the model on those blocks, their scores shrink, and
the plain sandwich falls short of the shift's scatter (half of it on five stars).
Bell and McCaffrey's (2002) bias-reduced linearisation scales each block's score by
``(I - H_b H^-1)^(-1/2)``, which makes the sandwich unbiased under the noise model
whatever the leverage (the jackknife's ``(H - H_b)^-1 s_b`` overshoots it 2-4x there).
With few blocks of weight any sandwich is also a noisy estimate: under the noise model
it is spread as a chi-squared of ``n`` degrees of freedom, ``n`` the effective number
of blocks that carry the information, not all of them.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from ._filters import grid_sums
from ._prefilter import FLOOR_CHECK_SIGMA

__all__ = ["adjusted_sandwich", "largest_block", "noise_level", "sandwich_beyond_noise"]

#: Below this leverage a block's adjustment is its binomial series (see
#: :func:`_adjusted_influences`).
SERIES_LEVERAGE = 0.05


def _by_block(values, block: int) -> np.ndarray:
    """``values`` (spatial axes, then one of channels) cut into blocks of ``block``
    pixels along every spatial axis (zero-padded to whole blocks): shape
    ``grid + (pixels per block, channels)``."""
    ndim = values.ndim - 1
    pad = [(0, (-n) % block) for n in values.shape[:-1]] + [(0, 0)]
    if any(h for _, h in pad):
        values = np.pad(values, pad)
    grid = [n // block for n in values.shape[:-1]]
    split = [length for n in grid for length in (n, block)] + [values.shape[-1]]
    order = [*range(0, 2 * ndim, 2), *range(1, 2 * ndim, 2), 2 * ndim]
    return values.reshape(split).transpose(order).reshape(*grid, block**ndim, values.shape[-1])


def _block_parts(jacobian, residual, weight, block: int):
    """Per block of ``block`` pixels along every axis: the scores ``sum w r J`` and
    the Gauss-Newton Hessians ``sum w J J^T`` (flattened), as grids (``grid + (p,)``
    and ``grid + (p * p,)``)."""
    p = jacobian.shape[-1]
    weighted = np.swapaxes(_by_block(jacobian * weight[..., None], block), -1, -2)
    scores = weighted @ _by_block(residual[..., None], block)
    hessians = weighted @ _by_block(jacobian, block)
    grid = hessians.shape[:-2]
    return scores.reshape(*grid, p), hessians.reshape(*grid, p * p)


def _adjusted_influences(hessian, parts, scores):
    """Each block's influence with its leverage undone, Bell and McCaffrey's (2002)
    bias-reduced ``H^-1 (I - H_b H^-1)^(-1/2) s_b`` (``parts``: the blocks' ``H_b``,
    ``scores``: their ``s_b``), as ``S (I - M_b)^(-1/2) S s_b`` with the symmetric
    ``S = H^(-1/2)`` and ``M_b = S H_b S``.

    A block of little leverage (the trace of ``M_b``, which bounds its eigenvalues,
    below :data:`SERIES_LEVERAGE`) takes the binomial series to its third term,
    exact to ``5/16 l^3`` (4e-5); the others the eigenvalues of ``M_b``. A block
    that holds all the information on some direction (an eigenvalue of 1) is taken
    at a thousandth of it left.
    """
    p = hessian.shape[0]
    values, vectors = np.linalg.eigh(hessian)
    root = (vectors / np.sqrt(np.maximum(values, 1e-300 * values.max()))) @ vectors.T
    # S H_b S, the right product as one matrix product over every block's rows.
    shares = root @ (parts.reshape(-1, p) @ root).reshape(parts.shape)
    moved = scores @ root
    once = np.einsum("bij,bj->bi", shares, moved)
    adjusted = moved + 0.5 * once + 0.375 * np.einsum("bij,bj->bi", shares, once)
    heavy = np.trace(shares, axis1=1, axis2=2) > SERIES_LEVERAGE
    if np.any(heavy):
        leverage, axes = np.linalg.eigh(shares[heavy])
        scale = 1.0 / np.sqrt(np.maximum(1.0 - leverage, 1e-3))
        turned = np.einsum("bji,bj->bi", axes, moved[heavy]) * scale
        adjusted[heavy] = np.einsum("bij,bj->bi", axes, turned)
    return adjusted @ root


def adjusted_sandwich(jacobian, residual, weight, block: int):
    """The bias-reduced block covariance of the shift (the first ``residual.ndim``
    parameters) over blocks of ``block`` pixels and of two and four times that:
    the largest (the blocks must hold the residual's correlation, as in
    :func:`~._pipeline_residual.largest_block_covariance`), and at that size the
    effective number of blocks that carry the information on each axis.

    Each block's influence is ``H^-1 (I - H_b H^-1)^(-1/2) s_b`` (``H``
    Gauss-Newton's Hessian ``sum w J J^T``, ``H_b`` and ``s_b`` the block's share of
    it and its scores: :func:`_adjusted_influences`), the covariance
    ``sum_b i_b i_b^T`` over the blocks with pixels. Under the noise model block
    ``b``'s plain influence has the variance ``v_b = (H^-1 H_b H^-1)_kk`` on axis
    ``k``, and the effective number of blocks is ``(sum_b v_b)^2 / sum_b v_b^2``.
    """
    ndim, p = residual.ndim, jacobian.shape[-1]
    scores, parts = _block_parts(jacobian, residual, weight, block)
    hessian = parts.reshape(-1, p, p).sum(axis=0)
    # The columns of H^-1 for the shift: block b's influence has the variance
    # a_k^T H_b a_k on axis k under the noise model.
    shift_rows = np.linalg.pinv(hessian)[:, :ndim]
    best = None
    for level in range(3):
        if level:
            scores, parts = grid_sums(scores, 2), grid_sums(parts, 2)
        flat_scores = scores.reshape(-1, p)
        flat_parts = parts.reshape(-1, p, p)
        held = np.any(flat_parts.reshape(-1, p * p) != 0, axis=1)
        if level and np.count_nonzero(held) < 4:
            break
        flat_scores, flat_parts = flat_scores[held], flat_parts[held]
        influences = _adjusted_influences(hessian, flat_parts, flat_scores)[:, :ndim]
        covariance = influences.T @ influences
        if best is None or np.trace(covariance) > np.trace(best[0]):
            moved = (flat_parts.reshape(-1, p) @ shift_rows).reshape(-1, p, ndim)
            shares = np.sum(shift_rows * moved, axis=1)
            effective = np.sum(shares, axis=0) ** 2 / np.maximum(np.sum(shares**2, axis=0), 1e-300)
            best = (covariance, effective)
    return best


def block_covariances(grid: np.ndarray):
    """``(G/(G-1) sum_b i_b i_b^T, G, i)`` over a grid of per-block influences ``i_b``
    (spatial axes, then the parameters), at its blocks and at blocks two and four
    times larger while at least 4 are left: each size's covariance, its number of
    blocks ``G`` and the influences of its blocks with pixels (rows)."""
    ndim = grid.shape[-1]
    for level in range(3):
        if level:
            grid = grid_sums(grid, 2)
        sums = grid.reshape(-1, ndim)
        sums = sums[np.any(sums != 0, axis=1)]
        if level and len(sums) < 4:
            return
        groups = max(len(sums), 2)
        yield sums.T @ sums * groups / (groups - 1), groups, sums


def largest_block(grid: np.ndarray) -> tuple[np.ndarray, int]:
    """Of :func:`block_covariances`, the one of largest trace, and its number of
    blocks (see :func:`~._pipeline_residual.largest_block_covariance`)."""
    best, count = None, 0
    for covariance, groups, _ in block_covariances(grid):
        if best is None or np.trace(covariance) > np.trace(best):
            best, count = covariance, groups
    return best, count


def noise_level(residual, weight, base, block: int, filtered: float) -> float:
    """The residual's typical power over the noise that ``weight`` states: the median,
    over the blocks of ``block`` pixels that are at least half weighted, of
    ``sum w r^2 / sum base`` (``weight = base / variance``), divided by the variance
    of the filtered noise per unit of the raw noise's (``filtered``); 1 when no block
    is.

    A noise level misstated alike in every pixel raises every block's power by one
    factor and the sandwich with it; a misfit or a photon noise concentrated on the
    few features that carry the shift raises the sandwich, not the median block.
    """
    sums = grid_sums(np.stack([weight * residual**2, base], -1), block).reshape(-1, 2)
    full = sums[:, 1] >= 0.5 * block**residual.ndim
    if not np.any(full):
        return 1.0
    return float(np.median(sums[full, 0] / sums[full, 1])) / filtered


def difference_beyond_noise(difference, covariance) -> np.ndarray:
    """A bias from the ``difference`` of two estimates: its square beyond its noise
    (the diagonal of ``covariance``), per axis, as a diagonal covariance.

    >>> difference_beyond_noise(np.array([0.3, 0.1]), np.diag([0.04, 0.04])).round(4).tolist()
    [[0.05, 0.0], [0.0, 0.0]]
    """
    return np.diag(np.maximum(np.asarray(difference) ** 2 - np.diag(covariance), 0.0))


def sandwich_beyond_noise(sandwich, effective, covariance, level: float = 1.0) -> np.ndarray:
    """``sandwich`` where it exceeds the noise term ``covariance``, taken at the
    residual's ``level`` (at least 1), beyond what its sampling under the noise model
    allows on some axis; else zeros.

    Under the noise model the sandwich on an axis is a sum of squared Gaussian block
    influences of unequal variances: Satterthwaite's scaled chi-squared with
    ``n`` (the ``effective`` blocks) degrees of freedom. It counts beyond that
    distribution's upper tail at :data:`~._prefilter.FLOOR_CHECK_SIGMA` standard
    normal deviations (the floor check's test): 2x the noise term at 50
    effective blocks, 9x at 2.5 (a lone bright star's).

    >>> sandwich_beyond_noise(np.diag([8.0, 1.0]), np.array([50.0, 50.0]), np.eye(2)).tolist()
    [[8.0, 0.0], [0.0, 1.0]]
    >>> sandwich_beyond_noise(np.diag([8.0, 1.0]), np.array([2.5, 2.5]), np.eye(2)).tolist()
    [[0.0, 0.0], [0.0, 0.0]]
    """
    freedom = np.maximum(effective, 1.0)
    tail = special.chdtri(freedom, special.ndtr(-FLOOR_CHECK_SIGMA)) / freedom
    if np.any(np.diag(sandwich) > max(level, 1.0) * np.diag(covariance) * tail):
        return sandwich
    return np.zeros_like(covariance)
