"""Moving an image by a shift."""

from __future__ import annotations

import numpy as np
import scipy.ndimage

from ._options import BOUNDARIES, Boundary
from ._validation import as_image, check_choice, check_shift
from .fourier import fourier_shift


def apply_shift(
    image,
    shift,
    *,
    boundary: Boundary = "overlap",
    order: int = 3,
    fill_value: float = 0.0,
    threads: int | None = None,
) -> np.ndarray:
    """Resample an image translated by ``shift`` (the content moves by ``+shift``).

    Parameters
    ----------
    image : array_like
        Real image of any dimension; not modified.
    shift : float or sequence of float
        Translation in pixels, numpy axis order; a registration's ``shift``
        applied to the moving image overlays it on the reference.
    boundary : {"overlap", "wrap"}
        ``"wrap"``: exact Fourier shift of a periodic image. ``"overlap"``: spline
        interpolation of order ``order``; pixels that come from outside the image
        are set to ``fill_value``.
    order : int
        Spline order for ``"overlap"`` (0-5).
    fill_value : float
        Value of pixels shifted in from outside (``"overlap"``); NaN is allowed.
    threads : int, optional
        FFT threads for ``"wrap"``.

    Returns
    -------
    numpy.ndarray
        float32 for float32 input, float64 otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros(6)
    >>> image[2] = 1.0
    >>> apply_shift(image, 1, boundary="overlap", order=1)
    array([0., 0., 0., 1., 0., 0.])
    """
    array = as_image(image, "image")
    offsets = check_shift(shift, array.ndim)
    check_choice(boundary, "boundary", BOUNDARIES)
    if isinstance(order, bool) or order not in range(6):
        raise ValueError(f"order must be an integer from 0 to 5, got {order!r}.")
    if array.dtype != np.float32:
        array = array.astype(np.float64)
    if boundary == "wrap":
        return fourier_shift(array, offsets, threads=threads)
    return scipy.ndimage.shift(
        array, offsets, order=order, mode="constant", cval=fill_value, prefilter=order > 1
    )
