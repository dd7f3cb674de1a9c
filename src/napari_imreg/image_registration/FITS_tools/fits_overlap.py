"""The header covering the union or intersection of two images, answered by the core."""

from __future__ import annotations

from ...core import _fits as core_fits
from .._legacy import ignore_options

__all__ = ["fits_overlap", "header_overlap"]


def header_overlap(hdr1, hdr2, max_separation=180, overlap="union"):
    """A header covering the union or intersection of two headers' footprints.

    A thin call of :func:`napari_imreg.core._fits.header_overlap`: the projection and
    orientation of `hdr1`, the finer pixel scale of the two, and the size and reference
    pixel that cover the requested area.

    Parameters
    ----------
    hdr1, hdr2 : astropy.io.fits.Header
        The two images' headers (with ``NAXIS1``/``NAXIS2``).
    max_separation : float
        Accepted for compatibility: corners are compared in the projected pixel grid, so
        a footprint across longitude 0/360 needs no special case.
    overlap : {'union', 'intersection'}
        Which area to cover.

    Returns
    -------
    astropy.io.fits.Header

    Raises
    ------
    ValueError
        For an unknown `overlap` or an empty intersection (the reference returned a header
        with ``NAXIS = 0``).

    Examples
    --------
    >>> from astropy.io import fits
    >>> h = fits.Header({"NAXIS": 2, "NAXIS1": 10, "NAXIS2": 10, "CRPIX1": 1, "CRPIX2": 1,
    ...                  "CDELT1": 1.0, "CDELT2": 1.0, "CTYPE1": "X", "CTYPE2": "Y"})
    >>> h2 = h.copy(); h2["CRPIX2"] = -2
    >>> union = header_overlap(h, h2)
    >>> union["NAXIS1"], union["NAXIS2"]
    (10, 13)
    """
    ignore_options(
        "header_overlap", max_separation=None if max_separation == 180 else max_separation
    )
    return core_fits.header_overlap(hdr1, hdr2, overlap=overlap)


def fits_overlap(file1, file2, **kwargs):
    """:func:`header_overlap` of the headers of two FITS files (or HDUs, or headers)."""
    return header_overlap(core_fits.load_header(file1), core_fits.load_header(file2), **kwargs)
