"""Moving an image, or every frame of a stack, by its shift."""

from __future__ import annotations

from functools import partial

import dask.array as da
import numpy as np
import scipy.ndimage

from . import _fft
from ._fourier import fourier_shift
from ._options import BOUNDARY_CHOICES, BoundaryChoice
from ._periodic import is_periodic
from ._result import StackResult
from ._stack import as_stack, check_axis, check_stack_shape, check_workers
from ._stack_graph import axis_letters, frames_per_chunk
from ._validation import as_image, check_choice, check_shift


def apply_shift(
    image,
    shift,
    *,
    boundary: BoundaryChoice = "overlap",
    order: int = 3,
    fill_value: float = 0.0,
    threads: int | None = None,
) -> np.ndarray:
    """Resample an image translated by ``shift`` (the content moves by ``+shift``).

    Parameters
    ----------
    image : array_like
        Real image of any dimension; not modified.
    shift : float or sequence of float
        Translation in pixels, numpy axis order; a registration's ``shift``
        applied to the moving image overlays it on the reference.
    boundary : {"overlap", "wrap", "auto"}
        ``"wrap"``: exact Fourier shift of a periodic image. ``"overlap"``: spline
        interpolation of order ``order``; pixels that come from outside the image
        are set to ``fill_value``. ``"auto"``: ``"wrap"`` when the image is shown to
        wrap, as ``register``'s ``boundary="auto"`` decides on a reference.
    order : int
        Spline order for ``"overlap"`` (0-5).
    fill_value : float
        Value of pixels shifted in from outside (``"overlap"``); NaN is allowed.
    threads : int, optional
        FFT threads for ``"wrap"``.

    Returns
    -------
    numpy.ndarray
        float32 for float32 input, float64 otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros(6)
    >>> image[2] = 1.0
    >>> apply_shift(image, 1, boundary="overlap", order=1)
    array([0., 0., 0., 1., 0., 0.])
    """
    array = as_image(image, "image")
    offsets = check_shift(shift, array.ndim)
    check_choice(boundary, "boundary", BOUNDARY_CHOICES)
    if isinstance(order, bool) or order not in range(6):
        raise ValueError(f"order must be an integer from 0 to 5, got {order!r}.")
    if boundary == "auto":
        boundary = "wrap" if is_periodic(array) else "overlap"
    if array.dtype != np.float32:
        array = array.astype(np.float64)
    if boundary == "wrap":
        return fourier_shift(array, offsets, threads=threads)
    return scipy.ndimage.shift(
        array, offsets, order=order, mode="constant", cval=fill_value, prefilter=order > 1
    )


def apply_shifts(
    stack,
    shifts,
    *,
    axis: int = 0,
    boundary: BoundaryChoice = "overlap",
    order: int = 3,
    fill_value: float = 0.0,
    num_workers: int | None = None,
):
    """Move every frame of a stack by its shift, so that the frames line up.

    Parameters
    ----------
    stack : array_like or dask.array.Array
        Frames of 2-D images or volumes; not modified.
    shifts : array_like, dask.array.Array or StackResult
        ``(frames, ndim)`` shifts in numpy axis order, such as
        ``register_stack(...).shifts`` (or the :class:`StackResult` itself). A row
        of NaN, as ``register_stack`` gives a frame it could not measure (no valid
        pixel), gives a frame of NaN: where that frame belongs is unknown.
    axis : int
        The frame axis.
    boundary : {"overlap", "wrap", "auto"}
        ``"wrap"``: exact Fourier shift of periodic frames. ``"overlap"``: spline
        interpolation; pixels shifted in from outside get ``fill_value``.
        ``"auto"``: ``"wrap"`` when the first frame is shown to wrap (as
        ``register_stack``'s ``boundary="auto"`` decides on its reference).
    order : int
        Spline order (0-5) for ``"overlap"``.
    fill_value : float
        Value of pixels from outside the frame (``"overlap"``); NaN is allowed.
    num_workers : int, optional
        Frames moved at once for numpy input (default: the number of CPUs).

    Returns
    -------
    numpy.ndarray or dask.array.Array
        The aligned stack, same shape and axis order: float32 for float32 input,
        float64 otherwise. Lazy (a dask array, frame-chunked) when ``stack`` or
        ``shifts`` is a dask array, so a registered stack can be viewed or written
        to zarr without ever being in memory whole.

    Examples
    --------
    >>> import numpy as np
    >>> stack = np.zeros((2, 1, 6))
    >>> stack[:, 0, 2] = 1.0
    >>> apply_shifts(stack, [(0, 0), (0, 1)], boundary="overlap", order=1)[:, 0]
    array([[0., 0., 1., 0., 0., 0.],
           [0., 0., 0., 1., 0., 0.]])
    """
    if isinstance(shifts, StackResult):
        shifts = shifts.shifts
    array = as_stack(stack)
    axis = check_axis(axis, array.ndim)
    lazy = isinstance(array, da.Array) or isinstance(shifts, da.Array)
    moved = (
        da.moveaxis(array, axis, 0) if isinstance(array, da.Array) else np.moveaxis(array, axis, 0)
    )
    check_stack_shape(tuple(moved.shape))
    frames, frame_shape = moved.shape[0], tuple(moved.shape[1:])
    ndim = len(frame_shape)
    check_choice(boundary, "boundary", BOUNDARY_CHOICES)
    if isinstance(order, bool) or order not in range(6):
        raise ValueError(f"order must be an integer from 0 to 5, got {order!r}.")
    if boundary == "auto":
        boundary = "wrap" if frames and is_periodic(np.asarray(moved[0])) else "overlap"
    if isinstance(shifts, da.Array):
        if tuple(shifts.shape) != (frames, ndim):
            raise ValueError(
                f"shifts has shape {tuple(shifts.shape)}; it needs one row of {ndim} values "
                f"per frame: ({frames}, {ndim})."
            )
    else:
        try:
            shifts = np.asarray(shifts, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"shifts must be numbers, shape ({frames}, {ndim}).") from None
        if shifts.shape != (frames, ndim):
            raise ValueError(
                f"shifts has shape {shifts.shape}; it needs one row of {ndim} values "
                f"per frame: ({frames}, {ndim})."
            )
        for index, row in enumerate(shifts):
            if not np.isnan(row).all():
                check_shift(row, ndim, f"shifts[{index}]")
    workers = check_workers(num_workers)
    dtype = np.float32 if moved.dtype == np.float32 else np.float64
    frame_bytes = int(np.prod(frame_shape)) * np.dtype(dtype).itemsize
    per_chunk = frames_per_chunk(frame_bytes, frames, workers)
    if isinstance(moved, da.Array):
        moved = moved.rechunk(dict.fromkeys(range(1, moved.ndim), -1))
    else:
        moved = da.from_array(moved, chunks=(per_chunk, *frame_shape))
    shifts = da.asarray(shifts).rechunk((moved.chunks[0], -1))
    letters = axis_letters(ndim)
    out = da.blockwise(
        partial(_shift_chunk, boundary=boundary, order=order, fill_value=fill_value),
        "t" + letters,
        moved,
        "t" + letters,
        shifts,
        "tk",
        concatenate=True,
        dtype=dtype,
        meta=np.empty((0,) * moved.ndim, dtype=dtype),
    )
    out = da.moveaxis(out, 0, axis)
    if lazy:
        return out
    return out.compute(scheduler="threads", num_workers=workers)


def _shift_chunk(frames, shifts, *, boundary, order, fill_value):
    dtype = np.float32 if frames.dtype == np.float32 else np.float64
    out = np.empty(frames.shape, dtype=dtype)
    with _fft.one_blas_thread():
        for index, (frame, shift) in enumerate(zip(frames, shifts, strict=True)):
            if np.isnan(shift).all():  # a frame that was not measured
                out[index] = np.nan
                continue
            out[index] = apply_shift(
                frame, shift, boundary=boundary, order=order, fill_value=fill_value, threads=1
            )
    return out
