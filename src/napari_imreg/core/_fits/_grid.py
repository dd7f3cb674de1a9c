"""Pixel scales, world offsets, the overlap of two footprints, and reprojection onto a header.

Axis order is numpy's in every array and every pixel shift (``(dy, dx)``). World offsets are
given per FITS axis, in FITS order (``(d world1, d world2)``, e.g. ``(dRA, dDec)`` in
degrees), since that is how headers number them.
"""

from __future__ import annotations

import os
import warnings
from typing import Literal

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from ._sources import _celestial_or_first_two, _quiet_wcs, load_data, load_header

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
