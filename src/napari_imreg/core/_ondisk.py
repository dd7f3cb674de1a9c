"""Memory-mapped arrays as dask arrays that read the file chunk by chunk, never whole."""

from __future__ import annotations

import numpy as np

__all__ = ["frame_chunks", "lazy_frames"]

#: A chunk of whole frames holds about this many bytes.
_CHUNK_BYTES = 32 * 2**20


def frame_chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """Chunks of whole frames along the first axis, about 32 MiB each.

    Examples
    --------
    >>> frame_chunks((100, 1024, 1024), 4)
    (8, 1024, 1024)
    """
    frame = int(np.prod(shape[1:], dtype=np.int64)) * itemsize
    return (max(1, _CHUNK_BYTES // max(frame, 1)), *shape[1:])


class _OnDisk:
    """An array that dask reads slice by slice (like an HDF5 dataset).

    ``dask.array.from_array`` copies anything with a ``copy`` method, which for a memory map
    reads the whole file into memory; this view offers only what dask reads through.
    """

    def __init__(self, array: np.ndarray):
        self._array = array
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __getitem__(self, key):
        return self._array[key]


def lazy_frames(array: np.ndarray):
    """A dask array over ``array`` (a memory map) in chunks of whole frames, without a copy.

    Examples
    --------
    >>> lazy_frames(np.zeros((4, 8, 8))).chunks[0]
    (4,)
    """
    import dask.array as da

    # name=False: dask would otherwise hash the data to name the array, reading all of it.
    return da.from_array(
        _OnDisk(array), chunks=frame_chunks(array.shape, array.dtype.itemsize), name=False
    )
