"""register_images: DFT-upsampled cross-correlation (Guizar-Sicairos), answered by the core."""

from __future__ import annotations

import numbers

import numpy as np

from ..core import apply_shift, register_dft
from ._legacy import error_xy, ignore_options, is_real, offset_xy, real_image

__all__ = ["dftregistration", "register_images"]


def _check_usfac(usfac) -> int:
    if isinstance(usfac, bool) or not isinstance(usfac, numbers.Real) or usfac != int(usfac):
        raise ValueError(f"usfac must be an integer >= 1, got {usfac!r}; e.g. usfac=100.")
    if usfac < 1:
        raise ValueError(f"usfac must be an integer >= 1, got {usfac!r}; e.g. usfac=100.")
    return int(usfac)


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

    A thin call of :func:`napari_imreg.core.register_dft`.

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
        noise left at the peak, plus the rounding to the ``1 / usfac`` grid, widened by
        the pull of the images' seams on the periodic peak when they do not wrap
        (:func:`napari_imreg.core.register_dft`, ``errors="residual"``). (The reference
        returned ``1 / usfac``.)
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
    usfac = _check_usfac(usfac)
    ignore_options("register_images", DEBUG=DEBUG or None, use_numpy_fft=use_numpy_fft or None)
    im1, im2 = real_image(im1, "im1"), real_image(im2, "im2")
    result = register_dft(
        im1,
        im2,
        upsample_factor=usfac,
        zero_mean=zeromean,
        max_shift=maxoff,
        errors="residual" if return_error else "fisher",
        threads=nthreads,
    )
    output = offset_xy(result.shift)
    if return_error:
        output += error_xy(result.error, len(result.shift))
    if return_registered:
        moving = np.nan_to_num(np.asarray(im2, dtype=float))
        output.append(apply_shift(moving, result.shift, boundary="wrap", threads=nthreads))
    return output


def dftregistration(
    buf1ft,
    buf2ft,
    usfac=1,
    return_registered=False,
    return_error=False,
    zeromean=True,
    DEBUG=False,
    maxoff=None,
    nthreads=1,
    use_numpy_fft=False,
):
    """Register two images given by their Fourier transforms (Guizar-Sicairos et al.).

    The reference's translation of the authors' MATLAB code, which
    :func:`register_images` called after transforming its images. This transforms back
    and calls :func:`napari_imreg.core.register_dft`; unlike
    :func:`register_images` it answers in numpy order, rows first, as the reference did.

    Parameters
    ----------
    buf1ft, buf2ft : np.ndarray
        Unshifted FFTs (DC at index 0) of the reference image and the image to register,
        real images only.
    usfac : int
        Upsampling factor: the shift is found on a grid of ``1 / usfac`` pixel.
    return_registered : bool
        Also return the FFT of image 2 shifted onto image 1.
    return_error : bool
        Also return the 1-sigma errors per axis: from the curvature of the correlation
        peak plus the rounding to the grid, widened by the seams' pull as in
        :func:`register_images` (the reference returned ``1 / usfac``).
    zeromean : bool
        Accepted for compatibility: as in the reference, the transforms are used as given
        (subtract the means before transforming to remove them).
    DEBUG, nthreads, use_numpy_fft : optional
        Accepted for compatibility; nothing is printed or plotted.
    maxoff : int, optional
        Largest shift searched, in pixels per axis.

    Returns
    -------
    list
        ``[row_shift, col_shift]``: the translation that registers image 2 onto image 1
        (image 2 is image 1 moved by minus this), then ``[row_error, col_error]`` if
        `return_error`, then the registered FFT if `return_registered`.

    Raises
    ------
    ValueError
        For ``usfac`` that is not an integer >= 1, or transforms of complex images.

    References
    ----------
    M. Guizar-Sicairos, S. T. Thurman and J. R. Fienup, "Efficient subpixel image
    registration algorithms", Opt. Lett. 33, 156-158 (2008).

    Examples
    --------
    >>> import numpy as np
    >>> image = np.random.default_rng(1).normal(size=(32, 32))
    >>> moved = np.roll(image, (3, -2), axis=(0, 1))
    >>> [float(v) for v in dftregistration(np.fft.fft2(image), np.fft.fft2(moved), usfac=10)]
    [-3.0, 2.0]
    """
    usfac = _check_usfac(usfac)
    ignore_options(
        "dftregistration",
        zeromean=None if zeromean else zeromean,
        DEBUG=DEBUG or None,
        use_numpy_fft=use_numpy_fft or None,
    )
    images = [np.fft.ifftn(np.asarray(buf)) for buf in (buf1ft, buf2ft)]
    for name, image in zip(("buf1ft", "buf2ft"), images, strict=True):
        if not is_real(image):
            raise ValueError(
                f"{name} is not the Fourier transform of a real image; dftregistration "
                "registers real images (for complex ones, use "
                "skimage.registration.phase_cross_correlation)."
            )
    reference, moving = (image.real for image in images)
    result = register_dft(
        reference,
        moving,
        upsample_factor=usfac,
        zero_mean=False,
        max_shift=maxoff,
        errors="residual" if return_error else "fisher",
        threads=nthreads,
    )
    output = [float(v) for v in result.shift]
    if return_error:
        output += error_xy(result.error, len(result.shift))[::-1]
    if return_registered:
        registered = apply_shift(moving, result.shift, boundary="wrap", threads=nthreads)
        output.append(np.fft.fftn(registered))
    return output
