"""Reading and writing FITS images as arrays and astropy headers.

This module is the file layer under the napari reader and writer, and is usable on its own.
It knows three things beyond plain FITS:

* which extensions hold an uncertainty map (an error, variance or inverse-variance image), so
  that they can be opened as their own layers and used as the noise of a registration;
* the keywords in which a registration is recorded (shift, 1-sigma error, translate);
* how the WCS follows the pixel content: a header keeps describing the same pixels. Data
  resampled so that their content moved (a registered copy) get a header whose reference
  pixels (``CRPIXn``, the alternate ``CRPIXnA``... and IRAF's ``LTVn``) moved with it
  (:func:`header_for_shifted_data`); data written unchanged with a translate (a layer placed
  over its reference) keep their WCS, and the translate is recorded beside it. Either way a
  star keeps its sky coordinates, so both outputs of one registration agree.

Files are read through one path (:func:`read_fits`, :func:`read_fits_image`): headers first,
then the data memory-mapped where the file allows it (scaled integers are scaled lazily, so
a uint16 camera cube is never read whole), and :func:`choose_image` is the one rule for which
HDU holds "the image" of a file.

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
    written by earlier versions, which moved ``CRPIXn`` by minus the translate: the original
    ``CRPIXn``, restored when such a file is written again.
``IMRREF``, ``IMRMETH``
    the name of the reference and the registration method.
"""

from __future__ import annotations

import errno
import gzip
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.io.fits.verify import VerifyWarning
from astropy.utils.exceptions import AstropyUserWarning
from astropy.wcs import WCS

from .._atomic import staged
from .._ondisk import lazy_frames
from ._header import (
    _MAX_FITS_AXES,
    ImageKind,
    _check_vector,
    _get_vector,
    _kind_of,
    _restore_crpix,
    _set_vector,
    degenerate_axes,
    header_without_last_axes,
    wcs_from_header,
)

#: File name endings read and written as FITS (gzip-compressed files included).
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")


# Keywords that describe the array layout; astropy rewrites them from the data.
_STRUCTURAL = ("SIMPLE", "XTENSION", "BITPIX", "EXTEND", "PCOUNT", "GCOUNT", "BSCALE", "BZERO")
_STRUCTURAL += ("BLANK", "CHECKSUM", "DATASUM")


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


class _FileError(ValueError):
    """A file that cannot be read, with a message that names it."""


def choose_image(kinds: Sequence[ImageKind]) -> int:
    """The one rule for which image HDU holds "the image" of a file.

    Parameters
    ----------
    kinds : sequence of {"image", "error", "variance", "inverse_variance"}
        What each image HDU of the file holds, in file order (:attr:`FitsImage.kind`).

    Returns
    -------
    int
        The position in ``kinds`` of the first science image, or 0 if every HDU holds an
        uncertainty map. The command line, the napari reader and :func:`register_fits`
        all choose through this function.

    Examples
    --------
    >>> choose_image(["error", "image", "image"])
    1
    """
    return next((i for i, kind in enumerate(kinds) if kind == "image"), 0)


def image_hdu(hdus: fits.HDUList, *, path: str | os.PathLike | None = None):
    """The HDU of an open file that holds its image, by :func:`choose_image`.

    Only image HDUs (primary, extension, tile-compressed) with at least one axis and no empty
    axis are candidates; tables and random groups are not images.

    Raises
    ------
    ValueError
        If no HDU holds an image (the message names ``path`` when given, and says why each HDU
        was passed over).
    """
    candidates, reasons = [], []
    for index, hdu in enumerate(hdus):
        reason = _not_an_image(hdu)
        if reason is None:
            candidates.append(hdu)
        else:
            reasons.append(f"HDU {index} {reason}")
    if not candidates:
        where = "the HDUList" if path is None else f"path={str(path)!r}"
        raise _FileError(
            f"{where} holds no image HDU ({'; '.join(reasons) or 'no HDU'}); "
            "nothing to open as an image."
        )
    kinds = [_kind_of(hdu.header, _hdu_name(hdu, i)) for i, hdu in enumerate(candidates)]
    return candidates[choose_image(kinds)]


def read_fits(path: str | os.PathLike, *, lazy: bool = False) -> list[FitsImage]:
    """Read every image HDU of a FITS file.

    Parameters
    ----------
    path : str or path-like
        A FITS file, optionally gzip-compressed.
    lazy : bool
        Give each image as a dask array over the memory-mapped file, read chunk by chunk when
        used, instead of reading it into memory. Scaled integers (``BZERO``/``BSCALE``/
        ``BLANK``) are scaled chunk by chunk too. Files that cannot be memory-mapped (gzip)
        are read whole either way.

    Returns
    -------
    list of FitsImage
        One entry per HDU that holds an image (at least one axis, none of length 0), in file
        order. Tables, random groups and empty HDUs are skipped; :func:`choose_image` tells
        which one is the main image.

    Raises
    ------
    ValueError
        If the file cannot be parsed as FITS, holds no image, or (``lazy=False``) holds an
        image too large for memory; the message names the file and the reason.
    FileNotFoundError
        If ``path`` does not exist.

    Warns
    -----
    UserWarning
        For a registration keyword (``IMRTRNn``...) that is not a number; it is ignored.
    """
    with _OpenFits(path) as hdus:
        image_hdu(hdus, path=path)  # the "no image" error, with the reasons
        return [
            _image_from_hdu(hdu, index, path, lazy=lazy)
            for index, hdu in enumerate(hdus)
            if _not_an_image(hdu) is None
        ]


def read_fits_image(
    path: str | os.PathLike, *, extension: str | int | None = None, lazy: bool = False
) -> FitsImage:
    """Read the one image of a FITS file: the HDU :func:`choose_image` picks, or ``extension``.

    Parameters
    ----------
    path : str or path-like
        A FITS file, optionally gzip-compressed.
    extension : str or int, optional
        The HDU to read instead, by ``EXTNAME`` or position (a string of digits is a position).
    lazy : bool
        As in :func:`read_fits`.

    Raises
    ------
    ValueError
        As :func:`read_fits`, and if ``extension`` names no image HDU.
    FileNotFoundError
        If ``path`` does not exist.
    """
    with _OpenFits(path) as hdus:
        if extension is None:
            hdu = image_hdu(hdus, path=path)
        else:
            key = int(extension) if str(extension).isdigit() else extension
            try:
                hdu = hdus[key]
            except (KeyError, IndexError):
                names = [_hdu_name(h, i) for i, h in enumerate(hdus)]
                raise _FileError(
                    f"path={str(path)!r} has no extension {extension!r}; it has "
                    f"{', '.join(names)} (give a name or a position from 0)."
                ) from None
            reason = _not_an_image(hdu)
            if reason is not None:
                raise _FileError(
                    f"path={str(path)!r}: extension {extension!r} {reason}; choose an image HDU."
                )
        return _image_from_hdu(hdu, hdus.index_of(hdu), path, lazy=lazy)


class _OpenFits:
    """The file's HDUs, headers parsed and checked, data left raw (unscaled) and unread.

    Every failure of the file becomes a ``ValueError`` that names it.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"path={str(self.path)!r}: no such file")

    def __enter__(self) -> fits.HDUList:
        self.catcher = warnings.catch_warnings()
        self.catcher.__enter__()
        # Non-standard but readable headers are common; astropy fixes them silently here.
        warnings.simplefilter("ignore", VerifyWarning)
        # A short file would otherwise load as garbage with only a warning.
        warnings.filterwarnings("error", "File may have been truncated", AstropyUserWarning)
        # Bytes after the last HDU hold no data of ours.
        warnings.filterwarnings("ignore", "Unexpected extra padding", AstropyUserWarning)
        try:
            # Raw data: astropy cannot memory-map scaled integers; _values scales them.
            self.hdus = fits.open(
                self.path, memmap=True, lazy_load_hdus=False, do_not_scale_image_data=True
            )
            self.hdus.verify("silentfix+ignore")
        except BaseException as exc:
            self.catcher.__exit__(None, None, None)
            raise self._failure(exc) from exc
        return self.hdus

    def __exit__(self, kind, value, traceback):
        try:
            self.hdus.close()  # memory maps in use stay open until their arrays go
        finally:
            self.catcher.__exit__(None, None, None)
        if kind is not None and issubclass(kind, Exception) and not issubclass(kind, _FileError):
            raise self._failure(value) from value
        return False

    def _failure(self, exc: BaseException) -> BaseException:
        if not isinstance(exc, Exception) or isinstance(exc, _FileError):
            return exc  # KeyboardInterrupt passes through; our messages name the file already
        if isinstance(exc, MemoryError) or getattr(exc, "errno", None) == errno.ENOMEM:
            return _FileError(
                f"path={str(self.path)!r} is too large to map into memory here "
                f"({type(exc).__name__}: {exc}); free memory or address space, or read a "
                "cut-out of it with another tool."
            )
        return _FileError(
            f"path={str(self.path)!r} could not be read as FITS ({type(exc).__name__}: {exc}). "
            "Check that the file is complete and not corrupt."
        )


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
        layer's ``translate / scale``). Recorded as ``IMRTRNn``; the WCS is left as it is,
        since the data are written unmoved (a ``CRPIXn`` moved by an earlier version, which
        kept the original in ``IMRCRPn``, is put back).
    shift, shift_error : sequence of float, optional
        A registration shift and its 1-sigma error, pixels, numpy axis order (``IMRSHFn``,
        ``IMRERRn``).
    reference, method : str, optional
        Recorded as ``IMRREF`` and ``IMRMETH``.
    overwrite : bool
        Replace an existing file. The file is written under a temporary name beside it and
        renamed into place when complete, so a failed write leaves the old file as it was.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        If a sequence's length differs from ``data.ndim``, or the data is not numeric.
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    """
    path = Path(path)
    if not overwrite and (path.exists() or path.is_symlink()):
        raise FileExistsError(
            f"path={str(path)!r} already exists; pass overwrite=True to replace it, or choose "
            "another name."
        )
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
    _restore_crpix(out)

    hdu = fits.PrimaryHDU(data=np.ascontiguousarray(data), header=out)
    with warnings.catch_warnings(), staged(path) as temporary:
        warnings.simplefilter("ignore", VerifyWarning)
        hdu.writeto(temporary, output_verify="silentfix")
    return path


def _image_from_hdu(hdu, index: int, path, *, lazy: bool) -> FitsImage:
    header = hdu.header.copy()
    name = _hdu_name(hdu, index)
    data = _data(hdu, path, lazy=lazy)
    # Axes of length 1 past the first two (a radio image's frequency and Stokes) are
    # dropped, with their WCS: the image is registered as the plane it is.
    dropped = degenerate_axes(data.shape)
    if dropped:
        data = data.reshape(data.shape[dropped:])
        header = header_without_last_axes(header, dropped)
    ndim = data.ndim
    return FitsImage(
        data=data,
        header=header,
        name=name,
        index=index,
        kind=_kind_of(header, name),
        translate=_get_vector(header, "IMRTRN", ndim, path),
        shift=_get_vector(header, "IMRSHF", ndim, path),
        shift_error=_get_vector(header, "IMRERR", ndim, path),
    )


def _hdu_name(hdu, index: int) -> str:
    default = "PRIMARY" if index == 0 else f"HDU{index}"
    return str(hdu.header.get("EXTNAME", default)).strip()


def _not_an_image(hdu) -> str | None:
    """Why ``hdu`` holds no image, from its header alone (no data read); ``None`` if it does."""
    if isinstance(hdu, fits.GroupsHDU):
        return "holds random groups (a table of visibilities), not an image"
    if not isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU):
        return f"is a {type(hdu).__name__}, not an image"
    header = hdu.header
    naxis = header.get("NAXIS", 0)
    if not isinstance(naxis, int) or not 0 <= naxis <= _MAX_FITS_AXES:
        return f"has NAXIS = {naxis!r}; FITS allows 0 to {_MAX_FITS_AXES} axes"
    if naxis == 0:
        return "has no data (NAXIS = 0)"
    for n in range(1, naxis + 1):
        length = header.get(f"NAXIS{n}")
        if not isinstance(length, int) or length < 0:
            return f"has NAXIS{n} = {length!r}; an axis length must be a whole number >= 0"
        if length == 0:
            return f"has no pixels (NAXIS{n} = 0)"
    return None


def _data(hdu, path, *, lazy: bool):
    """The HDU's data, scaled, native byte order: a dask array if ``lazy``, else in memory."""
    raw = hdu.data  # a memory map of the file where astropy can make one
    # Tile-compressed images decompress as a whole, and astropy scales them itself.
    scaling = None if isinstance(hdu, fits.CompImageHDU) else _scaling(hdu.header, path)
    dtype = raw.dtype.newbyteorder("=") if scaling is None else scaling.dtype
    if lazy:
        return lazy_frames(raw).map_blocks(_values, scaling, dtype=dtype)
    try:
        return _values(np.asarray(raw), scaling)
    except MemoryError:
        size = np.prod(raw.shape, dtype=float) * dtype.itemsize
        raise _FileError(
            f"path={str(path)!r}: the image {tuple(raw.shape)} needs {size / 2**30:.1f} GiB, "
            "more than the memory available; open it lazily (napari's reader and the command "
            "line do) or read a part of it."
        ) from None


@dataclass(frozen=True)
class _Scaling:
    """How stored integers become values: ``value = stored * scale + zero``, ``blank`` -> NaN."""

    scale: float
    zero: float
    blank: int | None
    dtype: np.dtype


def _scaling(header: fits.Header, path) -> _Scaling | None:
    """The scaling of the raw data (as astropy applies it), or ``None`` if there is none."""
    try:
        scale = float(header.get("BSCALE", 1.0))
        zero = float(header.get("BZERO", 0.0))
    except (TypeError, ValueError):
        raise _FileError(
            f"path={str(path)!r}: BSCALE = {header.get('BSCALE')!r} or BZERO = "
            f"{header.get('BZERO')!r} is not a number; the stored values cannot be scaled."
        ) from None
    bitpix = header["BITPIX"]
    blank = header.get("BLANK") if bitpix > 0 else None
    if scale == 1.0 and zero == 0.0 and blank is None:
        return None
    bits = abs(bitpix)
    if bitpix > 0 and scale == 1.0 and zero == (-128 if bits == 8 else 2 ** (bits - 1)):
        # FITS stores unsigned integers (signed bytes) as an offset: a sign-bit flip.
        kind = "i" if bits == 8 else "u"
        return _Scaling(scale, zero, None, np.dtype(f"{kind}{bits // 8}"))
    wide = bitpix in (32, 64, -64)
    return _Scaling(scale, zero, blank, np.dtype(np.float64 if wide else np.float32))


def _values(raw: np.ndarray, scaling: _Scaling | None) -> np.ndarray:
    """Stored numbers to values, in memory and native byte order (a copy, never the map)."""
    raw = raw.astype(raw.dtype.newbyteorder("="))
    if scaling is None:
        return raw
    if scaling.dtype.kind in "iu":
        flip = np.array(1 << (8 * raw.dtype.itemsize - 1)).astype(raw.dtype.str.replace("i", "u"))
        return (raw.view(flip.dtype) ^ flip).view(scaling.dtype)
    values = raw.astype(scaling.dtype)
    if scaling.scale != 1.0:
        values *= scaling.scale
    if scaling.zero != 0.0:
        values += scaling.zero
    if scaling.blank is not None:
        values[raw == scaling.blank] = np.nan
    return values
