"""Pixels that one image has and the other has not: hot pixels, cosmic rays, saturation.

Three pieces, each a pure function on arrays, for three stages of the pipeline:

* :func:`saturated` (validate/prepare): the pixels at an image's largest value when
  there are several, and their neighbours. A saturated pixel carries no brightness
  the other image can match, whatever the gain.
* :func:`search_copy` (whole-pixel search only): the image with its brightest and
  darkest ``tail`` of pixels clipped to the quantile there. A hot pixel or a streak
  then weighs no more than the brightest real feature, so the coincidences of
  outliers (hot pixel on hot pixel, streak on star) cannot outvote the thousands of
  pixels that match at the true shift. Real sharp stars keep their place and most of
  their weight: this only levels the top of the brightness scale.
* :func:`clip_residual` (after a first alignment, before the refinement): the pixels
  whose residual ``R - g M' - c`` is more than ``threshold`` robust sigmas from its
  median. It judges a pixel by the other image, not by its neighbours, so a real
  star 1-2 px wide, present in both images, is kept, and an outlier is found
  whatever its shape.

Clipped pixels leave every sum: the degrees of freedom are the weight of the pixels
kept, and the noise estimated from the residual is that of the pixels kept (at a
``threshold`` of 5 or more, clipping removes under 6e-7 of Gaussian noise, and lowers
its variance by less than 1e-5 of itself).
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage

__all__ = ["clip_residual", "dilate", "robust_sigma", "saturated", "search_copy"]

#: MAD to Gaussian sigma.
MAD_SIGMA = 1.482602218505602


def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    """``mask`` dilated by ``pixels`` along every axis and diagonal."""
    if pixels <= 0 or not mask.any():
        return mask
    structure = scipy.ndimage.generate_binary_structure(mask.ndim, mask.ndim)
    return scipy.ndimage.binary_dilation(mask, structure, iterations=int(pixels))


def saturated(image, *, min_pixels: int = 3, grow: int = 0) -> np.ndarray:
    """The pixels at the image's largest finite value, if ``min_pixels`` or more are.

    A detector clips at its full well, so saturated pixels share one value, the
    image's largest; a single pixel at the maximum is just the brightest. The mask
    is grown by ``grow`` pixels: charge bleeds into the neighbours of a saturated
    pixel, and its flux there is unreliable too.

    Parameters
    ----------
    image : array_like
        Any dimension.
    min_pixels : int
        Pixels at the maximum needed to call it saturation.
    grow : int
        Pixels added around each saturated one.

    Returns
    -------
    numpy.ndarray of bool
        True where saturated.

    Examples
    --------
    >>> image = np.arange(25.0).reshape(5, 5)
    >>> int(saturated(image).sum()), int(saturated(np.minimum(image, 20.0), grow=0).sum())
    (0, 5)
    """
    image = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(image)
    if not finite.any():
        return np.zeros(image.shape, dtype=bool)
    top = image[finite].max()
    mask = image == top
    if np.count_nonzero(mask) < int(min_pixels):
        return np.zeros(image.shape, dtype=bool)
    return dilate(mask, grow)


def search_copy(image: np.ndarray, valid: np.ndarray | None = None, *, tail: float = 0.01):
    """A copy of ``image`` with its outer ``tail`` of values clipped, for the search only.

    Parameters
    ----------
    image : numpy.ndarray
        The image (not modified).
    valid : numpy.ndarray of bool, optional
        The pixels to take the quantiles over.
    tail : float
        Fraction of pixels clipped at each end (0.01: the top and bottom 1%). Hot
        pixels (0.01-0.05%) and a few short streaks (~0.3% of a 96 px image) fall
        inside it.

    Returns
    -------
    numpy.ndarray
        float64, the values outside the ``tail`` and ``1 - tail`` quantiles set to them.
    """
    values = image if valid is None else image[valid]
    values = values[np.isfinite(values)]
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return np.clip(image, low, high)


def robust_sigma(values: np.ndarray) -> float:
    """The Gaussian sigma of ``values`` from their median absolute deviation."""
    values = np.asarray(values, dtype=np.float64)
    return float(MAD_SIGMA * np.median(np.abs(values - np.median(values))))


def clip_residual(
    residual: np.ndarray,
    valid: np.ndarray,
    *,
    threshold: float = 5.0,
    grow: int = 1,
    model_error: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """The pixels whose residual departs from its median by more than ``threshold``
    robust sigmas, grown by ``grow`` pixels.

    Parameters
    ----------
    residual : numpy.ndarray
        ``R - g M' - c`` on the reference's grid, the moving image aligned by the
        current shift.
    valid : numpy.ndarray of bool
        The pixels where the residual is defined (the overlap, unmasked).
    threshold : float
        In robust sigmas (MAD x 1.4826 over the valid pixels).
    grow : int
        Pixels added around each one: the wings of a cosmic ray or hot pixel, and
        the interpolation's ripple around one in the moving image.
    model_error : numpy.ndarray, optional
        A per-pixel bound on what the alignment itself can leave in the residual
        (the interpolation's error at sharp features), added in quadrature to the
        noise: a sharp real feature present in both images is then kept.

    Returns
    -------
    mask : numpy.ndarray of bool
        True where clipped (on ``residual``'s grid).
    sigma : float
        The robust sigma of the residual.
    """
    values = residual[valid]
    centre = float(np.median(values))
    sigma = robust_sigma(values)
    if not sigma > 0:
        return np.zeros(residual.shape, dtype=bool), sigma
    scale = sigma if model_error is None else np.sqrt(sigma**2 + model_error**2)
    outliers = valid & (np.abs(residual - centre) > threshold * scale)
    return dilate(outliers, grow) & valid, sigma
