"""Files in and out for the command line: images and stacks.

Images of a pair are read whole. Stacks are opened lazily as dask arrays (a
memory-mapped npy or FITS cube, a zarr array, a TIFF through its zarr view), so a
stack larger than memory is read one chunk at a time. Registered stacks are
written the same way, chunk by chunk, to zarr or TIFF.

Every reader raises ``ValueError`` with a one-line message naming the file when
it cannot read it.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import dask.array as da
import numpy as np

from napari_imreg.core._ondisk import lazy_frames

__all__ = [
    "STACK_OUTPUT_SUFFIXES",
    "file_kind",
    "read_image",
    "read_stack",
    "write_stack",
]

_FITS = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")
_TIFF = (".tif", ".tiff")
#: Endings of the files a registered stack can be written to.
STACK_OUTPUT_SUFFIXES = (".zarr", ".tif", ".tiff")


class _ReadError(ValueError):
    """A file that cannot be read as an image or stack (the message names it)."""


def file_kind(path: str | os.PathLike) -> str:
    """``"npy"``, ``"tiff"``, ``"fits"`` or ``"zarr"``, from the name (or a zarr folder)."""
    name = str(path).lower().rstrip("/")
    if name.endswith(".npy"):
        return "npy"
    if name.endswith(_TIFF):
        return "tiff"
    if name.endswith(_FITS):
        return "fits"
    if name.endswith(".zarr") or (Path(path).is_dir() and _is_zarr_dir(Path(path))):
        return "zarr"
    raise _ReadError(
        f"{path}: unknown file type; use .npy, .tif/.tiff, .fits (.fit, .fts, .gz) or .zarr."
    )


def _is_zarr_dir(path: Path) -> bool:
    return any((path / marker).exists() for marker in ("zarr.json", ".zarray", ".zgroup"))


def _check_exists(path) -> None:
    if not Path(path).exists():
        raise _ReadError(f"{path}: no such file or directory.")


def _native(array):
    """Native byte order (a big-endian npy, say), without reading a dask array."""
    if array.dtype.byteorder in "=|" or array.dtype.isnative:
        return array
    return array.astype(array.dtype.newbyteorder("="))


def read_image(path, *, dataset: str | None = None) -> np.ndarray:
    """Read a whole image (or volume) into memory, in native byte order."""
    array = read_stack(path, dataset=dataset, min_ndim=2)
    try:
        return np.asarray(array.compute() if isinstance(array, da.Array) else array)
    except MemoryError:
        raise _ReadError(
            f"{path}: the image {tuple(array.shape)} ({array.nbytes / 2**30:.1f} GiB) does not "
            "fit in memory; register a cut-out of it."
        ) from None


def read_stack(path, *, dataset: str | None = None, min_ndim: int = 3):
    """Open a stack lazily as a dask array (frames along axis 0 as stored).

    Parameters
    ----------
    path : str or path-like
        ``.npy``, ``.tif``/``.tiff`` (multi-page), ``.fits`` (a cube) or ``.zarr``.
    dataset : str, optional
        The zarr array inside a group, or the FITS extension (name or index).
        By default the only array of a zarr group, and the first FITS HDU with data.
    min_ndim : int
        Fewest dimensions accepted.
    """
    _check_exists(path)
    kind = file_kind(path)
    opener = {"npy": _open_npy, "tiff": _open_tiff, "fits": _open_fits, "zarr": _open_zarr}[kind]
    try:
        array = opener(path, dataset)
    except _ReadError:
        raise
    except Exception as exc:  # the libraries raise many types for unreadable files
        raise _ReadError(
            f"{path}: cannot read it as {kind} ({type(exc).__name__}: {exc})"
        ) from exc
    if array.dtype.kind not in "biuf":
        raise _ReadError(f"{path}: holds {array.dtype} data; images must be real numbers.")
    if array.ndim < min_ndim:
        raise _ReadError(
            f"{path}: has shape {tuple(array.shape)}, needs at least {min_ndim} dimensions."
        )
    return _native(array)


def _open_npy(path, dataset):
    with open(path, "rb") as stream:
        try:
            np.lib.format.read_magic(stream)
        except ValueError:
            raise _ReadError(
                f"{path}: is not a .npy file (it does not start with numpy's header)."
            ) from None
    return lazy_frames(np.load(path, mmap_mode="r", allow_pickle=False))


def _open_tiff(path, dataset):
    import tifffile
    import zarr

    tiff = tifffile.TiffFile(path)
    series = tiff.series[0]
    if "S" in series.axes:  # samples per pixel: RGB(A) or other colour channels
        shape = tuple(series.shape)
        tiff.close()
        raise _ReadError(
            f"{path}: holds colour images ({shape[series.axes.index('S')]} samples per "
            f"pixel, shape {shape}); the command line registers grey images: save one "
            "channel or the luminance."
        )
    store = series.aszarr()
    # The file stays open while the lazy stack may read it, and closes with it.
    weakref.finalize(store, tiff.close)
    node = zarr.open(store, mode="r")
    if isinstance(node, zarr.Group):  # pyramids and multi-series files: the first level
        node = node[sorted(node.array_keys())[0]]
    return da.from_zarr(node)


def _open_fits(path, dataset):
    from napari_imreg.core import read_fits_image

    # The napari reader's path: memory-mapped, scaled lazily, the HDU by the one rule.
    try:
        return read_fits_image(path, extension=dataset, lazy=True).data
    except ValueError as exc:
        raise _ReadError(str(exc)) from None


def _open_zarr(path, dataset):
    import zarr

    node = zarr.open(str(path), mode="r")
    if not isinstance(node, zarr.Group) and dataset is not None:
        raise _ReadError(f"{path}: is a single zarr array, not a group; drop --dataset.")
    if isinstance(node, zarr.Group):
        if dataset is None:
            names = sorted(node.array_keys())
            if len(names) != 1:
                listed = ", ".join(names) if names else "none"
                raise _ReadError(
                    f"{path}: is a zarr group with arrays {listed}; choose one with --dataset."
                )
            dataset = names[0]
        try:
            node = node[dataset]
        except KeyError:
            raise _ReadError(f"{path}: has no array {dataset!r}.") from None
    return da.from_zarr(node)


def write_stack(
    path, stack: da.Array, *, on_frames: Callable[[int], None] | None = None, window: int = 4
) -> None:
    """Write a (lazy) stack to a new ``.zarr`` or ``.tif``/``.tiff``, chunk by chunk.

    ``path`` must not exist yet: the command line writes to a temporary name and renames it
    into place (see :mod:`napari_imreg.core._atomic`). ``window`` chunks of frames are computed at
    once (in parallel), so memory holds about that many chunks. ``on_frames(n)`` is called
    after each chunk of ``n`` frames is written.
    """
    stack = stack.rechunk(dict.fromkeys(range(1, stack.ndim), -1))
    name = str(path).lower().rstrip("/")
    if not name.endswith(STACK_OUTPUT_SUFFIXES):
        raise _ReadError(f"{path}: the registered stack can be written to .zarr, .tif or .tiff.")
    if name.endswith(".zarr"):
        _write_zarr(path, stack, on_frames, window)
    else:
        _write_tiff(path, stack, on_frames, window)


def _chunks_of_frames(stack: da.Array, window: int) -> Iterator[np.ndarray]:
    """The stack's chunks of frames in order, ``window`` of them computed at once."""
    import dask

    blocks = [stack.blocks[i] for i in range(stack.numblocks[0])]
    for start in range(0, len(blocks), window):
        yield from dask.compute(*blocks[start : start + window])


def _write_zarr(path, stack: da.Array, on_frames, window: int) -> None:
    import zarr

    target = zarr.open_array(
        str(path),
        mode="w-",  # "w" would empty an existing folder first
        shape=stack.shape,
        chunks=(1, *stack.shape[1:]),
        dtype=stack.dtype,
    )
    start = 0
    for block in _chunks_of_frames(stack, window):
        target[start : start + len(block)] = block
        start += len(block)
        if on_frames is not None:
            on_frames(len(block))


def _write_tiff(path, stack: da.Array, on_frames, window: int) -> None:
    import tifffile

    def frames() -> Iterator[np.ndarray]:
        for block in _chunks_of_frames(stack, window):
            yield from block
            if on_frames is not None:
                on_frames(len(block))

    big = stack.nbytes > 2**31
    tifffile.imwrite(path, data=frames(), shape=stack.shape, dtype=stack.dtype, bigtiff=big)


#: The FITS extensions that flag pixels to ignore: a data-quality array (``DQ``, the HST/JWST
#: convention: non-zero = a bad pixel) or a ``MASK`` (non-zero = masked).
FITS_MASK_NAMES = ("DQ", "MASK")


def is_fits_mask(name: str) -> bool:
    """Whether a FITS extension of this ``EXTNAME`` flags pixels to ignore (DQ or MASK)."""
    return str(name).strip().upper() in FITS_MASK_NAMES


def read_fits_mask(path) -> np.ndarray | None:
    """The pixels a FITS file's DQ or MASK extension flags (True = ignore), or None if the file
    is not FITS or has no such extension. Read through the napari reader's one path."""
    if file_kind(path) != "fits":
        return None
    from napari_imreg.core import read_fits

    try:
        images = read_fits(path, lazy=True)
    except ValueError as exc:
        raise _ReadError(str(exc)) from None
    flags = next((image for image in images if is_fits_mask(image.name)), None)
    return None if flags is None else np.asarray(flags.data) != 0


def read_mask(path, shapes: dict[str, tuple[int, ...]]) -> np.ndarray:
    """A mask file (npy, TIFF, FITS; non-zero = ignore) as booleans, of one of ``shapes``.

    A FITS file gives its DQ or MASK extension if it has one, else its image. ``shapes`` names
    the grids accepted (``{"the images": (512, 512)}``).

    Raises
    ------
    ValueError
        If the file cannot be read, or its shape is none of ``shapes`` (naming them all).
    """
    mask = read_fits_mask(path)
    if mask is None:
        mask = read_image(path) != 0
    if tuple(mask.shape) not in shapes.values():
        wanted = " or ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise _ReadError(
            f"--mask {path}: has shape {tuple(mask.shape)}, but must have the shape of {wanted}; "
            "give a mask on the same pixel grid."
        )
    return mask
