"""Headers, images and WCS from whatever the caller holds: arrays, HDUs, files or header text.

This is the edge where files are read (through :mod:`._files`); everything after it takes
arrays and an :class:`astropy.wcs.WCS`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from ._files import image_hdu, read_fits_image


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


def _is_pair(source) -> bool:
    """An ``(array, header)`` tuple, as reproject accepts."""
    return (
        isinstance(source, tuple)
        and len(source) == 2
        and isinstance(source[0], np.ndarray)
        and isinstance(source[1], fits.Header | Mapping | WCS)
    )


def _first_hdu_with_data(hdus: fits.HDUList):
    return image_hdu(hdus)


def _read_first_image(path) -> tuple[np.ndarray, fits.Header]:
    image = read_fits_image(path)
    return image.data, image.header.copy()


def _celestial_or_first_two(wcs: WCS) -> WCS:
    if wcs.naxis < 2:
        raise ValueError(
            f"the header has a {wcs.naxis}-axis WCS; image registration needs at least 2 axes."
        )
    return wcs.celestial if wcs.has_celestial else wcs.sub([1, 2])
