"""Reprojection and registration of FITS images, answered by the core.

Reprojection needs the optional `reproject` package: ``pip install 'napari-imreg[fits]'``.
"""

from __future__ import annotations

import numpy as np

from ...core import apply_shift
from ...core import fits as core_fits
from .._legacy import core_shift, ignore_options
from ..chi2_shifts import chi2_shift_iterzoom

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


def match_fits(fitsfile1, fitsfile2, header=None, sigma_cut=False, return_header=False, **kwargs):
    """Bring image 2 (and image 1, if `header` is given) onto one grid.

    Parameters
    ----------
    fitsfile1, fitsfile2 : str, HDU or (array, header)
        The reference and the offset image.
    header : astropy.io.fits.Header, optional
        The common grid (default that of `fitsfile1`).
    sigma_cut : bool or float
        Zero pixels below ``sigma_cut`` times the robust noise of each image.
    return_header : bool
        Also return the grid.
    **kwargs
        ``use_mad_std`` (default True) and ``quiet`` are accepted.

    Returns
    -------
    tuple
        ``(image1, image2)`` (+ ``header``).
    """
    use_mad_std = kwargs.pop("use_mad_std", True)
    kwargs.pop("quiet", None)
    if kwargs:
        raise TypeError(f"match_fits() got unexpected keyword argument(s) {sorted(kwargs)}.")
    image1, image2, grid = core_fits.match_images(
        fitsfile1, fitsfile2, header=header, sigma_cut=sigma_cut or None, use_mad_std=use_mad_std
    )
    if return_header:
        return image1, image2, grid
    return image1, image2


def register_fits(
    fitsfile1,
    fitsfile2,
    errfile=None,
    return_error=True,
    register_method=chi2_shift_iterzoom,
    return_cropped_images=False,
    return_shifted_image=False,
    return_header=False,
    **kwargs,
):
    """Offset of FITS image 2 from image 1, in pixels and world units, with errors.

    Image 2 (and `errfile`) are reprojected onto image 1's grid
    (:func:`napari_imreg.core.fits.match_images`), registered with `register_method`, and
    the offsets converted to world units with the grid's pixel scale matrix
    (:func:`napari_imreg.core.fits.pixel_to_world_offset`).

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
        ``cross_correlation_shifts``. The default,
        :func:`chi2_shift_iterzoom`, works here (the reference's raised NameError).
    return_cropped_images : bool
        Also return the two images on the common grid.
    return_shifted_image : bool
        Also return image 2 shifted onto image 1 (periodic Fourier shift).
    return_header : bool
        Also return the common grid.
    **kwargs
        ``sigma_cut``, ``use_mad_std`` and ``quiet`` go to the reprojection step; the rest
        to `register_method`.

    Returns
    -------
    tuple
        ``xoff, yoff`` (pixels of image 1), ``xoff_wcs, yoff_wcs`` (world units per FITS
        axis), then ``exoff, eyoff, exoff_wcs, eyoff_wcs`` if `return_error`, then
        ``proj_image1, proj_image2``, ``shifted_image2`` and ``header`` as requested. The
        offsets are those of image 2 from image 1 (shift image 2 by minus them to match).
        World errors are propagated through the pixel scale matrix and are positive.
    """
    sigma_cut = kwargs.pop("sigma_cut", None)
    use_mad_std = kwargs.pop("use_mad_std", True)
    ignore_options("register_fits", quiet=kwargs.pop("quiet", None))
    image1, image2, header = core_fits.match_images(
        fitsfile1, fitsfile2, sigma_cut=sigma_cut or None, use_mad_std=use_mad_std
    )
    if errfile is not None:
        # only the chi2 methods take an error map; the others can be used without one
        kwargs["err"] = core_fits.reproject_to_header(errfile, header)
    xoff, yoff, exoff, eyoff = register_method(image1, image2, return_error=True, **kwargs)[:4]
    covariance = np.diag([float(eyoff) ** 2, float(exoff) ** 2])
    world, world_error = core_fits.pixel_to_world_offset(header, (yoff, xoff), covariance)
    returns = (float(xoff), float(yoff), float(world[0]), float(world[1]))
    if return_error:
        returns += (float(exoff), float(eyoff), float(world_error[0]), float(world_error[1]))
    if return_cropped_images:
        returns += (image1, image2)
    if return_shifted_image:
        moving = np.nan_to_num(image2)
        returns += (apply_shift(moving, core_shift((xoff, yoff)), boundary="wrap"),)
    if return_header:
        returns += (header,)
    return returns
