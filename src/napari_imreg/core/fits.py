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
import numbers
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from astropy import stats
from astropy import units as u
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from ._validation import check_choice

if TYPE_CHECKING:
    from . import RegistrationResult

__all__ = [
    "FitsRegistration",
    "MatchedImages",
    "header_overlap",
    "load_data",
    "load_header",
    "load_wcs",
    "match_images",
    "match_wcs",
    "pixel_scale",
    "pixel_to_world_offset",
    "register_fits",
    "register_wcs",
    "reproject_to_header",
    "world_unit",
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
    from .fits_io import image_hdu

    return image_hdu(hdus)


def _read_first_image(path) -> tuple[np.ndarray, fits.Header]:
    from .fits_io import read_fits_image

    image = read_fits_image(path)
    return image.data, image.header.copy()


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


# How far (in pixels) the grid of one image may stray from a pure translation of the
# other's and still be placed on it without resampling: well below the smallest errors the
# core reports (about 1e-3 px at the highest signal-to-noise).
_TRANSLATION_TOLERANCE = 1e-4


def load_wcs(source) -> WCS:
    """The 2-D world coordinate system of an image: its celestial axes, or its first two.

    Parameters
    ----------
    source : WCS, Header or anything :func:`load_header` accepts
        Where the header is.

    Returns
    -------
    astropy.wcs.WCS
        A 2-axis WCS, pixel axes in FITS order (x first).

    Raises
    ------
    ValueError
        If the WCS has fewer than two axes.

    Examples
    --------
    >>> header = fits.Header({"NAXIS": 2, "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN"})
    >>> load_wcs(header).wcs.ctype[0]
    'RA---TAN'
    """
    wcs = source if isinstance(source, WCS) else _quiet_wcs(load_header(source))
    return _celestial_or_first_two(wcs)


def _pixel_translation(
    reference_wcs: WCS, moving_wcs: WCS, moving_shape: tuple[int, int]
) -> np.ndarray | None:
    """``t`` (numpy order) with reference pixel = moving pixel + t, or None if not a translation.

    The corners and centre of the moving image are carried through the sky (SkyCoord, so
    differing celestial frames are handled) onto the reference's pixel grid.
    """
    ny, nx = moving_shape
    x = np.array([0.0, nx - 1, 0.0, nx - 1, (nx - 1) / 2])
    y = np.array([0.0, 0.0, ny - 1, ny - 1, (ny - 1) / 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        world = moving_wcs.pixel_to_world(x, y)
        world = world if isinstance(world, list | tuple) else [world]
        x_ref, y_ref = (np.asarray(v, dtype=float) for v in reference_wcs.world_to_pixel(*world))
    moves = np.stack([y_ref - y, x_ref - x], axis=1)
    if not np.all(np.isfinite(moves)):
        return None
    if np.ptp(moves, axis=0).max() > _TRANSLATION_TOLERANCE:
        return None
    return moves.mean(axis=0)


def _place(image: np.ndarray | None, translation: np.ndarray, shape: tuple[int, int]):
    """`image` moved by the whole pixels `translation` onto a grid of `shape` (NaN elsewhere)."""
    if image is None:
        return None
    out = np.full(shape, np.nan)
    target, source = [], []
    for n_out, n_in, move in zip(shape, image.shape, translation.astype(int), strict=True):
        start, stop = max(move, 0), min(n_in + move, n_out)
        if start >= stop:
            return out
        target.append(slice(start, stop))
        source.append(slice(start - move, stop - move))
    out[tuple(target)] = image[tuple(source)]
    return out


def _cut(image1: np.ndarray, image2: np.ndarray, sigma_cut: float, use_mad_std: bool):
    """The reference's sigma cut: keep pixels above ``sigma_cut`` noise, zero the rest.

    NaN pixels (outside a footprint) stay NaN. If no finite pixel survives in both images
    the cut is skipped with a warning, as the reference did.
    """

    def noise(image):
        return stats.mad_std(image, ignore_nan=True) if use_mad_std else np.nanstd(image)

    cut1 = image1 * (image1 > sigma_cut * noise(image1))
    cut2 = image2 * (image2 > sigma_cut * noise(image2))
    if np.nansum(cut1 * cut2) == 0:
        warnings.warn(
            f"sigma_cut={sigma_cut} leaves no pixel above the cut in both images; "
            "registering the uncut images.",
            stacklevel=3,
        )
        return image1, image2
    return cut1, cut2


@dataclass(frozen=True)
class MatchedImages:
    """Two images on one pixel grid, as :func:`match_wcs` returns them.

    Attributes
    ----------
    reference, moving : numpy.ndarray
        The images on the grid of `wcs` (NaN outside a footprint), float64.
    error : numpy.ndarray or None
        The moving image's noise map on the same grid, if one was given.
    wcs : astropy.wcs.WCS
        The common grid: the reference's.
    subpixel_offset : numpy.ndarray
        ``(dy, dx)``: where the moving image's grid was moved by whole pixels only, the
        fraction of a pixel by which its pixels still sit off the common grid. A
        registration shift measured on these arrays includes it; subtract it. Zero when
        the images were resampled or the grids agree to a whole pixel.
    reprojected : bool
        Whether the moving image was resampled (by `reproject`).
    """

    reference: np.ndarray
    moving: np.ndarray
    error: np.ndarray | None
    wcs: WCS
    subpixel_offset: np.ndarray
    reprojected: bool


def match_wcs(
    reference,
    moving,
    reference_wcs: WCS,
    moving_wcs: WCS | None = None,
    *,
    error=None,
    sigma_cut: float | None = None,
    use_mad_std: bool = True,
    subpixel_offset: bool = False,
) -> MatchedImages:
    """Bring a moving image onto the pixel grid of a reference, both given with a WCS.

    Parameters
    ----------
    reference, moving : array_like
        2-D images (numpy order).
    reference_wcs : astropy.wcs.WCS
        The reference's grid (see :func:`load_wcs`).
    moving_wcs : astropy.wcs.WCS, optional
        The moving image's grid; default: the same as the reference's.
    error : array_like, optional, keyword-only
        The moving image's 1-sigma noise map, moved like it.
    sigma_cut : float, optional, keyword-only
        Keep only pixels above ``sigma_cut`` times each image's noise (robust standard
        deviation with `use_mad_std`), zeroing the rest, as the reference package did.
    use_mad_std : bool, keyword-only
        Estimate that noise by the median absolute deviation (else the standard deviation).
    subpixel_offset : bool, keyword-only
        For grids that differ by a pure translation with a fractional part: move by whole
        pixels and report the fraction in :attr:`MatchedImages.subpixel_offset` (for a
        registration, which can subtract it) instead of resampling.

    Returns
    -------
    MatchedImages

    Raises
    ------
    ImportError
        If the grids differ by more than a translation and `reproject` is not installed.
    ValueError
        For images that are not 2-D, or an error map of another shape than `moving`.

    Notes
    -----
    Grids that agree, or differ by a pure translation (the same projection and pixel
    scale, another reference pixel), need no resampling: the moving image is moved by
    whole pixels. Other grids are resampled with `reproject` (bilinear).
    """
    reference = np.asarray(reference, dtype=float)
    moving = np.asarray(moving, dtype=float)
    for name, image in (("reference", reference), ("moving", moving)):
        if image.ndim != 2:
            raise ValueError(f"{name} must be a 2-D image, got shape {image.shape}.")
    noise = None if error is None else np.asarray(error, dtype=float)
    if noise is not None and noise.shape != moving.shape:
        raise ValueError(
            f"error has shape {noise.shape} but moving has {moving.shape}; pass the moving "
            "image's noise map."
        )
    moving_wcs = reference_wcs if moving_wcs is None else moving_wcs
    translation = _pixel_translation(reference_wcs, moving_wcs, moving.shape)
    whole = None if translation is None else np.round(translation)
    fraction = np.zeros(2) if whole is None else translation - whole
    if whole is not None and (subpixel_offset or np.abs(fraction).max() <= _TRANSLATION_TOLERANCE):
        moved = _place(moving, whole, reference.shape)
        noise = _place(noise, whole, reference.shape)
        reprojected = False
    else:
        header = reference_wcs.to_header()
        header["NAXIS"], header["NAXIS1"], header["NAXIS2"] = 2, *reference.shape[::-1]
        moved = reproject_to_header((moving, moving_wcs), header)
        if noise is not None:
            noise = reproject_to_header((noise, moving_wcs), header)
        fraction, reprojected = np.zeros(2), True
    if sigma_cut:
        reference, moved = _cut(reference, moved, sigma_cut, use_mad_std)
    return MatchedImages(
        reference=reference,
        moving=moved,
        error=noise,
        wcs=reference_wcs,
        subpixel_offset=fraction if subpixel_offset else np.zeros(2),
        reprojected=reprojected,
    )


def match_images(
    source1,
    source2,
    *,
    header=None,
    sigma_cut: float | None = None,
    use_mad_std: bool = True,
) -> tuple[np.ndarray, np.ndarray, fits.Header]:
    """Bring two images, read from files, HDUs or ``(array, header)`` pairs, onto one grid.

    A thin reader around :func:`match_wcs`.

    Parameters
    ----------
    source1, source2 : str, path-like, HDU or (array, header)
        The reference and the moving image.
    header : Header, optional, keyword-only
        A common grid to resample both onto (needs `reproject`). Default: the grid of
        `source1`, onto which `source2` is moved (without resampling when the grids differ
        by whole pixels).
    sigma_cut, use_mad_std : keyword-only
        See :func:`match_wcs`.

    Returns
    -------
    image1, image2 : numpy.ndarray
        The two images on the common grid (NaN outside a source's footprint).
    header : astropy.io.fits.Header
        The common grid.
    """
    if header is not None:
        header = load_header(header)
        source1 = (reproject_to_header(source1, header), header)
    reference, grid = load_data(source1), load_header(source1)
    matched = match_wcs(
        reference,
        load_data(source2),
        load_wcs(grid),
        load_wcs(source2),
        sigma_cut=sigma_cut,
        use_mad_std=use_mad_std,
    )
    return matched.reference, matched.moving, grid


def world_unit(wcs: WCS) -> str:
    """The unit :func:`register_wcs` gives world offsets in: arcsec for angles.

    Examples
    --------
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
    boundary: Literal["overlap", "wrap"] = "overlap",
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
    boundary : {"overlap", "wrap"}, keyword-only
        Real exposures do not wrap around, so the default compares only the overlapping
        pixels; ``"wrap"`` treats them as periodic, as the reference package did.
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
    from . import register  # at call time: the core's package imports this module

    boundary = check_choice(boundary, "boundary", ("overlap", "wrap"))
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
    boundary: Literal["overlap", "wrap"] = "overlap",
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
