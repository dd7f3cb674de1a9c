"""Registering images that carry a world coordinate system (FITS headers).

Three steps, each usable on its own:

1. :func:`header_overlap` builds a header that covers the union (or intersection) of two
   images' footprints, on the finer of their pixel scales;
2. :func:`reproject_to_header` / :func:`match_images` resample images onto one header
   (through the optional `reproject` package, astropy's reprojection library);
3. :func:`register_fits` registers the resampled images with the chi-squared core and
   reports the shift in pixels and in world units, each with its 1-sigma error.

Axis order is numpy's in every array and every pixel shift (``(dy, dx)``). World offsets are
given per FITS axis, in FITS order (``(d world1, d world2)``, e.g. ``(dRA, dDec)`` in
degrees), since that is how headers number them.

The sign of :attr:`FitsRegistration.shift` is the core's: the translation that, applied to
the moving image, registers it onto the reference.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from astropy import stats
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

__all__ = [
    "FitsRegistration",
    "header_overlap",
    "load_data",
    "load_header",
    "match_images",
    "pixel_scale",
    "pixel_to_world_offset",
    "register_fits",
    "reproject_to_header",
]

logger = logging.getLogger(__name__)

_REPROJECT_HINT = (
    "Reprojecting FITS images needs the optional 'reproject' package; install it with "
    "`pip install 'napari-imreg[fits]'` (or `pip install reproject`)."
)


def _require_reproject():
    try:
        import reproject
    except ImportError as exc:  # pragma: no cover - exercised with reproject hidden
        raise ImportError(_REPROJECT_HINT) from exc
    return reproject


def _quiet_wcs(header: fits.Header) -> WCS:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(header)


def _is_path(value: Any) -> bool:
    return isinstance(value, str | os.PathLike) and os.path.exists(value)


def load_header(source) -> fits.Header:
    """Get a FITS header from a header, an HDU, a file, a header text file or a string.

    Parameters
    ----------
    source : Header, mapping, HDU, HDUList, (array, header), str or path-like
        A :class:`~astropy.io.fits.Header` (copied), a mapping of keywords, an
        ``(array, header)`` pair, an HDU or
        HDUList (the first HDU with data), the path of a FITS file (its first image), the
        path of a header text file (as written by ``Header.totextfile``), or the header
        text itself.

    Returns
    -------
    astropy.io.fits.Header
        A new header; `source` is not modified.

    Raises
    ------
    TypeError
        If `source` is none of these.
    ValueError
        If a string is neither an existing file nor parseable header text.

    Examples
    --------
    >>> header = load_header("NAXIS   =                    2\\nNAXIS1  =                   10")
    >>> header["NAXIS1"]
    10
    """
    if isinstance(source, fits.Header):
        return source.copy()
    if _is_pair(source):
        return load_header(source[1])
    if isinstance(source, fits.HDUList):
        return _first_hdu_with_data(source).header.copy()
    if hasattr(source, "header") and isinstance(source.header, fits.Header):
        return source.header.copy()
    if isinstance(source, Mapping):
        return fits.Header(list(source.items()))
    if isinstance(source, str | os.PathLike):
        if _is_path(source):
            try:
                return _read_first_image(source)[1]
            except ValueError:
                pass
            try:
                return fits.Header.fromtextfile(os.fspath(source))
            except Exception as exc:
                raise ValueError(
                    f"source={os.fspath(source)!r} is neither a FITS file nor a header text "
                    f"file ({exc})."
                ) from exc
        text = os.fspath(source)
        separator = "\n" if "\n" in text else ""
        try:
            header = fits.Header.fromstring(text, sep=separator)
        except Exception as exc:
            raise ValueError(
                f"source={text[:40]!r}... is not an existing file and not FITS header text "
                f"({exc}). Pass a path, a Header or an HDU."
            ) from exc
        if not len(header):
            raise ValueError(
                f"source={text[:40]!r} is not an existing file and holds no header card; "
                "check the path."
            )
        return header
    raise TypeError(
        f"source must be a Header, an HDU, an HDUList, a file name or header text, got "
        f"{type(source).__name__}."
    )


def load_data(source) -> np.ndarray:
    """Get an image array from an array, an HDU, an HDUList or a FITS file.

    Parameters
    ----------
    source : ndarray, (array, header), HDU, HDUList, str or path-like
        An array (returned as is), an ``(array, header)`` pair, an HDU, an HDUList (its
        first HDU with data) or the
        path of a FITS file (its first image HDU).

    Returns
    -------
    numpy.ndarray
        The image, numpy axis order.

    Raises
    ------
    TypeError
        If `source` is none of these.
    FileNotFoundError
        If a path does not exist.

    Examples
    --------
    >>> load_data(fits.PrimaryHDU(np.zeros((2, 3)))).shape
    (2, 3)
    """
    if isinstance(source, np.ndarray):
        return source
    if _is_pair(source):
        return np.asarray(source[0])
    if isinstance(source, fits.HDUList):
        return np.asarray(_first_hdu_with_data(source).data)
    if hasattr(source, "data") and isinstance(getattr(source, "data", None), np.ndarray):
        return np.asarray(source.data)
    if isinstance(source, str | os.PathLike):
        if not os.path.exists(source):
            raise FileNotFoundError(f"source={os.fspath(source)!r}: no such file.")
        return _read_first_image(source)[0]
    raise TypeError(
        f"source must be an array, an HDU, an HDUList or a FITS file name, got "
        f"{type(source).__name__}."
    )


def _is_pair(source) -> bool:
    """An ``(array, header)`` tuple, as reproject accepts."""
    return (
        isinstance(source, tuple)
        and len(source) == 2
        and isinstance(source[0], np.ndarray)
        and isinstance(source[1], fits.Header | Mapping | WCS)
    )


def _first_hdu_with_data(hdus: fits.HDUList):
    for hdu in hdus:
        if getattr(hdu, "data", None) is not None and np.ndim(hdu.data) > 0:
            return hdu
    raise ValueError("the HDUList holds no HDU with image data.")


def _read_first_image(path) -> tuple[np.ndarray, fits.Header]:
    from .fits_io import read_fits

    images = read_fits(path)
    chosen = next((image for image in images if image.kind == "image"), images[0])
    return chosen.data, chosen.header.copy()


def _celestial_or_first_two(wcs: WCS) -> WCS:
    if wcs.naxis < 2:
        raise ValueError(
            f"the header has a {wcs.naxis}-axis WCS; image registration needs at least 2 axes."
        )
    return wcs.celestial if wcs.has_celestial else wcs.sub([1, 2])


def pixel_scale(wcs: WCS | fits.Header) -> np.ndarray:
    """The 2x2 matrix of world change per pixel of the first two FITS axes.

    Parameters
    ----------
    wcs : astropy.wcs.WCS or Header
        The world coordinate system (``CDi_j``, or ``PCi_j`` with ``CDELTi``).

    Returns
    -------
    numpy.ndarray
        ``M`` with ``M[i, j] = d world_(i+1) / d pixel_(j+1)``, FITS axis order, in the
        header's world units (usually degrees). A header without rotation has a diagonal
        ``M`` holding ``CDELT1, CDELT2``.

    Examples
    --------
    >>> header = fits.Header({"NAXIS": 2, "CDELT1": -0.5, "CDELT2": 0.25})
    >>> pixel_scale(header)
    array([[-0.5 ,  0.  ],
           [ 0.  ,  0.25]])
    """
    if not isinstance(wcs, WCS):
        wcs = _quiet_wcs(load_header(wcs))
    return np.asarray(_celestial_or_first_two(wcs).pixel_scale_matrix, dtype=float)


def pixel_to_world_offset(
    header: WCS | fits.Header, shift, covariance=None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Convert a pixel shift (numpy order) into world offsets per FITS axis.

    Parameters
    ----------
    header : Header or astropy.wcs.WCS
        The grid the shift was measured on.
    shift : sequence of 2 floats
        ``(dy, dx)`` in pixels.
    covariance : (2, 2) array_like, optional
        The covariance of `shift`, numpy order.

    Returns
    -------
    world : numpy.ndarray
        ``(d world1, d world2)``: ``M @ (dx, dy)`` with ``M`` from :func:`pixel_scale`.
    world_error : numpy.ndarray or None
        The 1-sigma errors of `world` (``sqrt(diag(M C M^T))``), or ``None`` without a
        covariance.

    Examples
    --------
    >>> header = fits.Header({"NAXIS": 2, "CDELT1": -0.5, "CDELT2": 0.25})
    >>> world, _ = pixel_to_world_offset(header, (2.0, 1.0))
    >>> world.tolist()
    [-0.5, 0.5]
    """
    matrix = pixel_scale(header)
    shift = np.asarray(shift, dtype=float)
    if shift.shape != (2,):
        raise ValueError(f"shift must be (dy, dx), got {shift!r}.")
    world = matrix @ shift[::-1]
    if covariance is None:
        return world, None
    cov = np.asarray(covariance, dtype=float)[::-1, ::-1]
    return world, np.sqrt(np.diag(matrix @ cov @ matrix.T))


def header_overlap(
    header1,
    header2,
    *,
    overlap: Literal["union", "intersection"] = "union",
) -> fits.Header:
    """A header whose grid covers the union or intersection of two images' footprints.

    Parameters
    ----------
    header1, header2 : Header or anything :func:`load_header` accepts
        The two images' headers; ``NAXIS1``/``NAXIS2`` give their sizes.
    overlap : {"union", "intersection"}, keyword-only
        Cover both footprints, or only the area they share.

    Returns
    -------
    astropy.io.fits.Header
        A copy of `header1` with the projection and orientation of `header1`, the finer
        of the two pixel scales, and ``NAXIS1/2`` and ``CRPIX1/2`` set so that its pixels
        cover the requested area.

    Raises
    ------
    ValueError
        If `overlap` is unknown, or the intersection is empty.

    Notes
    -----
    The corners of both images (the outer pixel edges) are projected into the pixel grid
    of the new header, and the grid is cropped to their bounding box. Working in that
    projected grid rather than in longitude and latitude makes the result independent of
    where the longitude wraps (0/360 degrees) and correct for rotated headers.

    Examples
    --------
    >>> h = fits.Header({"NAXIS": 2, "NAXIS1": 10, "NAXIS2": 10, "CRPIX1": 1, "CRPIX2": 1,
    ...                  "CDELT1": 1.0, "CDELT2": 1.0, "CTYPE1": "X", "CTYPE2": "Y"})
    >>> h2 = h.copy(); h2["CRPIX1"] = -4
    >>> out = header_overlap(h, h2, overlap="intersection")
    >>> out["NAXIS1"], out["NAXIS2"]
    (5, 10)
    """
    if overlap not in ("union", "intersection"):
        raise ValueError(f"overlap must be 'union' or 'intersection', got {overlap!r}.")
    header1 = load_header(header1)
    header2 = load_header(header2)
    wcs1 = _celestial_or_first_two(_quiet_wcs(header1))
    wcs2 = _celestial_or_first_two(_quiet_wcs(header2))
    scale1 = np.sqrt((wcs1.pixel_scale_matrix**2).sum(axis=0))
    scale2 = np.sqrt((wcs2.pixel_scale_matrix**2).sum(axis=0))
    refine = np.minimum(scale1, scale2) / scale1  # <= 1 per pixel axis of header1

    out = header1.copy()
    new = wcs1.deepcopy()
    if new.wcs.has_cd():
        new.wcs.cd = new.wcs.cd * refine[np.newaxis, :]
    else:
        new.wcs.cdelt = new.wcs.cdelt * refine
    new.wcs.crpix = (np.asarray(wcs1.wcs.crpix) - 0.5) / refine + 0.5

    boxes = []
    for header, wcs in ((header1, wcs1), (header2, wcs2)):
        nx, ny = _size(header, 1), _size(header, 2)
        corners = np.array([[0.5, 0.5], [nx + 0.5, 0.5], [0.5, ny + 0.5], [nx + 0.5, ny + 0.5]])
        world = wcs.all_pix2world(corners, 1)
        pixels = new.all_world2pix(world, 1)
        boxes.append((pixels.min(axis=0), pixels.max(axis=0)))
    if overlap == "union":
        low = np.minimum(boxes[0][0], boxes[1][0])
        high = np.maximum(boxes[0][1], boxes[1][1])
    else:
        low = np.maximum(boxes[0][0], boxes[1][0])
        high = np.minimum(boxes[0][1], boxes[1][1])
        if np.any(high <= low):
            raise ValueError(
                "the two headers' footprints do not intersect; use overlap='union' or check "
                "that both headers use the same coordinate frame."
            )
    tol = 1e-6
    first = np.floor(low + 0.5 + tol)
    last = np.ceil(high - 0.5 - tol)
    naxis = (last - first + 1).astype(int)
    crpix = np.asarray(new.wcs.crpix) - (first - 1)
    for i in (1, 2):
        out.remove(f"CDELT{i}", ignore_missing=True)
        for j in (1, 2):
            out.remove(f"CD{i}_{j}", ignore_missing=True)
            out.remove(f"PC{i}_{j}", ignore_missing=True)
    if new.wcs.has_cd():
        for i in range(2):
            for j in range(2):
                out[f"CD{i + 1}_{j + 1}"] = float(new.wcs.cd[i, j])
    else:
        out["CDELT1"], out["CDELT2"] = (float(v) for v in new.wcs.cdelt[:2])
        pc = new.wcs.get_pc()
        if not np.allclose(pc, np.eye(2)):
            for i in range(2):
                for j in range(2):
                    out[f"PC{i + 1}_{j + 1}"] = float(pc[i, j])
    out["NAXIS1"], out["NAXIS2"] = int(naxis[0]), int(naxis[1])
    out["CRPIX1"], out["CRPIX2"] = float(crpix[0]), float(crpix[1])
    return out


def _size(header: fits.Header, axis: int) -> int:
    key = f"NAXIS{axis}"
    if key not in header:
        raise ValueError(
            f"the header has no {key}; pass the header of an image (with its sizes), "
            "e.g. fits.getheader(path)."
        )
    return int(header[key])


def reproject_to_header(source, header, **kwargs) -> np.ndarray:
    """Resample an image onto the grid of `header` (`reproject.reproject_interp`).

    Parameters
    ----------
    source : str, path-like, HDU or (array, header) tuple
        The image and its WCS.
    header : Header or anything :func:`load_header` accepts
        The target grid; its ``NAXIS1/2`` give the output shape.
    **kwargs
        Passed to :func:`reproject.reproject_interp` (e.g. ``order="bicubic"``).

    Returns
    -------
    numpy.ndarray
        The resampled image, NaN where the target grid lies outside the source.

    Raises
    ------
    ImportError
        If `reproject` is not installed (install the ``napari-imreg[fits]`` extra).
    """
    reproject = _require_reproject()
    header = load_header(header)
    shape_out = (_size(header, 2), _size(header, 1))
    if isinstance(source, str | os.PathLike):
        source = (load_data(source), load_header(source))
    kwargs.setdefault("return_footprint", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        result = reproject.reproject_interp(source, header, shape_out=shape_out, **kwargs)
    return np.asarray(result)


def match_images(
    source1,
    source2,
    *,
    header=None,
    sigma_cut: float | None = None,
    use_mad_std: bool = True,
) -> tuple[np.ndarray, np.ndarray, fits.Header]:
    """Bring two images onto one pixel grid.

    Parameters
    ----------
    source1, source2 : str, path-like, HDU or (array, header)
        The reference and the moving image.
    header : Header, optional, keyword-only
        The common grid. Default: the grid of `source1`, which is then used unchanged.
    sigma_cut : float, optional, keyword-only
        Keep only pixels above ``sigma_cut`` times each image's noise (robust standard
        deviation with `use_mad_std`), zeroing the rest, to register bright structure
        only. If nothing survives in both images, the cut is skipped with a warning.
    use_mad_std : bool, keyword-only
        Estimate the noise with the median absolute deviation instead of the standard
        deviation.

    Returns
    -------
    image1, image2 : numpy.ndarray
        The two images on the common grid (NaN outside a source's footprint).
    header : astropy.io.fits.Header
        The common grid.
    """
    if header is None:
        header = load_header(source1)
        image1 = np.asarray(load_data(source1), dtype=float)
    else:
        header = load_header(header)
        image1 = reproject_to_header(source1, header)
    image2 = reproject_to_header(source2, header)
    if image1.shape != image2.shape:
        raise ValueError(
            f"the reference has shape {image1.shape} but its header describes "
            f"{image2.shape}; fix NAXIS1/NAXIS2 or pass header= explicitly."
        )
    if sigma_cut:
        noise = stats.mad_std if use_mad_std else np.nanstd
        kwargs = {"ignore_nan": True} if use_mad_std else {}
        cut1 = np.where(image1 > sigma_cut * noise(image1, **kwargs), image1, 0.0)
        cut2 = np.where(image2 > sigma_cut * noise(image2, **kwargs), image2, 0.0)
        if np.nansum(cut1 * cut2) == 0:
            warnings.warn(
                f"sigma_cut={sigma_cut} leaves no pixel above the cut in both images; "
                "registering the uncut images.",
                stacklevel=2,
            )
        else:
            image1, image2 = cut1, cut2
    return image1, image2, header


@dataclass(frozen=True)
class FitsRegistration:
    """The result of :func:`register_fits`.

    Attributes
    ----------
    shift : tuple of float
        ``(dy, dx)`` in pixels of `header`: the translation that registers the moving
        image onto the reference.
    error : tuple of float or None
        Its 1-sigma errors (``None`` if the method gives none).
    world_shift : tuple of float
        The same translation in world units per FITS axis, ``(d world1, d world2)``.
    world_error : tuple of float or None
        Its 1-sigma errors.
    result : object
        The full result of the registration method (a ``RegistrationResult``).
    reference, moving : numpy.ndarray
        The two images on the common grid, as registered.
    header : astropy.io.fits.Header
        The common grid.
    """

    shift: tuple[float, ...]
    error: tuple[float, ...] | None
    world_shift: tuple[float, ...]
    world_error: tuple[float, ...] | None
    result: Any
    reference: np.ndarray
    moving: np.ndarray
    header: fits.Header


def register_fits(
    reference,
    moving,
    *,
    error=None,
    header=None,
    sigma_cut: float | None = None,
    method: Callable[..., Any] | None = None,
    **options,
) -> FitsRegistration:
    """Register two images with world coordinates, in pixels and in world units.

    Parameters
    ----------
    reference, moving : str, path-like, HDU or (array, header)
        The two images. `moving` (and `error`) are resampled onto the grid of `reference`
        (or onto `header`).
    error : str, path-like, HDU or (array, header), optional, keyword-only
        The 1-sigma noise map of `moving`, resampled like it.
    header : Header, optional, keyword-only
        A common grid to resample both images onto (see :func:`header_overlap`).
    sigma_cut : float, optional, keyword-only
        See :func:`match_images`.
    method : callable, optional, keyword-only
        ``method(reference, moving, error=..., mask=..., **options)`` (``mask`` True where
        a pixel is to be ignored) returning a result
        with ``shift``, ``error`` and ``covariance``; default
        :func:`napari_imreg.core.register.register`.
    **options
        Passed to `method` (e.g. ``upsample_factor``, ``boundary``).

    Returns
    -------
    FitsRegistration
        Pixel and world shifts with their errors, the images and the grid.

    Notes
    -----
    Pixels that are NaN in either resampled image (outside a footprint) are left out of
    the fit through the mask, and set to zero in the arrays handed to `method`.
    """
    if method is None:
        from ._register import register as method
    image1, image2, header = match_images(reference, moving, header=header, sigma_cut=sigma_cut)
    noise = None if error is None else reproject_to_header(error, header)
    valid = np.isfinite(image1) & np.isfinite(image2)
    if noise is not None:
        valid &= np.isfinite(noise) & (noise > 0)
        noise = np.where(valid, noise, 1.0)
    if not valid.any():
        raise ValueError(
            "the two images share no valid pixel on the common grid; check that their "
            "WCS overlap (header_overlap(..., overlap='intersection'))."
        )
    image1 = np.where(valid, image1, 0.0)
    image2 = np.where(valid, image2, 0.0)
    mask = None if valid.all() else ~valid  # the core's masks mark pixels to ignore
    result = method(image1, image2, error=noise, mask=mask, **options)
    shift = tuple(float(v) for v in result.shift)
    covariance = getattr(result, "covariance", None)
    world, world_error = pixel_to_world_offset(header, shift, covariance)
    pixel_error = getattr(result, "error", None)
    logger.debug("register_fits: shift %s px, world %s", shift, world)
    return FitsRegistration(
        shift=shift,
        error=None if pixel_error is None else tuple(float(v) for v in pixel_error),
        world_shift=tuple(float(v) for v in world),
        world_error=None if world_error is None else tuple(float(v) for v in world_error),
        result=result,
        reference=image1,
        moving=image2,
        header=header,
    )
