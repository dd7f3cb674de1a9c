"""Conversions between the core's conventions and the reference package's.

The core speaks numpy axis order and registration sign: ``shift`` is the translation that
registers the moving image onto the reference. The reference package reports ``(dx, dy)``,
x first, as the offset of image 2 from image 1 (shift image 2 by minus these to match
image 1): the same numbers reversed and negated. Every drop-in function converts through
:func:`offset_xy` exactly once.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger("napari_imreg.image_registration")


def offset_xy(shift) -> list[float]:
    """The reference's ``[dx, dy, ...]`` from a core shift ``(..., dy, dx)``."""
    return [-float(v) for v in np.asarray(shift, dtype=float)[::-1]]


def error_xy(error, ndim: int = 2) -> list[float]:
    """Per-axis errors in x-first order; ``inf`` where the core computed none."""
    if error is None:
        return [float("inf")] * ndim
    return [float(v) for v in np.asarray(error, dtype=float)[::-1]]


def core_shift(offsets_xy) -> tuple[float, ...]:
    """The core shift ``(..., dy, dx)`` from the reference's ``(dx, dy, ...)`` offsets."""
    return tuple(-float(v) for v in reversed(list(offsets_xy)))


def ignore_options(function: str, **options) -> None:
    """Log options that are accepted for compatibility but change nothing here."""
    used = {k: v for k, v in options.items() if v is not None}
    if used:
        logger.debug("%s: options without effect here: %s", function, used)


def check_unknown(function: str, kwargs: dict, allowed: frozenset[str] = frozenset()) -> None:
    """Raise a TypeError for keyword arguments the function does not know."""
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise TypeError(
            f"{function}() got unexpected keyword argument(s) {unknown}; see "
            f"help(napari_imreg.image_registration.{function}) for the accepted options."
        )


# astropy's convolve_fft, which the reference ran its correlations through, refuses arrays
# above 1 GB unless allow_huge=True; the drop-in keeps that guard so scripts fail the same way.
_HUGE_BYTES = 1e9
_COMPLEX_BYTES = np.dtype(complex).itemsize


def check_size(function: str, shape, allow_huge: bool, *, padded: bool = False) -> None:
    """Raise the reference's ValueError for FFT arrays above 1 GB unless `allow_huge`.

    The reference's correlations held complex arrays of the image shape (``'wrap'``) or,
    with the other boundaries, of twice it per axis (zero padding).
    """
    fft_shape = tuple(2 * n for n in shape) if padded else tuple(shape)
    nbytes = float(np.prod(fft_shape, dtype=float)) * _COMPLEX_BYTES
    if nbytes > _HUGE_BYTES and not allow_huge:
        raise ValueError(
            f"{function}(): images of shape {tuple(shape)} need FFT arrays of "
            f"{nbytes / 1e9:.2f} GB, above the 1 GB that image_registration refuses without "
            "allow_huge; pass allow_huge=True to register them anyway, or bin the images "
            "first (fft_tools.downsample)."
        )


#: An imaginary part this small next to the real part is round-off (an inverse FFT's), not
#: data: such a complex image is its real part.
IMAGINARY_ROUND_OFF = 1e-8


def is_real(image: np.ndarray) -> bool:
    """Whether a complex array's imaginary part is round-off next to its real part."""
    imaginary = float(np.abs(image.imag).max(initial=0.0))
    return not imaginary > IMAGINARY_ROUND_OFF * float(np.abs(image.real).max(initial=0.0))


def real_image(image, name: str):
    """``image``, or the real part of a complex one whose imaginary part is round-off.

    The reference ran complex input through its FFTs; an array from ``np.fft.ifft2`` of a
    real image's transform is such an input. A complex image with a real imaginary part
    raises a ``TypeError`` that names it: the registration of two real images is not
    defined for it.
    """
    if not np.iscomplexobj(image):
        return image
    array = np.asarray(image)
    if not is_real(array):
        raise TypeError(
            f"{name} is complex ({array.dtype}) and its imaginary part is not zero; the "
            f"registration needs real images. Pass np.abs({name}) or {name}.real explicitly."
        )
    return array.real


def as_error_map(err):
    """The reference's ``err``: zero or negative entries of a map mean "ignore this pixel"."""
    if err is None or np.ndim(err) == 0:
        return err
    err = np.asarray(err, dtype=float)
    if not np.any(err > 0):
        raise ValueError(
            "err has no positive entry: entries that are zero, negative or NaN mark pixels "
            "to ignore, so none would be left. Pass the 1-sigma noise of each pixel, or "
            "err=None to estimate the noise from the data."
        )
    if np.any(err <= 0):
        err = np.where(err > 0, err, np.nan)
    return err
