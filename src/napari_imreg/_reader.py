"""The napari reader for FITS files (``*.fits``, ``*.fit``, ``*.fts``, and their ``.gz``).

Each image HDU of 2 or more axes becomes an image layer (a 1-D HDU, a spectrum, is skipped with a
warning; a file with nothing else is declined, saying why); its header and WCS go into the layer's
metadata, and a translate recorded by the plugin's writer is restored. Extensions that hold an
error, variance or inverse-variance map open as their own (hidden) layers, ready to be picked as
the noise of a registration. A ``DQ`` (data quality, non-zero = a bad pixel, as HST and JWST write
it) or ``MASK`` extension (non-zero = masked) opens as a labels layer beside the image, linked to
it by ``metadata["fits_mask_of"]`` (the file's path), so the widgets ignore those pixels when they
register that image. The data stay on disk: memory-mapped and wrapped in dask (as the command line
reads them), so a file larger than memory opens and napari reads only the planes it shows. The file
work is done by :func:`napari_imreg.core.read_fits`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_imreg._io import is_fits_mask
from napari_imreg.core import FitsImage, read_fits
from napari_imreg.core._fits import choose_image, is_fits_path, looks_like_fits

#: Where a DQ/MASK labels layer names the FITS file whose image it flags (as in
#: :data:`napari_imreg._widgets._layers.FITS_MASK_KEY`, which needs napari to import).
_FITS_MASK_KEY = "fits_mask_of"

LayerData = tuple[Any, dict[str, Any], str]
PathOrPaths = str | os.PathLike | Sequence[str | os.PathLike]

_UNCERTAINTY_COLORMAP = "magma"


def get_reader(path: PathOrPaths) -> Callable[[PathOrPaths], list[LayerData]] | None:
    """Return :func:`read_fits_layers` if every path is a FITS file it can open, else ``None``.

    A file with a FITS name that does not start like FITS is declined silently, so napari can try
    its other readers. A file that starts like FITS but cannot be opened as an image (cut short,
    corrupt, only tables or 1-D data, an empty primary HDU) is declined too, as npe2 asks of a
    reader that cannot read a path, and the reason goes to napari's notifications: napari's own
    message ("no reader found") would not say what is wrong with the file. The files are opened
    once, here: the reader returned makes its layers from them (napari calls it with the same
    paths), so a gzip or tile-compressed image is not decompressed twice.
    """
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    if not paths:
        return None
    for one in paths:
        if not is_fits_path(one) or Path(one).is_dir() or not looks_like_fits(one):
            return None
    opened = []
    for one in paths:
        try:
            opened.append((one, _shown_images(one, read_fits(one, lazy=True))))
        except (OSError, ValueError) as exc:
            _notify_error(f"napari-imreg cannot open {Path(one).name}: {exc}")
            return None

    def read_opened_files(_path: PathOrPaths) -> list[LayerData]:
        return [layer for one, images in opened for layer in _file_layers(one, images)]

    return read_opened_files


def read_fits_layers(path: PathOrPaths) -> list[LayerData]:
    """Read one or more FITS files into napari layer data (see the module docstring).

    Raises
    ------
    ValueError
        If a file cannot be parsed as FITS or holds no image. The reason also goes to napari's
        notifications: napari replaces a reader's error with its own "Tried opening with
        napari-imreg, but failed", so the exception alone would not tell the user what is
        wrong with the file.
    """
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    layers: list[LayerData] = []
    for one in paths:
        try:
            images = _shown_images(one, read_fits(one, lazy=True))
        except (OSError, ValueError) as exc:
            _notify_error(f"napari-imreg cannot open {Path(one).name}: {exc}")
            raise
        layers += _file_layers(one, images)
    return layers


def _shown_images(one: str | os.PathLike, images: Sequence[FitsImage]) -> list[FitsImage]:
    """The images of a file that napari can show: those of 2 or more axes. A 1-D HDU (a
    spectrum) is skipped with a warning naming it, so the file's other images still open.

    Raises
    ------
    ValueError
        If no image of the file has 2 axes or more.
    """
    shown = [image for image in images if image.data.ndim >= 2]
    skipped = [
        f"{image.name} ({image.data.size} values)" for image in images if image.data.ndim < 2
    ]
    if skipped and not shown:
        raise ValueError(
            f"its only image data are 1-D ({', '.join(skipped)}): napari shows images of 2 "
            "or more axes."
        )
    if skipped:
        _notify_warning(
            f"napari-imreg skips the 1-D HDU(s) {', '.join(skipped)} of {Path(one).name}: "
            "napari shows images of 2 or more axes."
        )
    return shown


def _file_layers(one: str | os.PathLike, images: Sequence[FitsImage]) -> list[LayerData]:
    """The layers of one file's images (see the module docstring)."""
    stem = _stem(one)
    # A DQ/MASK extension is never "the image", wherever it sits in the file.
    kinds = ["mask" if is_fits_mask(image.name) else image.kind for image in images]
    main_index = choose_image(kinds)
    names = _layer_names(stem, images, main_index)
    return [
        _mask_layer_data(image, name, Path(one))
        if kinds[i] == "mask"
        else _layer_data(image, name, Path(one), is_main=i == main_index)
        for i, (image, name) in enumerate(zip(images, names, strict=True))
    ]


def _layer_names(stem: str, images: Sequence[FitsImage], main_index: int) -> list[str]:
    """Each layer's name: the file's stem for its image, ``stem [EXTNAME]`` for the others.

    An ``EXTNAME`` that several HDUs share (``SCI`` in a multi-chip exposure) is followed by the
    HDU's ``EXTVER``, as in the FITS extended file name ``[SCI,2]``, the main image included, so
    no two layers of one file differ only by napari's ``[1]`` suffix.
    """
    counts: dict[str, int] = {}
    for image in images:
        counts[image.name] = counts.get(image.name, 0) + 1
    seen: dict[str, int] = {}
    names = []
    for i, image in enumerate(images):
        seen[image.name] = seen.get(image.name, 0) + 1
        if counts[image.name] > 1:
            version = image.header.get("EXTVER", seen[image.name])
            names.append(f"{stem} [{image.name},{version}]")
        else:
            names.append(stem if i == main_index else f"{stem} [{image.name}]")
    return names


def _mask_layer_data(image: FitsImage, name: str, path: Path) -> LayerData:
    """A DQ/MASK extension as a labels layer: its integer flags as they are (each flag value a
    colour), other values as 1 where non-zero."""
    data = image.data
    if data.dtype.kind not in "iu":
        data = (data != 0).astype(np.uint8)
    metadata = {
        "fits_header": image.header,
        "fits_path": str(path),
        "fits_extension": image.name,
        "fits_kind": "mask",
        _FITS_MASK_KEY: str(path),
    }
    return data, {"name": name, "metadata": metadata, "opacity": 0.5}, "labels"


def _layer_data(image: FitsImage, name: str, path: Path, *, is_main: bool) -> LayerData:
    metadata: dict[str, Any] = {
        "fits_header": image.header,
        "fits_wcs": image.wcs,
        "fits_path": str(path),
        "fits_extension": image.name,
        "fits_kind": image.kind,
    }
    if image.shift is not None:
        metadata["registration"] = {
            "shift": image.shift,
            "error": image.shift_error,
            "reference": image.header.get("IMRREF"),
            "method": image.header.get("IMRMETH"),
        }
    kwargs: dict[str, Any] = {"name": name, "metadata": metadata, "rgb": False}
    if image.translate is not None:
        kwargs["translate"] = image.translate
    if image.kind != "image":
        kwargs.update(colormap=_UNCERTAINTY_COLORMAP, visible=False)
    elif not is_main:
        kwargs["visible"] = False
    return image.data, kwargs, "image"


def _notify_error(message: str) -> None:
    # Imported here: the module imports without napari (npe2 validates it that way).
    from napari.utils.notifications import show_error

    show_error(message)


def _notify_warning(message: str) -> None:
    from napari.utils.notifications import show_warning

    show_warning(message)


def _stem(path: str | os.PathLike) -> str:
    name = Path(path).name
    lower = name.lower()
    if lower.endswith(".gz"):
        name, lower = name[:-3], lower[:-3]
    return name.rsplit(".", 1)[0] if "." in name else name
