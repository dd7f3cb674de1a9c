"""Reprojection and registration of FITS images, answered by the core.

Images on the same pixel grid, or on grids that differ by a pure translation, need no
reprojection; other grids need the optional `reproject` package
(``pip install 'napari-imreg[fits]'``).
"""

from __future__ import annotations

import numpy as np

from ...core import _fits as core_fits
from ...core import apply_shift
from .._legacy import core_shift, ignore_options, offset_xy
from ..chi2_shifts import chi2_shift, chi2_shift_iterzoom

__all__ = ["match_fits", "project_to_header", "register_fits"]


def project_to_header(fitsfile, header, **kwargs):
    """Reproject an image onto the grid of `header` (``reproject.reproject_interp``).

    Parameters
    ----------
    fitsfile : str, HDU or (array, header)
        The image.
    header : astropy.io.fits.Header
        The target grid.
    **kwargs
        ``quiet`` is accepted; the rest go to ``reproject.reproject_interp``.

    Returns
    -------
    np.ndarray
        The reprojected image (NaN outside the source).

    Raises
    ------
    ImportError
        Without `reproject` (install ``napari-imreg[fits]``).
    """
    kwargs.pop("quiet", None)
    return core_fits.reproject_to_header(fitsfile, header, **kwargs)


def match_fits(
    fitsfile1,
    fitsfile2,
    header=None,
    sigma_cut=False,
    use_mad_std=True,
    return_header=False,
    **kwargs,
):
    """Bring image 2 (and image 1, if `header` is given) onto one grid.

    A thin call of :func:`napari_imreg.core._fits.match_images`: grids that differ by whole
    pixels need no reprojection.

    Parameters
    ----------
    fitsfile1, fitsfile2 : str, HDU or (array, header)
        The reference and the offset image.
    header : astropy.io.fits.Header, optional
        The common grid (default that of `fitsfile1`).
    sigma_cut : bool or float
        Zero pixels below ``sigma_cut`` times the noise of each image, as the reference
        did (NaN pixels stay NaN).
    use_mad_std : bool
        Estimate that noise by the median absolute deviation (else the standard deviation).
    return_header : bool
        Also return the grid.
    **kwargs
        ``quiet`` is accepted.

    Returns
    -------
    tuple
        ``(image1, image2)`` (+ ``header``).
    """
    kwargs.pop("quiet", None)
    if kwargs:
        raise TypeError(f"match_fits() got unexpected keyword argument(s) {sorted(kwargs)}.")
    image1, image2, grid = core_fits.match_images(
        fitsfile1, fitsfile2, header=header, sigma_cut=sigma_cut or None, use_mad_std=use_mad_std
    )
    if return_header:
        return image1, image2, grid
    return image1, image2


def matched_pair(fitsfile1, fitsfile2, errfile=None, *, sigma_cut=None, use_mad_std=True):
    """Both images (and the error map) on image 1's grid, for a registration.

    Returns the core's :class:`~napari_imreg.core._fits.MatchedImages` (its
    ``subpixel_offset`` is for :func:`offsets_on_grid`) and image 1's header.
    """
    header = core_fits.load_header(fitsfile1)
    matched = core_fits.match_wcs(
        core_fits.load_data(fitsfile1),
        core_fits.load_data(fitsfile2),
        core_fits.load_wcs(header),
        core_fits.load_wcs(fitsfile2),
        error=None if errfile is None else core_fits.load_data(errfile),
        sigma_cut=sigma_cut or None,
        use_mad_std=use_mad_std,
        subpixel_offset=True,
    )
    return matched, header


def offsets_on_grid(xoff, yoff, matched) -> list[float]:
    """The offset of image 2 measured on `matched` arrays, as it is on image 1's grid."""
    return offset_xy(np.asarray(core_shift((xoff, yoff))) - matched.subpixel_offset)


def register_fits(
    fitsfile1,
    fitsfile2,
    errfile=None,
    return_error=True,
    register_method=chi2_shift_iterzoom,
    return_cropped_images=False,
    return_shifted_image=False,
    return_header=False,
    sigma_cut=None,
    **kwargs,
):
    """Offset of FITS image 2 from image 1, in pixels and world units, with errors.

    Image 2 (and `errfile`) are brought onto image 1's grid
    (:func:`napari_imreg.core._fits.match_wcs`: without reprojection when the grids differ
    by a translation), registered with `register_method`, and the offsets converted to
    world units with the grid's pixel scale matrix
    (:func:`napari_imreg.core._fits.pixel_to_world_offset`).

    Parameters
    ----------
    fitsfile1, fitsfile2 : str, HDU or (array, header)
        The reference and the offset image.
    errfile : str, HDU or (array, header), optional
        1-sigma noise map of image 2.
    return_error : bool
        Also return the errors.
    register_method : callable
        Any drop-in shift function called as ``register_method(image1, image2,
        return_error=True, **kwargs)`` (plus ``err=`` when `errfile` is given) and returning
        ``(dx, dy, errx, erry)``: the chi2 functions, ``register_images`` or
        ``cross_correlation_shifts``. The default, :func:`chi2_shift_iterzoom`, works
        here (the reference's raised NameError).
    return_cropped_images : bool
        Also return the two images on the common grid.
    return_shifted_image : bool
        Also return image 2 shifted onto image 1 (periodic Fourier shift).
    return_header : bool
        Also return the common grid (image 1's header).
    sigma_cut : bool or float, optional
        Zero pixels below ``sigma_cut`` times each image's noise before registering, as the
        reference did.
    **kwargs
        ``use_mad_std`` (default True) sets how `sigma_cut` estimates the noise; ``quiet``
        is accepted; the rest go to `register_method`. With the chi2 functions,
        ``boundary`` defaults to ``'overlap'`` here: exposures do not wrap around, and the
        reference's periodic default biased real images by several of its errors.
        ``boundary='wrap'`` restores it.

    Returns
    -------
    tuple
        ``xoff, yoff`` (pixels of image 1), ``xoff_wcs, yoff_wcs`` (world units per FITS
        axis, the header's, usually degrees), then ``exoff, eyoff, exoff_wcs, eyoff_wcs``
        if `return_error`, then ``proj_image1, proj_image2``, ``shifted_image2`` and
        ``header`` as requested. The offsets are those of image 2 from image 1 (shift
        image 2 by minus them to match). World errors are propagated through the pixel
        scale matrix and are positive.
    """
    use_mad_std = kwargs.pop("use_mad_std", True)
    ignore_options("register_fits", quiet=kwargs.pop("quiet", None))
    if register_method in (chi2_shift, chi2_shift_iterzoom):
        kwargs.setdefault("boundary", "overlap")
    matched, header = matched_pair(
        fitsfile1, fitsfile2, errfile, sigma_cut=sigma_cut, use_mad_std=use_mad_std
    )
    if matched.error is not None:
        # only the chi2 methods take an error map; the others can be used without one
        kwargs["err"] = matched.error
    measured = register_method(matched.reference, matched.moving, return_error=True, **kwargs)
    exoff, eyoff = measured[2:4]
    xoff, yoff = offsets_on_grid(*measured[:2], matched)
    covariance = np.diag([float(eyoff) ** 2, float(exoff) ** 2])
    world, world_error = core_fits.pixel_to_world_offset(matched.wcs, (yoff, xoff), covariance)
    returns = (xoff, yoff, float(world[0]), float(world[1]))
    if return_error:
        returns += (float(exoff), float(eyoff), float(world_error[0]), float(world_error[1]))
    if return_cropped_images:
        returns += (matched.reference, matched.moving)
    if return_shifted_image:
        moving = np.nan_to_num(matched.moving)
        returns += (apply_shift(moving, core_shift(measured[:2]), boundary="wrap"),)
    if return_header:
        returns += (header,)
    return returns
