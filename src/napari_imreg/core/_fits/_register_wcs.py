"""Registering images that carry a world coordinate system: the pointing offset, with errors.

:func:`register_wcs` takes arrays and a WCS each; :func:`register_fits` is the thin wrapper
that reads them from files, HDUs or ``(array, header)`` pairs. The sign of
:attr:`FitsRegistration.shift` is the core's: the translation that, applied to the moving
image, registers it onto the reference.
"""

from __future__ import annotations

import logging
import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from astropy import units as u
from astropy.wcs import WCS

from .._validation import check_choice
from ._grid import pixel_scale
from ._match import match_wcs
from ._sources import load_data, load_wcs

if TYPE_CHECKING:
    from .. import RegistrationResult


logger = logging.getLogger(__name__)


def world_unit(wcs: WCS) -> str:
    """The unit :func:`register_wcs` gives world offsets in: arcsec for angles.

    Examples
    --------
    >>> from astropy.io import fits
    >>> world_unit(load_wcs(fits.Header({"NAXIS": 2, "CTYPE1": "RA---TAN",
    ...                                  "CTYPE2": "DEC--TAN"})))
    'arcsec'
    """
    units = [u.Unit(unit) for unit in wcs.world_axis_units[:2]]
    if all(unit.physical_type == "angle" for unit in units):
        return "arcsec"
    return units[0].to_string()


def _world_scale(wcs: WCS) -> np.ndarray:
    """:func:`pixel_scale` in :func:`world_unit` per pixel."""
    matrix = pixel_scale(wcs)
    if world_unit(wcs) == "arcsec":
        factors = [u.Unit(unit).to(u.arcsec) for unit in wcs.world_axis_units[:2]]
        matrix = matrix * np.asarray(factors)[:, np.newaxis]
    return matrix


@dataclass(frozen=True)
class FitsRegistration:
    """The result of :func:`register_wcs` and :func:`register_fits`.

    Attributes
    ----------
    shift : numpy.ndarray
        ``(dy, dx)`` in pixels of the reference's grid: the translation that, applied to
        the moving image after its WCS has placed it on that grid, registers it onto the
        reference. Zero when the two WCS are right.
    error : numpy.ndarray or None
        Its 1-sigma errors.
    covariance : numpy.ndarray or None
        Its 2x2 covariance (numpy order).
    world_offset : numpy.ndarray
        The same translation on the sky, per FITS axis: ``(d world1, d world2)``, e.g.
        ``(dRA cos(Dec), dDec)`` on the tangent plane, in `world_unit`. This is the
        correction to add to the moving image's world coordinates.
    world_error : numpy.ndarray or None
        Its 1-sigma errors (``sqrt(diag(M C M^T))``).
    world_unit : str
        ``"arcsec"`` for celestial axes, else the WCS's unit of its first axis (``""``
        when it names none).
    result : RegistrationResult
        The core's registration of the two images on the common grid.
    reference, moving : numpy.ndarray
        The two images as registered (NaN where a pixel was left out).
    wcs : astropy.wcs.WCS
        The common grid (the reference's).
    reprojected : bool
        Whether the moving image had to be resampled (grids differing by more than a
        translation); otherwise it was moved by whole pixels.
    """

    shift: np.ndarray
    error: np.ndarray | None
    covariance: np.ndarray | None
    world_offset: np.ndarray
    world_error: np.ndarray | None
    world_unit: str
    result: RegistrationResult
    reference: np.ndarray
    moving: np.ndarray
    wcs: WCS
    reprojected: bool


def register_wcs(
    reference,
    moving,
    reference_wcs: WCS,
    moving_wcs: WCS | None = None,
    *,
    error=None,
    sigma_cut: float | None = None,
    use_mad_std: bool = True,
    boundary: Literal["overlap", "wrap", "auto"] = "overlap",
    **options,
) -> FitsRegistration:
    """Register two images that carry world coordinates: the pointing offset, with errors.

    Parameters
    ----------
    reference, moving : array_like
        2-D images (numpy order).
    reference_wcs : astropy.wcs.WCS
        The reference's grid (:func:`load_wcs` gives it from a header).
    moving_wcs : astropy.wcs.WCS, optional
        The moving image's grid; default: the reference's.
    error : array_like, optional, keyword-only
        The moving image's 1-sigma noise map (or a scalar); estimated if None.
    sigma_cut, use_mad_std : keyword-only
        See :func:`match_wcs`.
    boundary : {"overlap", "wrap", "auto"}, keyword-only
        Real exposures do not wrap around, so the default compares only the overlapping
        pixels; ``"wrap"`` treats them as periodic, as the reference package did;
        ``"auto"`` wraps only when both matched images are shown to (as :func:`register`'s
        default; never where a pixel was left out). ``result.boundary`` says which ran.
    **options
        Passed to :func:`napari_imreg.core.register` (e.g. ``upsample_factor``).

    Returns
    -------
    FitsRegistration
        The shift in pixels of the reference's grid and on the sky, with their errors.

    Raises
    ------
    ValueError
        If the images share no valid pixel on the common grid.
    ImportError
        If the grids differ by more than a translation and `reproject` is not installed.

    Notes
    -----
    Grids that agree, or differ by a pure translation, are handled without `reproject`:
    the moving image is moved by whole pixels, and the fraction left is subtracted from
    the measured shift. NaN pixels, and pixels outside either footprint, are left out.
    The world offset is the pixel shift through the reference's pixel scale matrix at its
    reference pixel.
    """
    from .. import register  # at call time: the core's package imports this module

    boundary = check_choice(boundary, "boundary", ("overlap", "wrap", "auto"))
    scalar = error is None or isinstance(error, numbers.Real)
    noise = error if scalar else None
    matched = match_wcs(
        reference,
        moving,
        reference_wcs,
        moving_wcs,
        error=None if scalar else error,
        sigma_cut=sigma_cut,
        use_mad_std=use_mad_std,
        subpixel_offset=True,
    )
    image1, image2 = matched.reference, matched.moving
    valid = np.isfinite(image1) & np.isfinite(image2)
    if matched.error is not None:
        valid &= np.isfinite(matched.error) & (matched.error > 0)
        noise = np.where(valid, matched.error, 1.0)
    if not valid.any():
        raise ValueError(
            "the two images share no valid pixel on the common grid; check that their "
            "WCS overlap (header_overlap(..., overlap='intersection'))."
        )
    result = register(
        np.where(valid, image1, 0.0),
        np.where(valid, image2, 0.0),
        error=noise,
        mask=None if valid.all() else ~valid,  # the core's masks mark pixels to ignore
        boundary=boundary,
        **options,
    )
    shift = np.asarray(result.shift, dtype=float) - matched.subpixel_offset
    scale = _world_scale(matched.wcs)
    world_error = None
    if result.covariance is not None:
        world_error = np.sqrt(np.diag(scale @ result.covariance[::-1, ::-1] @ scale.T))
    logger.debug("register_wcs: shift %s px", shift)
    return FitsRegistration(
        shift=shift,
        error=result.error,
        covariance=result.covariance,
        world_offset=scale @ shift[::-1],
        world_error=world_error,
        world_unit=world_unit(matched.wcs),
        result=result,
        reference=np.where(valid, image1, np.nan),
        moving=np.where(valid, image2, np.nan),
        wcs=matched.wcs,
        reprojected=matched.reprojected,
    )


def register_fits(
    reference,
    moving,
    *,
    error=None,
    sigma_cut: float | None = None,
    use_mad_std: bool = True,
    boundary: Literal["overlap", "wrap", "auto"] = "overlap",
    **options,
) -> FitsRegistration:
    """Register two FITS images (files, HDUs or ``(array, header)`` pairs).

    Reads the images and their WCS, and calls :func:`register_wcs`.

    Parameters
    ----------
    reference, moving : str, path-like, HDU, HDUList or (array, header)
        The two images with their headers.
    error : same kinds, or float, optional, keyword-only
        The moving image's 1-sigma noise map (or a scalar).
    sigma_cut, use_mad_std, boundary, **options
        See :func:`register_wcs`.

    Returns
    -------
    FitsRegistration
    """
    noise = error if error is None or isinstance(error, numbers.Real) else load_data(error)
    return register_wcs(
        load_data(reference),
        load_data(moving),
        load_wcs(reference),
        load_wcs(moving),
        error=noise,
        sigma_cut=sigma_cut,
        use_mad_std=use_mad_std,
        boundary=boundary,
        **options,
    )
