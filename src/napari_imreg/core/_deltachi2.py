"""The delta-chi2 map around the minimum, and the levels of its contours."""

from __future__ import annotations

import numpy as np
import scipy.special
import scipy.stats

#: Samples on each side of the minimum in the returned delta-chi2 map.
MAP_HALF_WIDTH = 7


def delta_chi2_levels(ndim: int, sigmas=(1, 2, 3)) -> tuple[float, ...]:
    """The delta-chi2 bounding the joint regions of ``ndim`` shift components.

    The region of ``n`` sigma holds the probability a Gaussian gives to ``|x| < n``
    (68.3%, 95.4%, 99.7%); for ``ndim`` parameters its delta-chi2 is the chi2
    quantile with ``ndim`` degrees of freedom (2.30, 6.18, 11.83 in 2-D).

    Examples
    --------
    >>> [round(level, 2) for level in delta_chi2_levels(2)]
    [2.3, 6.18, 11.83]
    """
    if isinstance(ndim, bool) or int(ndim) != ndim or ndim < 1:
        raise ValueError(f"ndim must be a positive integer, got {ndim!r}.")
    coverage = scipy.special.erf(np.asarray(sigmas, dtype=np.float64) / np.sqrt(2.0))
    return tuple(float(level) for level in scipy.stats.chi2.ppf(coverage, int(ndim)))


def slice_covariance(covariance, axes: int = 2) -> np.ndarray | None:
    """The covariance of the last ``axes`` shift components with the others held at
    their best values: the one whose delta-chi2 contours are those of the map's slice
    through its minimum (the inverse of the inverted covariance's block); None when
    ``covariance`` is singular.

    Examples
    --------
    >>> slice_covariance(np.diag([4.0, 1.0, 2.0])).tolist()
    [[1.0, 0.0], [0.0, 2.0]]
    """
    full = np.asarray(covariance, dtype=np.float64)
    with np.errstate(all="ignore"):
        try:
            return np.linalg.inv(np.linalg.inv(full)[-axes:, -axes:])
        except np.linalg.LinAlgError:
            return None


def delta_chi2_map(surface, shift, f_min, scale, sigma, upsample_factor):
    """The map of chi2 minus its minimum on ``2 MAP_HALF_WIDTH + 1`` samples per axis
    around ``shift``, ``upsample_factor`` per pixel (``"auto"``: fine enough for the
    3-sigma region): ``(factor, coords, delta)``."""
    if upsample_factor == "auto":
        widest = float(np.max(sigma)) if np.all(np.isfinite(sigma)) else 0.5
        factor = int(np.clip(np.ceil(MAP_HALF_WIDTH / (3.0 * max(widest, 1e-6))), 1, 10**6))
    else:
        factor = upsample_factor
    offsets = (np.arange(2 * MAP_HALF_WIDTH + 1) - MAP_HALF_WIDTH) / factor
    coords = tuple(s + offsets for s in shift)
    delta = (surface.values(coords) - f_min) * scale
    return factor, coords, delta
