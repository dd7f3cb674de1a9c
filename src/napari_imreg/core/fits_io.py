"""Reading and writing FITS images as arrays and astropy headers.

This module is the file layer under the napari reader and writer, and is usable on its own.
It knows three things beyond plain FITS:

* which extensions hold an uncertainty map (an error, variance or inverse-variance image), so
  that they can be opened as their own layers and used as the noise of a registration;
* the keywords in which a registration is recorded (shift, 1-sigma error, translate);
* how a translate (a sub-pixel placement of the image over a reference) changes the WCS: the
  reference pixel ``CRPIXn`` moves by minus the translate, so that sky coordinates follow the
  data to where the registration put it.

Axis order is numpy's everywhere in the Python API (``(dy, dx)`` in 2-D). In the header, the
keywords are numbered by FITS axis, which runs the other way (``n = 1`` is x, the last numpy
axis).

Keywords written (``n`` is the FITS axis number):

``IMRSHFn``
    the registration shift along axis ``n``, in pixels (the translation that registers this
    image onto the reference).
``IMRERRn``
    its 1-sigma error, in pixels.
``IMRTRNn``
    the translate of the image, in pixels, restored by :func:`read_fits`.
``IMRCRPn``
    the ``CRPIXn`` of the image before any translate; kept so that writing again with another
    translate starts from the original WCS instead of compounding.
``IMRREF``, ``IMRMETH``
    the name of the reference and the registration method.
"""

from __future__ import annotations

import gzip
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from astropy.io import fits
from astropy.io.fits.verify import VerifyWarning
from astropy.utils.exceptions import AstropyUserWarning
from astropy.wcs import WCS, FITSFixedWarning

__all__ = [
    "FITS_SUFFIXES",
    "FitsImage",
    "error_from_uncertainty",
    "header_for_shifted_data",
    "is_fits_path",
    "looks_like_fits",
    "read_fits",
    "wcs_from_header",
    "write_fits",
]

#: File name endings read and written as FITS (gzip-compressed files included).
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")

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

# Keywords that describe the array layout; astropy rewrites them from the data.
_STRUCTURAL = ("SIMPLE", "XTENSION", "BITPIX", "EXTEND", "PCOUNT", "GCOUNT", "BSCALE", "BZERO")
_STRUCTURAL += ("BLANK", "CHECKSUM", "DATASUM")

_MAX_FITS_AXES = 999
_FITS_MAGIC = b"SIMPLE  ="
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class FitsImage:
    """One image HDU of a FITS file.

    Attributes
    ----------
    data : numpy.ndarray
        The image, in native byte order, numpy axis order.
    header : astropy.io.fits.Header
        The HDU's header, every keyword as in the file.
    name : str
        The extension name (``EXTNAME``), or ``"PRIMARY"`` for the primary HDU.
    index : int
        The HDU's position in the file.
    kind : {"image", "error", "variance", "inverse_variance"}
        What the HDU holds, from its ``EXTNAME`` or astropy's ``UTYPE`` keyword.
    translate : tuple of float or None
        The translate recorded by :func:`write_fits` (``IMRTRNn``), in pixels, numpy axis order;
        ``None`` if the file records none.
    shift, shift_error : tuple of float or None
        The registration shift and its 1-sigma error recorded by :func:`write_fits`
        (``IMRSHFn``, ``IMRERRn``), in pixels, numpy axis order; ``None`` if absent.
    """

    data: np.ndarray
    header: fits.Header
    name: str
    index: int
    kind: ImageKind
    translate: tuple[float, ...] | None = None
    shift: tuple[float, ...] | None = None
    shift_error: tuple[float, ...] | None = None

    @property
    def wcs(self) -> WCS | None:
        """The header's world coordinate system, or ``None`` if it has no celestial/spectral
        axes or cannot be parsed."""
        return wcs_from_header(self.header)


def is_fits_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` ends with one of :data:`FITS_SUFFIXES` (case-insensitive).

    Examples
    --------
    >>> is_fits_path("m51.fits.gz"), is_fits_path("m51.tif")
    (True, False)
    """
    return str(path).lower().endswith(FITS_SUFFIXES)


def looks_like_fits(path: str | os.PathLike) -> bool:
    """Whether the file at ``path`` starts like a FITS file (or a gzip stream).

    Cheap enough for a reader to call before claiming a file: it reads a few bytes and never
    raises; a missing or unreadable file gives ``False``.
    """
    try:
        with open(path, "rb") as stream:
            head = stream.read(len(_FITS_MAGIC))
            if head.startswith(_GZIP_MAGIC):
                with gzip.open(path, "rb") as unzipped:
                    head = unzipped.read(len(_FITS_MAGIC))
    except (OSError, EOFError):
        return False
    return head == _FITS_MAGIC


def read_fits(path: str | os.PathLike) -> list[FitsImage]:
    """Read every image HDU of a FITS file.

    Parameters
    ----------
    path : str or path-like
        A FITS file, optionally gzip-compressed.

    Returns
    -------
    list of FitsImage
        One entry per HDU that holds an image (at least one axis), in file order. Tables and
        empty primary HDUs are skipped.

    Raises
    ------
    ValueError
        If the file cannot be parsed as FITS or holds no image (the message names the file and
        the reason).
    FileNotFoundError
        If ``path`` does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"path={str(path)!r}: no such file")
    images: list[FitsImage] = []
    try:
        with warnings.catch_warnings():
            # Non-standard but readable headers are common; astropy fixes them silently here.
            warnings.simplefilter("ignore", VerifyWarning)
            # A short file would otherwise load as garbage with only a warning.
            warnings.filterwarnings("error", "File may have been truncated", AstropyUserWarning)
            # Our own handle, so that it is closed even when astropy fails half-way.
            with open(path, "rb") as stream, fits.open(stream, lazy_load_hdus=False) as hdus:
                hdus.verify("silentfix+ignore")
                for index, hdu in enumerate(hdus):
                    if not isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU):
                        continue
                    data = hdu.data
                    if data is None or data.ndim == 0:
                        continue
                    images.append(_image_from_hdu(hdu, index, np.array(data)))
    except (OSError, TypeError, IndexError, KeyError, EOFError, AstropyUserWarning) as exc:
        raise ValueError(
            f"path={str(path)!r} could not be read as FITS ({type(exc).__name__}: {exc}). "
            "Check that the file is complete and not corrupt."
        ) from exc
    if not images:
        raise ValueError(
            f"path={str(path)!r} holds no image HDU (only tables or empty HDUs); "
            "nothing to open as an image."
        )
    return images


def write_fits(
    path: str | os.PathLike,
    data: np.ndarray,
    *,
    header: fits.Header | None = None,
    translate: Sequence[float] | None = None,
    shift: Sequence[float] | None = None,
    shift_error: Sequence[float] | None = None,
    reference: str | None = None,
    method: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an image to a FITS file, keeping its header and recording a registration.

    Parameters
    ----------
    path : str or path-like
        The file to write; a name ending in ``.gz`` is gzip-compressed.
    data : numpy.ndarray
        The image, numpy axis order. Written unchanged (``float16`` is widened to ``float32``
        and ``bool`` to ``uint8``, which FITS cannot store).
    header : astropy.io.fits.Header, optional
        The original header. Every keyword is kept except the ones that describe the array
        layout (``BITPIX``, ``NAXISn``, ``BSCALE``...), which astropy writes from ``data``.
    translate : sequence of float, optional
        Where the image is placed over its reference, in pixels, numpy axis order (a napari
        layer's ``translate / scale``). Recorded as ``IMRTRNn``; ``CRPIXn`` becomes the
        original ``CRPIXn`` minus the translate, so the WCS follows the data.
    shift, shift_error : sequence of float, optional
        A registration shift and its 1-sigma error, pixels, numpy axis order (``IMRSHFn``,
        ``IMRERRn``).
    reference, method : str, optional
        Recorded as ``IMRREF`` and ``IMRMETH``.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        If a sequence's length differs from ``data.ndim``, or the data is not numeric.
    """
    data = np.asarray(data)
    if data.dtype == np.float16:
        data = data.astype(np.float32)
    elif data.dtype == np.bool_:
        data = data.astype(np.uint8)
    if data.dtype.kind not in "uif":
        raise ValueError(
            f"data has dtype {data.dtype}; FITS stores integer or real images only. "
            "Convert it to a numeric dtype first."
        )
    ndim = data.ndim
    if not 1 <= ndim <= _MAX_FITS_AXES:
        raise ValueError(f"data has {ndim} dimensions; FITS images have 1 to 999 axes.")
    translate = _check_vector(translate, "translate", ndim)
    shift = _check_vector(shift, "shift", ndim)
    shift_error = _check_vector(shift_error, "shift_error", ndim)

    out = fits.Header() if header is None else header.copy()  # a copy: cards are mutable
    for key in [k for k in out if k in _STRUCTURAL or k.startswith("NAXIS")]:
        out.remove(key, ignore_missing=True, remove_all=True)
    _set_vector(out, "IMRSHF", shift, "registration shift [pix], FITS axis {n}")
    _set_vector(out, "IMRERR", shift_error, "1-sigma error of IMRSHF{n} [pix]")
    _set_vector(out, "IMRTRN", translate, "translate [pix], FITS axis {n}")
    if reference is not None:
        out["IMRREF"] = (str(reference)[:68], "registration reference")
    if method is not None:
        out["IMRMETH"] = (str(method)[:68], "registration method")
    _move_crpix(out, translate, ndim)

    path = Path(path)
    hdu = fits.PrimaryHDU(data=np.ascontiguousarray(data), header=out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VerifyWarning)
        hdu.writeto(path, overwrite=overwrite, output_verify="silentfix")
    return path


def header_for_shifted_data(header: fits.Header, shift: Sequence[float]) -> fits.Header:
    """A copy of ``header`` for data resampled so that its content moved by ``shift``.

    Pixel ``p`` of the resampled data holds what pixel ``p - shift`` held, so its WCS reference
    pixel moves by ``+shift``: ``CRPIXn`` (and ``IMRCRPn``, the pre-translate value) grow by the
    shift along FITS axis ``n``. The shift is in pixels, numpy axis order, one value per axis.

    Examples
    --------
    >>> header = fits.Header({"NAXIS": 2, "CRPIX1": 10.0, "CRPIX2": 20.0})
    >>> moved = header_for_shifted_data(header, (1.5, -2.0))
    >>> moved["CRPIX1"], moved["CRPIX2"]
    (8.0, 21.5)
    """
    vector = np.ravel(np.asarray(shift, dtype=float))
    out = header.copy()
    ndim = vector.size
    for n in range(1, ndim + 1):
        for stem in ("CRPIX", "IMRCRP"):
            key = f"{stem}{n}"
            if key in out:
                out[key] = float(out[key]) + float(vector[ndim - n])
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


def _image_from_hdu(hdu: fits.hdu.base.ExtensionHDU, index: int, data: np.ndarray) -> FitsImage:
    if not data.dtype.isnative:
        data = data.astype(data.dtype.newbyteorder("="))
    header = hdu.header.copy()
    name = str(header.get("EXTNAME", "PRIMARY" if index == 0 else f"HDU{index}")).strip()
    ndim = data.ndim
    return FitsImage(
        data=data,
        header=header,
        name=name,
        index=index,
        kind=_kind_of(header, name),
        translate=_get_vector(header, "IMRTRN", ndim),
        shift=_get_vector(header, "IMRSHF", ndim),
        shift_error=_get_vector(header, "IMRERR", ndim),
    )


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


def _get_vector(header: fits.Header, stem: str, ndim: int) -> tuple[float, ...] | None:
    keys = [f"{stem}{n}" for n in range(ndim, 0, -1)]  # numpy order: last FITS axis first
    if not any(key in header for key in keys):
        return None
    return tuple(float(header.get(key, 0.0)) for key in keys)


def _set_vector(header: fits.Header, stem: str, values, comment: str) -> None:
    for n in range(1, _MAX_FITS_AXES + 1):  # forget stale values from an earlier write
        if f"{stem}{n}" not in header:
            break
        del header[f"{stem}{n}"]
    if values is None:
        return
    for n, value in enumerate(reversed(values), start=1):
        header[f"{stem}{n}"] = (float(value), comment.format(n=n))


def _move_crpix(header: fits.Header, translate, ndim: int) -> None:
    for n in range(1, ndim + 1):
        base_key, crpix_key = f"IMRCRP{n}", f"CRPIX{n}"
        if translate is None and base_key not in header:
            continue
        if base_key in header:
            base = float(header[base_key])
        elif crpix_key in header:
            base = float(header[crpix_key])
        else:
            continue
        offset = 0.0 if translate is None else float(translate[ndim - n])
        header[crpix_key] = base - offset
        header[base_key] = (base, f"CRPIX{n} before the translate IMRTRN{n}")


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
