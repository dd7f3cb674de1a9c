"""FITS header bookkeeping: uncertainty kinds, the registration keywords, moved reference pixels.

A header keeps describing the same pixels. Data resampled so that their content moved (a
registered copy) get a header whose reference pixels (``CRPIXn``, the alternate
``CRPIXnA``... and IRAF's ``LTVn``) moved with it (:func:`header_for_shifted_data`); data
written unchanged with a translate keep their WCS, and the translate is recorded beside it
(see :mod:`._files` for the keywords). Either way a star keeps its sky coordinates.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
from astropy.io import fits
from astropy.io.fits.verify import VerifyWarning
from astropy.wcs import WCS, FITSFixedWarning

ImageKind = Literal["image", "error", "variance", "inverse_variance"]


# Extension names (EXTNAME) that mark an uncertainty map, by kind.
_ERROR_NAMES = frozenset(
    {"ERR", "ERROR", "ERRORS", "SIGMA", "UNCERT", "UNCERTAINTY", "STDDEV", "STD", "NOISE", "RMS"}
)


_VARIANCE_NAMES = frozenset({"VAR", "VARIANCE", "VARIANCES"})


_INVERSE_VARIANCE_NAMES = frozenset({"IVAR", "INVVAR", "IVARIANCE", "INVERSE_VARIANCE"})


# astropy's CCDData records the uncertainty class in UTYPE.
_UTYPES: dict[str, ImageKind] = {
    "stddevuncertainty": "error",
    "varianceuncertainty": "variance",
    "inversevariance": "inverse_variance",
}


_MAX_FITS_AXES = 999


def header_for_shifted_data(header: fits.Header, shift: Sequence[float]) -> fits.Header:
    """A copy of ``header`` for data resampled so that its content moved by ``shift``.

    Pixel ``p`` of the resampled data holds what pixel ``p - shift`` held, so every reference
    pixel moves by ``+shift`` along its axis: ``CRPIXn``, those of the alternate WCS
    (``CRPIXnA`` ... ``CRPIXnZ``), IRAF's physical-to-image offset ``LTVn``, and ``IMRCRPn``
    of earlier versions. Every star thus keeps its sky coordinates. The shift is in pixels,
    numpy axis order, one value per axis.

    Raises
    ------
    ValueError
        If ``header`` records ``NAXIS`` axes and ``shift`` has another number of values.

    Examples
    --------
    >>> header = fits.Header({"NAXIS": 2, "CRPIX1": 10.0, "CRPIX2": 20.0, "LTV1": -5.0})
    >>> moved = header_for_shifted_data(header, (1.5, -2.0))
    >>> moved["CRPIX1"], moved["CRPIX2"], moved["LTV1"]
    (8.0, 21.5, -7.0)
    """
    vector = np.ravel(np.asarray(shift, dtype=float))
    ndim = vector.size
    naxis = header.get("NAXIS")
    if isinstance(naxis, int) and naxis and naxis != ndim:
        raise ValueError(
            f"shift={tuple(vector.tolist())!r} has {ndim} values but the header has NAXIS = "
            f"{naxis}; give one value per axis, numpy axis order."
        )
    out = header.copy()
    for n in range(1, ndim + 1):
        step = float(vector[ndim - n])
        keys = [f"CRPIX{n}", f"LTV{n}", f"IMRCRP{n}"]
        keys += [f"CRPIX{n}{letter}" for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]
        for key in keys:
            if key in out:
                out[key] = float(out[key]) + step
    return out


def error_from_uncertainty(data: np.ndarray, kind: ImageKind) -> np.ndarray:
    """Turn an uncertainty map into a 1-sigma error map.

    Parameters
    ----------
    data : numpy.ndarray
        The map as stored.
    kind : {"error", "variance", "inverse_variance"}
        What it holds (:attr:`FitsImage.kind`).

    Returns
    -------
    numpy.ndarray
        The 1-sigma error, same shape, float (float32 stays float32). Non-positive variances
        and inverse variances give ``inf`` (a pixel with no information).

    Examples
    --------
    >>> error_from_uncertainty(np.array([4.0, 0.25]), "variance")
    array([2. , 0.5])
    """
    values = np.asarray(data)
    if values.dtype != np.float32:
        values = values.astype(np.float64)
    if kind == "error":
        return values.copy()
    if kind not in ("variance", "inverse_variance"):
        raise ValueError(
            f"kind={kind!r} is not an uncertainty; use 'error', 'variance' or 'inverse_variance'."
        )
    positive = values > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = np.sqrt(values) if kind == "variance" else 1.0 / np.sqrt(values)
    return np.where(positive, sigma, np.inf).astype(values.dtype, copy=False)


# --------------------------------------------------------------------------- helpers


def wcs_from_header(header: fits.Header) -> WCS | None:
    """The header's WCS, or ``None`` if it has no WCS keywords or they cannot be parsed."""
    if not any(key.startswith(("CTYPE", "CRPIX", "CD1_", "PC1_")) for key in header):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        warnings.simplefilter("ignore", VerifyWarning)
        try:
            return WCS(header)
        except Exception:  # astropy raises many types for malformed WCS keywords
            return None


#: Keywords that describe one FITS axis (the number at the end, or both of ``PCi_j``).
_AXIS_KEYWORD = re.compile(
    r"^(?:NAXIS|CTYPE|CRVAL|CDELT|CRPIX|CUNIT|CROTA|CNAME|CRDER|CSYER|LTV|IMRTRN|IMRSHF|IMRERR)"
    r"(\d+)[A-Z]?$|^(?:PC|CD|PV|PS)(\d+)_(\d+)[A-Z]?$"
)


def degenerate_axes(shape: Sequence[int]) -> int:
    """How many leading numpy axes (the last FITS axes) have length 1 and can be dropped,
    leaving at least two: a radio image's frequency and Stokes axes, a cube of one plane."""
    count = 0
    while len(shape) - count > 2 and shape[count] == 1:
        count += 1
    return count


def header_without_last_axes(header: fits.Header, count: int) -> fits.Header:
    """A copy of ``header`` that describes its first ``NAXIS - count`` FITS axes only: the
    keywords of the last ``count`` axes (and the terms that couple them) removed."""
    naxis = int(header["NAXIS"])
    keep = naxis - count
    out = header.copy()
    for key in list(out.keys()):
        match = _AXIS_KEYWORD.match(key)
        if match is None:
            continue
        numbers = [int(n) for n in match.groups() if n is not None]
        # PVi_m and PSi_m name a parameter m of axis i, not a second axis.
        axes = numbers[:1] if key.startswith(("PV", "PS")) else numbers
        if any(n > keep for n in axes):
            del out[key]
    out["NAXIS"] = keep
    if "WCSAXES" in out:
        out["WCSAXES"] = min(int(out["WCSAXES"]), keep)
    return out


def _kind_of(header: fits.Header, name: str) -> ImageKind:
    utype = str(header.get("UTYPE", "")).strip().lower()
    if utype in _UTYPES:
        return _UTYPES[utype]
    upper = name.upper()
    if upper in _ERROR_NAMES:
        return "error"
    if upper in _VARIANCE_NAMES:
        return "variance"
    if upper in _INVERSE_VARIANCE_NAMES:
        return "inverse_variance"
    return "image"


def _get_vector(header: fits.Header, stem: str, ndim: int, path) -> tuple[float, ...] | None:
    keys = [f"{stem}{n}" for n in range(ndim, 0, -1)]  # numpy order: last FITS axis first
    if not any(key in header for key in keys):
        return None
    try:
        return tuple(float(header.get(key, 0.0)) for key in keys)
    except (TypeError, ValueError):
        values = {key: header.get(key) for key in keys if key in header}
        # A damaged record must not keep the image from opening.
        warnings.warn(
            f"path={str(path)!r}: {stem}n holds a value that is not a number ({values}); "
            "the recorded value is ignored.",
            UserWarning,
            stacklevel=4,
        )
        return None


def _set_vector(header: fits.Header, stem: str, values, comment: str) -> None:
    for n in range(1, _MAX_FITS_AXES + 1):  # forget stale values from an earlier write
        if f"{stem}{n}" not in header:
            break
        del header[f"{stem}{n}"]
    if values is None:
        return
    for n, value in enumerate(reversed(values), start=1):
        header[f"{stem}{n}"] = (float(value), comment.format(n=n))


def _restore_crpix(header: fits.Header) -> None:
    """Undo the ``CRPIXn`` move of files written by earlier versions (kept in ``IMRCRPn``)."""
    for n in range(1, _MAX_FITS_AXES + 1):
        base = header.get(f"IMRCRP{n}")
        if base is None:
            break
        header[f"CRPIX{n}"] = float(base)
        del header[f"IMRCRP{n}"]


def _check_vector(values, name: str, ndim: int) -> tuple[float, ...] | None:
    if values is None:
        return None
    vector = tuple(float(v) for v in np.ravel(np.asarray(values, dtype=float)))
    if len(vector) != ndim:
        raise ValueError(
            f"{name}={vector!r} has {len(vector)} values but the data has {ndim} axes; "
            "give one value per axis, numpy axis order."
        )
    if not all(np.isfinite(vector)):
        raise ValueError(f"{name}={vector!r} holds a non-finite value; give finite numbers.")
    return vector
