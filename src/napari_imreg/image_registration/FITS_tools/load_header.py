"""Loading headers and data from files, HDUs or arrays, answered by the core."""

from __future__ import annotations

from ...core import _fits as core_fits

__all__ = ["get_cd", "load_data", "load_header"]


def load_header(header):
    """A FITS header from a Header, an HDU, a FITS file, a header text file or header text.

    See :func:`napari_imreg.core._fits.load_header`.

    Examples
    --------
    >>> load_header("NAXIS   =                    0")["NAXIS"]
    0
    """
    return core_fits.load_header(header)


def load_data(data):
    """An image from an array, an HDU, an HDUList or a FITS file.

    See :func:`napari_imreg.core._fits.load_data`.

    Examples
    --------
    >>> import numpy as np
    >>> load_data(np.ones(3)).tolist()
    [1.0, 1.0, 1.0]
    """
    return core_fits.load_data(data)


def get_cd(wcs, n=1):
    """World change per pixel along FITS axis `n` (``CDn_n``, or ``CDELTn`` times ``PCn_n``).

    Parameters
    ----------
    wcs : astropy.wcs.WCS or Header
        The coordinate system.
    n : int
        FITS axis number (1 = x).

    Returns
    -------
    float
        The diagonal element of the pixel scale matrix. For rotated headers use
        :func:`napari_imreg.core._fits.pixel_scale` for the whole matrix. (The reference
        returned None when ``CDn_n`` was 0.)

    Examples
    --------
    >>> from astropy.io import fits
    >>> get_cd(fits.Header({"NAXIS": 2, "CDELT1": -0.1, "CDELT2": 0.1}), 1)
    -0.1
    """
    if n not in (1, 2):
        raise ValueError(f"n must be 1 or 2 (the FITS axis), got {n!r}.")
    return float(core_fits.pixel_scale(wcs)[n - 1, n - 1])
