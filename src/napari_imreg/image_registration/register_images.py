"""register_images: DFT-upsampled cross-correlation (Guizar-Sicairos), answered by the core."""

from __future__ import annotations

import numbers

import numpy as np

from ..core import apply_shift
from ..core.crosscorr import register_dft
from ._legacy import error_xy, ignore_options, offset_xy

__all__ = ["register_images"]


def register_images(
    im1,
    im2,
    usfac=1,
    return_registered=False,
    return_error=False,
    zeromean=True,
    DEBUG=False,
    maxoff=None,
    nthreads=1,
    use_numpy_fft=False,
):
    """Offset of image 2 from image 1 by the upsampled cross-correlation peak.

    A thin call of :func:`napari_imreg.core.crosscorr.register_dft`.

    Parameters
    ----------
    im1, im2 : np.ndarray
        The images to register (periodic), same shape, any dimension.
    usfac : int
        Upsampling factor: the offset is found on a grid of ``1 / usfac`` pixel.
    return_registered : bool
        Also return `im2` shifted onto `im1` (a periodic Fourier shift).
    return_error : bool
        Also return 1-sigma errors: from the curvature of the correlation peak and the
        noise left at the peak, plus the rounding to the ``1 / usfac`` grid. (The
        reference returned ``1 / usfac``.)
    zeromean : bool
        Subtract each image's mean first.
    DEBUG : bool
        Accepted for compatibility; nothing is printed or plotted.
    maxoff : int, optional
        Largest offset searched, in pixels per axis.
    nthreads : int
        FFT threads.
    use_numpy_fft : bool
        Accepted for compatibility; the core chooses the FFT backend.

    Returns
    -------
    list
        ``[dx, dy]``, then ``[errx, erry]`` if `return_error`, then the registered image if
        `return_registered`. ``dx, dy`` is the offset of `im2` from `im1` (shift `im2` by
        ``(-dx, -dy)`` to match `im1`), the same sign as :func:`chi2_shift`.

    Raises
    ------
    ValueError
        For ``usfac`` that is not an integer >= 1, or mismatched shapes.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.random.default_rng(1).normal(size=(32, 32))
    >>> dx, dy = register_images(image, np.roll(image, (3, -2), axis=(0, 1)), usfac=10)
    >>> dx, dy
    (-2.0, 3.0)
    """
    if isinstance(usfac, bool) or not isinstance(usfac, numbers.Real) or usfac != int(usfac):
        raise ValueError(f"usfac must be an integer >= 1, got {usfac!r}; e.g. usfac=100.")
    if usfac < 1:
        raise ValueError(f"usfac must be an integer >= 1, got {usfac!r}; e.g. usfac=100.")
    ignore_options("register_images", DEBUG=DEBUG or None, use_numpy_fft=use_numpy_fft or None)
    result = register_dft(
        im1,
        im2,
        upsample_factor=int(usfac),
        zero_mean=zeromean,
        max_shift=maxoff,
        threads=nthreads,
    )
    output = offset_xy(result.shift)
    if return_error:
        output += error_xy(result.error, len(result.shift))
    if return_registered:
        moving = np.nan_to_num(np.asarray(im2, dtype=float))
        output.append(apply_shift(moving, result.shift, boundary="wrap", threads=nthreads))
    return output
