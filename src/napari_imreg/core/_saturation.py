"""Saturation: the pixels at an image's full well, and a pair clipped at one level.

* :func:`saturated` (validate/prepare): the pixels at an image's largest value when
  there are several, and their neighbours. A saturated pixel carries no brightness
  the other image can match, whatever the gain.
* :func:`levelled` (after the registration): where either image is saturated, both
  clipped at the lower of their full wells (in the reference's units, through the
  fitted gain) and registered again, so that the pair is a gain apart once more.
"""

from __future__ import annotations

import numpy as np

from ._prepare import box_eroded

__all__ = ["dilate", "levelled", "saturated"]

#: Pixels at an image's largest value that make it a plateau (saturation).
PLATEAU_PIXELS = 3


def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    """``mask`` dilated by ``pixels`` along every axis and diagonal."""
    if pixels <= 0 or not mask.any():
        return mask
    return ~box_eroded(~mask, [2 * int(pixels) + 1] * mask.ndim, outside=True)


def saturated(image, *, min_pixels: int = PLATEAU_PIXELS, grow: int = 0) -> np.ndarray:
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
    count = np.count_nonzero(mask)
    # A constant image is flat, not saturated (the registration says it has no structure).
    if count < int(min_pixels) or count == np.count_nonzero(finite):
        return np.zeros(image.shape, dtype=bool)
    return dilate(mask, grow)


#: Pixels above the common full well by less than this fraction of the reference's
#: standard deviation are left as they are (no second registration for them).
LEVEL_TOLERANCE = 0.01


def levelled(ref, mov, ref_invalid, mov_invalid, scale: float, offset: float):
    """Both images clipped at one full well, in the reference's units, when either
    is saturated (see :func:`saturated`): ``(reference, moving, pixels)`` (new arrays,
    and the pixels at that level in both), or None when neither is saturated or the
    clipping would change nothing.

    Two exposures clipped by one detector are not a gain apart where either clipped:
    the longer one's plateaus are wider, and ``reference ~ scale * moving + offset``
    leaves them in the residual on one side of every plateau, a bias (0.02-0.03 px,
    up to 8 sigma, on 96 px real crops clipped at 1%). Clipped at the lower of the
    two full wells (``scale`` and ``offset`` from a first registration), the pair is
    again a gain apart, and no pixel is lost: masking the plateaus instead loses
    their edges to the filter, and its sub-pixel overlap is that of irregular masks.
    Noiseless binary images whose plateaus look saturated are levelled at their
    own plateau, which changes nothing.
    """
    ref_valid, mov_valid = _valid_values(ref, ref_invalid), _valid_values(mov, mov_invalid)
    (ref_top, sat_ref), (mov_top, sat_mov) = _plateau(ref_valid), _plateau(mov_valid)
    if not (sat_ref or sat_mov) or not scale > 0:
        return None
    level = min(
        ref_top if sat_ref else np.inf,
        scale * mov_top + offset if sat_mov else np.inf,
    )
    mov_level = (level - offset) / scale
    excess = max(ref_top - level, scale * (mov_top - mov_level))
    if not excess > LEVEL_TOLERANCE * float(np.std(ref_valid)):
        return None
    pixels = int(np.count_nonzero(ref_valid >= level) + np.count_nonzero(mov_valid >= mov_level))
    with np.errstate(invalid="ignore"):
        return np.minimum(ref, level), np.minimum(mov, mov_level), pixels


def _valid_values(image: np.ndarray, invalid: np.ndarray) -> np.ndarray:
    """The values of ``image`` outside ``invalid``, flat, in order: a view when none is
    invalid (no copy of a large image for a test that usually finds nothing)."""
    return image.ravel() if not invalid.any() else image[~invalid]


def _plateau(values: np.ndarray) -> tuple[float, bool]:
    """The largest of ``values`` (an image's valid pixels, all finite), and whether it
    is a plateau as :func:`saturated` sees one: shared by ``PLATEAU_PIXELS`` or more,
    not all."""
    if values.size == 0:
        return -np.inf, False
    top = float(values.max())
    count = int(np.count_nonzero(values == top))
    return top, PLATEAU_PIXELS <= count < values.size
