"""The napari writer: an image layer to a FITS file.

The data is written unchanged. The header keeps the keywords of the file the layer came from
(``metadata["fits_header"]``) and its WCS, records the registration shift and its error
(``metadata["registration"]``), and records the layer's translate so that the plugin's reader
restores it. The file work is done by :func:`napari_imreg.core.write_fits`.

An existing file is replaced: napari calls a writer with the path its save dialog has already
confirmed (and ``viewer.layers.save`` is asked for that path by name), so refusing would make
Save fail. The replacement is atomic: the file is written beside the old one and renamed onto
it only when complete, so a write cut short (a full disk) leaves the old file whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from astropy.io import fits

from napari_imreg.core import write_fits


def write_image(path: str, data: Any, meta: Mapping[str, Any]) -> list[str]:
    """Write one image layer to ``path`` (napari's single-layer writer signature).

    Returns
    -------
    list of str
        The path written, as napari expects.
    """
    if meta.get("multiscale") and isinstance(data, list | tuple):
        data = data[0]  # the full-resolution level
    array = np.asarray(data)
    metadata = meta.get("metadata") or {}
    ndim = array.ndim

    translate = _pixel_translate(meta, ndim)
    header = metadata.get("fits_header")
    if header is not None and not isinstance(header, fits.Header):
        header = fits.Header(dict(header))
    if not np.any(translate) and (header is None or "IMRTRN1" not in header):
        translate = None

    registration = metadata.get("registration") or {}
    rgb = bool(meta.get("rgb"))
    shift = _padded(registration.get("shift"), ndim, rgb=rgb)
    error = _padded(registration.get("error"), ndim, rgb=rgb)
    written = write_fits(
        path,
        array,
        header=header,
        translate=translate,
        shift=shift,
        shift_error=error,
        reference=registration.get("reference"),
        method=registration.get("method"),
        overwrite=True,
    )
    return [str(written)]


def _pixel_translate(meta: Mapping[str, Any], ndim: int) -> np.ndarray:
    """The layer's translate in data pixels (world translate over scale), one per data axis.

    An RGB layer has one data axis more than its translate (the channels): it gets a zero.
    """
    translate = np.asarray(meta.get("translate", ()), dtype=float)
    scale = np.asarray(meta.get("scale", np.ones_like(translate)), dtype=float)
    pixels = translate / scale if translate.size else np.zeros(0)
    return np.concatenate([pixels, np.zeros(max(ndim - pixels.size, 0))])[:ndim]


def _padded(values: Any, ndim: int, *, rgb: bool) -> tuple[float, ...] | None:
    """One value per data axis: an RGB layer's channel axis gets a zero.

    Any other mismatch is left for :func:`write_fits` to refuse, naming the values: a shift
    with a value too many cannot be cut to fit without losing what it says.
    """
    if values is None:
        return None
    vector = tuple(float(v) for v in values)
    return (*vector, 0.0) if rgb and len(vector) == ndim - 1 else vector
