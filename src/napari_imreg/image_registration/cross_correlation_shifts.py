"""cross_correlation_shifts: correlation peak + Taylor refinement, answered by the core."""

from __future__ import annotations

import numpy as np

from ..core import _fits as core_fits
from ..core import register_taylor
from ._legacy import (
    check_size,
    check_unknown,
    error_xy,
    ignore_options,
    logger,
    offset_xy,
    real_image,
)
from .FITS_tools.match_images import matched_pair, offsets_on_grid

__all__ = ["cross_correlation_shifts", "cross_correlation_shifts_FITS", "second_derivative"]

# keywords the reference passed on to its FFT convolution; they only changed padding
_CONVOLVE_NO_OPS = frozenset(
    {"boundary", "psf_pad", "fft_pad", "allow_huge", "nan_treatment", "quiet", "nthreads"}
)


def cross_correlation_shifts(
    image1,
    image2,
    errim1=None,
    errim2=None,
    maxoff=None,
    verbose=False,
    gaussfit=False,
    return_error=False,
    zeromean=True,
    **kwargs,
):
    """Offset of image 2 from image 1 by the correlation peak and a Taylor expansion.

    A thin call of :func:`napari_imreg.core.register_taylor`, which repeats the
    second-order Taylor step with exact Fourier derivatives until it converges. This
    removes the reference's +0.5 pixel error on odd-length axes, the 70-110 milli-pixel
    bias of its single finite-difference step, its crash when the peak sits on the array
    edge, and makes ``maxoff`` work.

    Parameters
    ----------
    image1 : np.ndarray
        The reference image.
    image2 : np.ndarray
        The offset image, same shape.
    errim1, errim2 : float or np.ndarray, optional
        1-sigma noise of `image1` and `image2` (maps are reduced to their RMS). If both are
        None, the noise is estimated from the residual at the peak.
    maxoff : int, optional
        Largest offset searched, in pixels per axis.
    verbose : bool
        Log the result at INFO level; nothing is printed.
    gaussfit : bool
        Must be False: Gaussian fitting of the peak (which the reference documentation
        calls biased, and which needed the unavailable ``agpy``) is not provided.
    return_error : bool
        Also return 1-sigma errors from the curvature of the correlation peak (calibrated;
        the reference's were off by a factor of 1.8 or more by its own account), widened
        by the pull of the images' seams on the periodic peak when they do not wrap
        (:func:`napari_imreg.core.register_taylor`, ``errors="residual"``).
    zeromean : bool
        Subtract each image's mean first.
    **kwargs
        The reference passed these to its convolution. ``boundary='wrap'`` and the padding
        options ``psf_pad``, ``fft_pad``, ``nan_treatment``, ``quiet`` and ``nthreads``
        (FFT threads, default 1) are accepted; the correlation here is always periodic, so
        another ``boundary`` raises ValueError, and unknown keywords raise TypeError.
        ``allow_huge=True`` lifts the reference's size guard: without it, images whose
        complex FFT arrays exceed 1 GB raise ValueError.

    Returns
    -------
    tuple
        ``(dx, dy)``, or ``(dx, dy, errx, erry)`` with `return_error`: the offset of
        `image2` from `image1` (shift `image2` by ``(-dx, -dy)`` to match `image1`).

    Examples
    --------
    >>> import numpy as np
    >>> im1 = np.zeros([10, 10])
    >>> im2 = np.zeros([10, 10])
    >>> im1[4, 3] = 1
    >>> im2[5, 5] = 1
    >>> yoff, xoff = cross_correlation_shifts(im1, im2)
    >>> im1_aligned_to_im2 = np.roll(np.roll(im1, round(yoff), 1), round(xoff), 0)
    >>> assert (im1_aligned_to_im2 - im2).sum() == 0
    """
    check_unknown("cross_correlation_shifts", kwargs, _CONVOLVE_NO_OPS)
    if kwargs.get("boundary", "wrap") != "wrap":
        raise ValueError(
            f"boundary={kwargs['boundary']!r} is not available: the correlation is periodic "
            "(boundary='wrap'). For non-periodic images use chi2_shift(..., "
            "boundary='overlap')."
        )
    if gaussfit:
        raise ValueError(
            "gaussfit=True is not supported: Gaussian fits to the correlation peak are biased "
            "(see the reference documentation); use gaussfit=False, or chi2_shift for errors."
        )
    threads = kwargs.pop("nthreads", 1)
    check_size("cross_correlation_shifts", np.shape(image1), kwargs.pop("allow_huge", False))
    ignore_options("cross_correlation_shifts", **kwargs)
    result = register_taylor(
        real_image(image1, "image1"),
        real_image(image2, "image2"),
        error=errim2,
        reference_error=errim1,
        zero_mean=zeromean,
        max_shift=maxoff,
        errors="residual" if return_error else "fisher",
        threads=threads,
    )
    if verbose:
        logger.info("cross_correlation_shifts: %s", result)
    returns = offset_xy(result.shift)
    if return_error:
        returns += error_xy(result.error, len(result.shift))
    return tuple(returns)


def second_derivative(image):
    """Second derivatives of a 2-D image by central differences.

    Pixels beyond the edges count as zero, as in the reference. The mixed derivative has
    the sign of ``d2/dxdy``; the reference's had the opposite sign (its docstring promised
    ``d/dxdy``), which is one cause of the bias of its Taylor step.

    Parameters
    ----------
    image : np.ndarray
        A 2-D array, x along the last axis.

    Returns
    -------
    dxx, dyy, dxy : np.ndarray
        ``d2/dx2``, ``d2/dy2`` and ``d2/dxdy``, each the shape of `image`.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.indices((5, 5), dtype=float)
    >>> dxx, dyy, dxy = second_derivative(3 * xx**2 + yy**2 + 0.5 * xx * yy)
    >>> float(dxx[2, 2]), float(dyy[2, 2]), float(dxy[2, 2])
    (6.0, 2.0, 0.5)
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {image.shape}.")
    # one layer of zeros around the image, then each neighbour is a slice of it
    padded = np.pad(image, 1)

    def at(dy: int, dx: int) -> np.ndarray:
        return padded[1 + dy : padded.shape[0] - 1 + dy, 1 + dx : padded.shape[1] - 1 + dx]

    dxx = at(0, 1) + at(0, -1) - 2 * image
    dyy = at(1, 0) + at(-1, 0) - 2 * image
    dxy = 0.25 * (at(1, 1) + at(-1, -1) - at(1, -1) - at(-1, 1))
    return dxx, dyy, dxy


def cross_correlation_shifts_FITS(
    fitsfile1,
    fitsfile2,
    return_cropped_images=False,
    sigma_cut=False,
    verbose=False,
    register_method=cross_correlation_shifts,
    *,
    quiet=True,
    **kwargs,
):
    """Offset between two FITS images, in pixels and world units.

    The second image is brought onto the first one's grid (without reprojection when the
    grids differ by a translation; otherwise with the optional `reproject` package:
    ``pip install 'napari-imreg[fits]'``), then registered with `register_method`.

    Parameters
    ----------
    fitsfile1, fitsfile2 : str, HDU or (array, header)
        The reference and the offset image.
    return_cropped_images : bool
        Also return the two images as registered.
    sigma_cut : bool or float
        Zero the pixels below ``sigma_cut`` standard deviations before registering.
    verbose : bool
        Passed to `register_method`, which logs its result (nothing is printed).
    register_method : callable
        Any drop-in shift function returning ``(dx, dy, ...)``.
    quiet : bool, keyword-only
        Accepted for compatibility with release 0.2.5, where it stood before `sigma_cut`.
    **kwargs
        Passed to `register_method`.

    Returns
    -------
    tuple
        ``(xoff, yoff, xoff_wcs, yoff_wcs)`` (+ ``(image1, image2)``): the offset of image 2
        from image 1 in pixels of image 1 and in world units per FITS axis.
    """
    ignore_options("cross_correlation_shifts_FITS", quiet=None if quiet else quiet)
    # the reference cut at the plain standard deviation here
    matched, _ = matched_pair(fitsfile1, fitsfile2, sigma_cut=sigma_cut, use_mad_std=False)
    offsets = register_method(
        matched.reference, matched.moving, verbose=verbose, return_error=False, **kwargs
    )
    xoff, yoff = offsets_on_grid(offsets[0], offsets[1], matched)
    world, _ = core_fits.pixel_to_world_offset(matched.wcs, (yoff, xoff))
    returns = (xoff, yoff, float(world[0]), float(world[1]))
    if return_cropped_images:
        returns += (matched.reference, matched.moving)
    return returns
