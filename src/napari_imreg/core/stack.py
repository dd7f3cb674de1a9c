"""Registering stacks of frames: time-lapses, exposure series, volumes over time.

:func:`register_stack` measures the drift of every frame of a stack against one
reference (a frame, the mean frame, a given image, or each previous frame) and
returns a :class:`StackResult`. :func:`apply_shifts` moves every frame by its
shift. Both take numpy arrays, which they compute at once, or dask arrays, which
they return lazily: nothing is read or registered until the result is computed,
then frames are registered in parallel on whatever dask scheduler is active (the
local threads by default, a ``dask.distributed`` client when one exists), with
memory bounded by the chunks in flight. :func:`iter_register_stack` yields one
frame at a time, for progress bars and cancellation.

Inside each task the reference is prepared once (its spectra are reused for every
frame of the chunk) and each registration uses one FFT thread and one BLAS thread:
with frames registered in parallel, threads inside each registration only compete.
"""

from __future__ import annotations

import dataclasses
import logging
import numbers
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import dask
import dask.array as da
import numpy as np
from threadpoolctl import ThreadpoolController

from ._apply import apply_shift
from ._options import BOUNDARIES, Boundary
from ._register import Registrar
from ._result import RegistrationResult
from ._validation import (
    as_image,
    check_choice,
    check_error,
    check_max_shift,
    check_shift,
    check_upsample_factor,
)

__all__ = ["StackResult", "apply_shifts", "iter_register_stack", "register_stack"]

logger = logging.getLogger(__name__)

ReferenceName = Literal["mean", "previous"]
REFERENCE_NAMES = ("mean", "previous")

#: Name prefix of the registration tasks in dask graphs (progress bars count them).
TASK_PREFIX = "register-stack"

#: Frames per task are chosen so that a chunk of frames stays below this size.
TARGET_CHUNK_BYTES = 64 * 2**20


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class StackResult:
    """The drift of every frame of a stack; :func:`register_stack` returns this type.

    Every per-frame field is a numpy array for numpy input and a dask array for
    dask input (call :meth:`compute` to get numpy arrays in one pass).

    Attributes
    ----------
    shifts : numpy.ndarray or dask.array.Array
        ``(frames, ndim)``: for each frame, the translation in pixels and numpy axis
        order (``(dy, dx)`` for 2-D frames, ``(dz, dy, dx)`` for volumes) that
        registers it onto the reference: ``fourier_shift(frame, shift)`` reproduces
        the reference, and :func:`apply_shifts` aligns the stack. With
        ``reference="previous"`` it is the accumulated drift onto the first frame.
    errors : numpy.ndarray or dask.array.Array
        ``(frames, ndim)`` marginal 1-sigma errors of ``shifts``. With
        ``reference="previous"`` the step errors are added in quadrature (the drift
        is a random walk), so they grow along the stack.
    chi2 : numpy.ndarray or dask.array.Array
        ``(frames,)`` chi2 at the best shift of each registration (the step's, for
        ``"previous"``).
    dof : numpy.ndarray or dask.array.Array
        ``(frames,)`` degrees of freedom of each chi2.
    noise : numpy.ndarray or dask.array.Array or None
        ``(frames,)`` the 1-sigma noise of each difference image, estimated from
        the residual; ``None`` when an ``error`` was given.
    reference : int or str
        The frame index, ``"mean"``, ``"previous"`` or ``"array"``. The reference
        frame itself (or the first frame, for ``"previous"``) is not registered:
        its shift and error are 0 by definition, and its chi2 and dof are 0.
    axis : int
        The frame axis of the input stack.
    boundary : str
        ``"overlap"`` or ``"wrap"``.
    """

    shifts: Any
    errors: Any
    chi2: Any
    dof: Any
    noise: Any
    reference: int | str
    axis: int
    boundary: str

    _ARRAY_FIELDS = ("shifts", "errors", "chi2", "dof", "noise")

    @property
    def is_lazy(self) -> bool:
        """True when the per-frame fields are dask arrays, not yet computed."""
        return isinstance(self.shifts, da.Array)

    def compute(self, **kwargs) -> StackResult:
        """The same result with numpy arrays, all fields computed in one pass.

        Keyword arguments go to :func:`dask.compute` (``scheduler=...``, for
        example). A result that is already computed is returned unchanged.
        """
        if not self.is_lazy:
            return self
        names = [n for n in self._ARRAY_FIELDS if getattr(self, n) is not None]
        values = dask.compute(*(getattr(self, n) for n in names), **kwargs)
        return dataclasses.replace(self, **dict(zip(names, values, strict=True)))

    def __repr__(self) -> str:
        frames, ndim = self.shifts.shape
        state = "lazy" if self.is_lazy else "computed"
        return (
            f"StackResult({frames} frames, ndim={ndim}, reference={self.reference!r}, "
            f"boundary={self.boundary!r}, {state})"
        )


# ---------------------------------------------------------------- thread control

_blas_lock = threading.Lock()
_blas_users = 0
_blas_limits = None


@contextmanager
def _one_blas_thread():
    """Keep BLAS single-threaded while any stack task runs in this process.

    A per-process reference count: the first task in limits BLAS to one thread,
    the last one out restores it (setting and restoring per task would let a task
    that finishes lift the limit under one still running).
    """
    global _blas_users, _blas_limits
    with _blas_lock:
        if _blas_users == 0:
            _blas_limits = ThreadpoolController().limit(limits=1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0 and _blas_limits is not None:
                _blas_limits.restore_original_limits()
                _blas_limits = None


# ------------------------------------------------------------------ validation


def _as_stack(stack) -> np.ndarray | da.Array:
    """A numeric array of frames, as numpy or dask, without reading a dask array."""
    if isinstance(stack, da.Array):
        if stack.dtype.kind not in "biuf":
            raise TypeError(
                f"stack must hold real numbers, got dtype {stack.dtype}. "
                "Convert it with stack.astype(float) first."
            )
        return stack
    return as_image(stack, "stack")


def _check_axis(axis, ndim: int) -> int:
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be an integer, got {axis!r}.")
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"axis={axis} is out of range for a stack with {ndim} dimensions; "
            f"use an axis from {-ndim} to {ndim - 1}."
        )
    return int(axis) % ndim


def _check_stack_shape(shape: tuple[int, ...]) -> None:
    if len(shape) not in (3, 4):
        raise ValueError(
            f"stack must have 3 dimensions (frames of 2-D images) or 4 (frames of volumes), "
            f"got shape {shape}. For a single pair use napari_imreg.core.register."
        )
    if shape[0] < 1:
        raise ValueError(f"stack has no frames (shape {shape}).")


def _check_reference(reference, frames: int, frame_shape) -> int | str | Any:
    """An index in range, ``"mean"``, ``"previous"``, or a frame-shaped array."""
    if isinstance(reference, str):
        return check_choice(reference, "reference", REFERENCE_NAMES)
    if isinstance(reference, numbers.Integral) and not isinstance(reference, bool):
        if not -frames <= reference < frames:
            raise ValueError(
                f"reference={reference} is not a frame of this stack ({frames} frames); "
                f"use an index from {-frames} to {frames - 1}, 'mean' or 'previous'."
            )
        return int(reference) % frames
    if isinstance(reference, bool) or np.ndim(reference) == 0:
        raise TypeError(
            f"reference must be a frame index, 'mean', 'previous' or an image, got {reference!r}."
        )
    array = reference if isinstance(reference, da.Array) else as_image(reference, "reference")
    if tuple(array.shape) != tuple(frame_shape):
        raise ValueError(
            f"reference has shape {tuple(array.shape)} but the frames have shape "
            f"{tuple(frame_shape)}; pass an image of the frames' shape."
        )
    return array


def _check_stack_error(error, shape: tuple[int, ...]):
    """None, a positive scalar, a frame-shaped map or a stack-shaped map (frames first)."""
    if error is None or isinstance(error, numbers.Number):
        return check_error(error, shape[1:], "error")
    if isinstance(error, da.Array):
        if tuple(error.shape) not in (tuple(shape), tuple(shape[1:])):
            raise ValueError(
                f"error has shape {tuple(error.shape)}; pass a scalar, a map of one frame "
                f"{tuple(shape[1:])} or of the whole stack {tuple(shape)}."
            )
        return error
    array = as_image(error, "error")
    if array.shape == tuple(shape):
        for index in range(shape[0]):
            check_error(array[index], shape[1:], f"error[{index}]")
        return array
    return check_error(array, shape[1:], "error")


# ----------------------------------------------------------------- per-frame work


def _columns(ndim: int) -> int:
    """Columns of the per-frame table: shift, error, chi2, dof, noise."""
    return 2 * ndim + 3


def _row(result: RegistrationResult, ndim: int) -> np.ndarray:
    row = np.empty(_columns(ndim))
    row[:ndim] = result.shift
    row[ndim : 2 * ndim] = result.error if result.error is not None else np.nan
    row[2 * ndim] = np.nan if result.chi2_min is None else result.chi2_min
    row[2 * ndim + 1] = np.nan if result.dof is None else result.dof
    row[2 * ndim + 2] = np.nan if result.noise is None else result.noise
    return row


def _register_chunk(
    frames: np.ndarray,
    indices: np.ndarray,
    reference: np.ndarray,
    errors,
    reference_error,
    *,
    skip: int | None,
    options: dict,
    threads: int | None,
) -> np.ndarray:
    """Register a chunk of frames against one reference; one table row per frame.

    ``errors`` is None, a scalar, one frame's map, or one map per frame of the
    chunk (``errors.ndim == frames.ndim``).
    """
    ndim = frames.ndim - 1
    table = np.zeros((len(frames), _columns(ndim)))
    per_frame = isinstance(errors, np.ndarray) and errors.ndim == frames.ndim
    with _one_blas_thread():
        registrar = Registrar(
            reference, reference_error=reference_error, threads=threads, **options
        )
        for row, (index, frame) in enumerate(zip(indices, frames, strict=True)):
            if skip is not None and index == skip:
                continue  # the reference frame: 0 by definition
            error = errors[row] if per_frame else errors
            table[row] = _row(registrar.register(frame, error=error, delta_chi2_map=False), ndim)
    return table


def _register_steps(
    frames: np.ndarray,
    previous: np.ndarray,
    errors,
    previous_errors,
    *,
    options: dict,
    threads: int | None,
) -> np.ndarray:
    """Register each frame onto the frame before it; one table row per step."""
    ndim = frames.ndim - 1
    table = np.zeros((len(frames), _columns(ndim)))
    per_frame = isinstance(errors, np.ndarray) and errors.ndim == frames.ndim
    with _one_blas_thread():
        for row in range(len(frames)):
            error = errors[row] if per_frame else errors
            ref_error = previous_errors[row] if per_frame else previous_errors
            registrar = Registrar(
                previous[row], reference_error=ref_error, threads=threads, **options
            )
            table[row] = _row(
                registrar.register(frames[row], error=error, delta_chi2_map=False), ndim
            )
    return table


def _accumulate(steps, ndim: int, xp):
    """Per-frame table of accumulated drift from the step table (frame 0 first)."""
    first = xp.zeros((1, _columns(ndim)))
    shifts = xp.cumsum(steps[:, :ndim], axis=0)
    errors = xp.sqrt(xp.cumsum(steps[:, ndim : 2 * ndim] ** 2, axis=0))
    rest = xp.concatenate([shifts, errors, steps[:, 2 * ndim :]], axis=1)
    return xp.concatenate([first, rest], axis=0)


# ------------------------------------------------------------------ the graph


def _frames_per_chunk(frame_bytes: int, frames: int, workers: int) -> int:
    """Enough frames per task to amortise the reference, few enough to balance the workers."""
    by_memory = max(1, TARGET_CHUNK_BYTES // max(frame_bytes, 1))
    by_balance = max(1, -(-frames // (4 * max(workers, 1))))
    return int(max(1, min(by_memory, by_balance)))


def _whole_frames(stack: da.Array, frames_per_chunk: int) -> da.Array:
    """Rechunk so that each chunk holds whole frames, and more than a handful.

    Chunks of a few frames are merged up to ``frames_per_chunk`` (each task
    prepares the reference once). Chunks already a quarter of that or more are
    kept as stored: merging them would copy the whole stack for little gain.
    """
    chunks = dict.fromkeys(range(1, stack.ndim), -1)
    if min(stack.chunks[0]) < max(1, frames_per_chunk // 4):
        chunks[0] = frames_per_chunk
    return stack.rechunk(chunks)


def _dask_view(stack: np.ndarray, frames_per_chunk: int) -> da.Array:
    """A numpy stack as a dask array of whole-frame chunks that are views of it.

    ``da.from_array`` would copy the stack and hash all of it for a name: for a
    stack registered at once, that costs as much as registering a fifth of it.
    """
    name = f"{TASK_PREFIX}-frames-{uuid.uuid4().hex}"
    starts = range(0, stack.shape[0], frames_per_chunk)
    rest = (0,) * (stack.ndim - 1)
    graph = {
        (name, i, *rest): stack[start : start + frames_per_chunk] for i, start in enumerate(starts)
    }
    counts = tuple(min(frames_per_chunk, stack.shape[0] - start) for start in starts)
    chunks = (counts, *((n,) for n in stack.shape[1:]))
    return da.Array(graph, name, chunks, dtype=stack.dtype)


def _token(*parts) -> str:
    return dask.base.tokenize(*parts)


def _letters(ndim: int) -> str:
    return "zyx"[-ndim:] if ndim <= 3 else "".join(chr(ord("a") + i) for i in range(ndim))


class _Opaque:
    """Hides a dask array from dask, so that a task can compute it itself."""

    def __init__(self, array):
        self.array = array

    def __dask_tokenize__(self):
        return dask.base.tokenize(self.array)


def _streamed_mean(hidden: _Opaque, dtype) -> np.ndarray:
    """The mean frame, computed inside one task in a single streaming pass."""
    mean = hidden.array.mean(axis=0, dtype=np.float64).compute(scheduler="threads")
    return mean.astype(dtype, copy=False)


def _chunk_of(hidden: _Opaque) -> np.ndarray:
    return np.asarray(hidden.array.compute(scheduler="sync"))


def _lazy_table(
    stack: da.Array,
    reference,
    errors,
    *,
    options: dict,
    threads: int | None,
) -> da.Array:
    """The per-frame table as a dask array: one task per chunk of frames."""
    frames = stack.shape[0]
    frame_shape = stack.shape[1:]
    ndim = len(frame_shape)
    letters = _letters(ndim)
    frame_index = "t" + letters
    new_axes = {"c": _columns(ndim)}
    per_frame_errors = isinstance(errors, np.ndarray | da.Array) and errors.ndim == stack.ndim
    if per_frame_errors:
        errors = da.asarray(errors).rechunk(stack.chunks)
    error_args = (errors, frame_index) if per_frame_errors else (errors, None)
    if isinstance(errors, da.Array) and not per_frame_errors:
        error_args = (errors.rechunk(-1), letters)

    if isinstance(reference, str) and reference == "previous":
        if frames == 1:
            return da.zeros((1, _columns(ndim)), chunks=(1, -1))
        moving = stack[1:]
        previous = stack[:-1].rechunk(moving.chunks)
        step_errors = error_args
        previous_errors = error_args
        if per_frame_errors:
            step_errors = (errors[1:], frame_index)
            previous_errors = (errors[:-1].rechunk(errors[1:].chunks), frame_index)
        steps = da.blockwise(
            partial(_register_steps, options=options, threads=threads),
            "tc",
            moving,
            frame_index,
            previous,
            frame_index,
            *step_errors,
            *previous_errors,
            new_axes=new_axes,
            concatenate=True,
            dtype=np.float64,
            meta=np.empty((0, 0)),
            name=f"{TASK_PREFIX}-steps-{_token(moving, errors, options)}",
        )
        return _accumulate(steps, ndim, da)

    indices = da.arange(frames, chunks=(stack.chunks[0],))
    if isinstance(reference, str) and reference == "mean":
        # The mean needs a pass over the whole stack before any frame can be
        # registered. Sharing the chunks between the two passes would keep every
        # chunk in memory until the mean is known, so each pass reads the data
        # itself: the mean in one streaming task, each registration task its own
        # chunk.
        ref = da.from_delayed(
            dask.delayed(_streamed_mean)(_Opaque(stack), stack.dtype),
            shape=frame_shape,
            dtype=stack.dtype,
        )
        ref_error = _reference_error_of_mean(errors, frames, per_frame=per_frame_errors)
        token = _token(stack, errors, options)
        blocks = []
        for start, count in zip(
            np.cumsum((0, *stack.chunks[0][:-1])), stack.chunks[0], strict=True
        ):
            chunk = dask.delayed(_chunk_of)(_Opaque(stack[start : start + count]))
            chunk_errors = errors
            if per_frame_errors:
                chunk_errors = dask.delayed(_chunk_of)(_Opaque(errors[start : start + count]))
            table = dask.delayed(_register_chunk)(
                chunk,
                np.arange(start, start + count),
                ref,
                chunk_errors,
                ref_error,
                skip=None,
                options=options,
                threads=threads,
                dask_key_name=f"{TASK_PREFIX}-mean-{token}-{start}",
            )
            blocks.append(da.from_delayed(table, shape=(count, _columns(ndim)), dtype=np.float64))
        return da.concatenate(blocks, axis=0)

    if isinstance(reference, numbers.Integral):
        skip = int(reference)
        ref = stack[skip].rechunk(-1)
        ref_error_args = (errors[skip].rechunk(-1), letters) if per_frame_errors else error_args
    else:
        skip = None
        ref = da.asarray(reference).rechunk(-1)
        ref_error_args = error_args
    return da.blockwise(
        partial(_register_chunk, skip=skip, options=options, threads=threads),
        "tc",
        stack,
        frame_index,
        indices,
        "t",
        ref,
        letters,
        *error_args,
        *ref_error_args,
        new_axes=new_axes,
        concatenate=True,
        dtype=np.float64,
        meta=np.empty((0, 0)),
        name=f"{TASK_PREFIX}-{_token(stack, ref, errors, skip, options)}",
    )


def _reference_error_of_mean(errors, frames: int, *, per_frame: bool):
    """The 1-sigma noise of the mean frame: sqrt(sum of the variances) / frames."""
    if errors is None:
        return None
    if not per_frame:
        return errors / np.sqrt(frames)
    if isinstance(errors, da.Array):
        return da.from_delayed(
            dask.delayed(_streamed_quadrature_mean)(_Opaque(errors)),
            shape=errors.shape[1:],
            dtype=np.float64,
        )
    return np.sqrt(np.sum(np.square(errors, dtype=np.float64), axis=0)) / frames


def _streamed_quadrature_mean(hidden: _Opaque) -> np.ndarray:
    """sqrt(sum of squares) / count over the first axis, in one streaming pass."""
    array = hidden.array
    total = (array.astype(np.float64) ** 2).sum(axis=0).compute(scheduler="threads")
    return np.sqrt(total) / array.shape[0]


# ------------------------------------------------------------------- public API


def register_stack(
    stack,
    *,
    axis: int = 0,
    reference: int | ReferenceName | Any = 0,
    error=None,
    upsample_factor: int | Literal["auto"] = "auto",
    boundary: Boundary = "overlap",
    zero_mean: bool = True,
    max_shift=None,
    num_workers: int | None = None,
) -> StackResult:
    """Measure the drift of every frame of a stack, with calibrated 1-sigma errors.

    Each frame is registered with the chi-squared method of
    :func:`napari_imreg.core.register`; the reference is prepared once per task
    and reused for every frame.

    Parameters
    ----------
    stack : array_like or dask.array.Array
        Frames of 2-D images (3-D array) or of volumes (4-D array). A numpy array
        is registered at once; a dask array gives a lazy result (nothing is read
        until it is computed) that runs on the active dask scheduler.
    axis : int
        The frame axis.
    reference : int, {"mean", "previous"} or array_like
        What each frame is registered onto: a frame index, the mean frame, each
        frame's predecessor (the drifts are then accumulated from the first
        frame, with the step errors added in quadrature), or a given image of the
        frames' shape (numpy or dask).
    error : float or array_like, optional
        1-sigma noise of every frame: a scalar, a map of one frame shared by all,
        or a map per frame (an array of the stack's shape, frames first). The
        reference's noise follows from it (divided by sqrt(frames) for the mean).
        ``None`` estimates the noise from the data, per frame.
    upsample_factor, boundary, zero_mean, max_shift
        As for :func:`napari_imreg.core.register`.
    num_workers : int, optional
        Frames registered at once for numpy input (default: the number of CPUs).
        For dask input the scheduler decides.

    Returns
    -------
    StackResult
        ``shifts[i]`` (numpy axis order) registers frame ``i`` onto the
        reference, as ``register(reference, frame).shift`` would; ``errors``,
        ``chi2``, ``dof`` and ``noise`` per frame. Dask arrays for dask input.

    Raises
    ------
    TypeError
        For non-numeric stacks or a reference of the wrong kind.
    ValueError
        For stacks that are not 3-D or 4-D, an axis or reference index out of
        range, a reference or error of the wrong shape, and invalid options.

    Notes
    -----
    Frames are registered in parallel, each with one FFT and one BLAS thread
    (threads inside each registration would only compete with the other frames).
    For dask input the memory in use is about the chunks in flight plus a few
    frame-sized buffers per worker; ``reference="mean"`` reads the stack twice
    (once for the mean, once to register) rather than holding it.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_imreg.core import make_extended, make_shifted
    >>> image = make_extended(64, seed=1)
    >>> drift = [(0.0, 0.0), (0.5, -0.25), (1.0, -0.5)]
    >>> stack = np.stack([make_shifted(image, d, noise=0.01, seed=i)
    ...                   for i, d in enumerate(drift)])
    >>> result = register_stack(stack, boundary="wrap")
    >>> bool(np.allclose(result.shifts, drift, atol=0.01))
    True
    """
    array = _as_stack(stack)
    axis = _check_axis(axis, array.ndim)
    moved = (
        da.moveaxis(array, axis, 0) if isinstance(array, da.Array) else np.moveaxis(array, axis, 0)
    )
    _check_stack_shape(tuple(moved.shape))
    frames, frame_shape = moved.shape[0], tuple(moved.shape[1:])
    reference = _check_reference(reference, frames, frame_shape)
    errors = _check_stack_error(error, tuple(moved.shape))
    options = _check_options(upsample_factor, boundary, zero_mean, max_shift, frame_shape)
    workers = _check_workers(num_workers)

    lazy = isinstance(array, da.Array)
    frame_bytes = int(np.prod(frame_shape)) * max(moved.dtype.itemsize, 8)
    per_chunk = _frames_per_chunk(frame_bytes, frames, workers)
    moved = _whole_frames(moved, per_chunk) if lazy else _dask_view(moved, per_chunk)
    table = _lazy_table(moved, reference, errors, options=options, threads=1)
    if not lazy:
        table = table.compute(scheduler="threads", num_workers=workers)
    label = reference if isinstance(reference, int | str) else "array"
    ndim = len(frame_shape)
    return StackResult(
        shifts=table[:, :ndim],
        errors=table[:, ndim : 2 * ndim],
        chi2=table[:, 2 * ndim],
        dof=table[:, 2 * ndim + 1],
        noise=None if errors is not None else table[:, 2 * ndim + 2],
        reference=label,
        axis=axis,
        boundary=options["boundary"],
    )


def _check_options(upsample_factor, boundary, zero_mean, max_shift, frame_shape) -> dict:
    check_max_shift(max_shift, frame_shape)
    return {
        "upsample_factor": check_upsample_factor(upsample_factor),
        "boundary": check_choice(boundary, "boundary", BOUNDARIES),
        "zero_mean": bool(zero_mean),
        "max_shift": max_shift,
    }


def _is_per_frame(errors, stack_ndim: int) -> bool:
    return isinstance(errors, np.ndarray | da.Array) and errors.ndim == stack_ndim


def _check_workers(num_workers) -> int:
    if num_workers is None:
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral):
        raise TypeError(f"num_workers must be a positive integer or None, got {num_workers!r}.")
    if num_workers < 1:
        raise ValueError(f"num_workers must be >= 1, got {num_workers!r}.")
    return int(num_workers)


def iter_register_stack(
    stack,
    *,
    axis: int = 0,
    reference: int | ReferenceName | Any = 0,
    error=None,
    upsample_factor: int | Literal["auto"] = "auto",
    boundary: Boundary = "overlap",
    zero_mean: bool = True,
    max_shift=None,
    threads: int | None = None,
) -> Iterator[tuple[int, RegistrationResult]]:
    """Register a stack one frame at a time, yielding ``(index, result)`` in frame order.

    The same registration as :func:`register_stack`, for callers that show
    progress or may stop early: each frame is read (for dask input) and
    registered only when the next item is requested, so abandoning the iterator
    cancels the rest and keeps what was done.

    Parameters
    ----------
    stack, axis, reference, error, upsample_factor, boundary, zero_mean, max_shift
        As for :func:`register_stack`.
    threads : int, optional
        FFT threads per registration (default: all cores for large frames).

    Yields
    ------
    index : int
        The frame index along ``axis``.
    result : RegistrationResult
        ``result.shift`` registers the frame onto the reference (numpy axis
        order). With ``reference="previous"``, ``shift``, ``error`` and
        ``covariance`` are the accumulated drift onto the first frame, and the
        other fields those of the step from the previous frame. The reference
        frame itself (and the first frame for ``"previous"``) comes with a zero
        shift, error and covariance, ``chi2_min=0`` and ``method="reference"``.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_imreg.core import make_extended, make_shifted
    >>> image = make_extended(32, seed=2)
    >>> stack = np.stack([image, make_shifted(image, (1.5, 0.0), noise=0.01, seed=3)])
    >>> for index, result in iter_register_stack(stack, boundary="wrap"):
    ...     print(index, np.round(result.shift, 1) + 0.0)
    0 [0. 0.]
    1 [1.5 0. ]
    """
    array = _as_stack(stack)
    axis = _check_axis(axis, array.ndim)
    moved = (
        da.moveaxis(array, axis, 0) if isinstance(array, da.Array) else np.moveaxis(array, axis, 0)
    )
    _check_stack_shape(tuple(moved.shape))
    frames, frame_shape = moved.shape[0], tuple(moved.shape[1:])
    reference = _check_reference(reference, frames, frame_shape)
    errors = _check_stack_error(error, tuple(moved.shape))
    options = _check_options(upsample_factor, boundary, zero_mean, max_shift, frame_shape)
    per_frame = _is_per_frame(errors, moved.ndim)
    return _iterate(moved, reference, errors, per_frame, options, threads)


def _iterate(moved, reference, errors, per_frame, options, threads):
    frames = moved.shape[0]
    ndim = moved.ndim - 1

    def frame_error(index):
        return np.asarray(errors[index]) if per_frame else errors

    def zero():
        return RegistrationResult(
            shift=np.zeros(ndim),
            error=np.zeros(ndim),
            covariance=np.zeros((ndim, ndim)),
            chi2_min=0.0,
            boundary=options["boundary"],
            method="reference",
        )

    if isinstance(reference, str) and reference == "previous":
        total = np.zeros(ndim)
        covariance = np.zeros((ndim, ndim))
        previous = np.asarray(moved[0])
        yield 0, zero()
        for index in range(1, frames):
            frame = np.asarray(moved[index])
            registrar = Registrar(
                previous,
                reference_error=frame_error(index - 1),
                threads=threads,
                **options,
            )
            step = registrar.register(frame, error=frame_error(index), delta_chi2_map=False)
            total = total + step.shift
            covariance = covariance + step.covariance
            yield (
                index,
                dataclasses.replace(
                    step,
                    shift=total,
                    error=np.sqrt(np.diag(covariance)),
                    covariance=covariance,
                ),
            )
            previous = frame
        return

    skip = reference if isinstance(reference, int) else None
    if isinstance(reference, str) and reference == "mean":
        target = moved.mean(axis=0, dtype=np.float64)
        reference_error = _reference_error_of_mean(errors, frames, per_frame=per_frame)
    elif skip is not None:
        target = moved[skip]
        reference_error = frame_error(skip)
    else:
        target = reference
        reference_error = None if per_frame else errors
    target, reference_error = dask.compute(target, reference_error)
    registrar = Registrar(
        np.asarray(target), reference_error=reference_error, threads=threads, **options
    )
    for index in range(frames):
        if index == skip:
            yield index, zero()
            continue
        yield (
            index,
            registrar.register(
                np.asarray(moved[index]), error=frame_error(index), delta_chi2_map=False
            ),
        )


def apply_shifts(
    stack,
    shifts,
    *,
    axis: int = 0,
    boundary: Boundary = "overlap",
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
        ``register_stack(...).shifts`` (or the :class:`StackResult` itself).
    axis : int
        The frame axis.
    boundary : {"overlap", "wrap"}
        ``"wrap"``: exact Fourier shift of periodic frames. ``"overlap"``: spline
        interpolation; pixels shifted in from outside get ``fill_value``.
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
    array = _as_stack(stack)
    axis = _check_axis(axis, array.ndim)
    lazy = isinstance(array, da.Array) or isinstance(shifts, da.Array)
    moved = (
        da.moveaxis(array, axis, 0) if isinstance(array, da.Array) else np.moveaxis(array, axis, 0)
    )
    _check_stack_shape(tuple(moved.shape))
    frames, frame_shape = moved.shape[0], tuple(moved.shape[1:])
    ndim = len(frame_shape)
    check_choice(boundary, "boundary", BOUNDARIES)
    if isinstance(order, bool) or order not in range(6):
        raise ValueError(f"order must be an integer from 0 to 5, got {order!r}.")
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
            check_shift(row, ndim, f"shifts[{index}]")
    workers = _check_workers(num_workers)
    dtype = np.float32 if moved.dtype == np.float32 else np.float64
    frame_bytes = int(np.prod(frame_shape)) * np.dtype(dtype).itemsize
    per_chunk = _frames_per_chunk(frame_bytes, frames, workers)
    if isinstance(moved, da.Array):
        moved = moved.rechunk(dict.fromkeys(range(1, moved.ndim), -1))
    else:
        moved = da.from_array(moved, chunks=(per_chunk, *frame_shape))
    shifts = da.asarray(shifts).rechunk((moved.chunks[0], -1))
    letters = _letters(ndim)
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
    with _one_blas_thread():
        for index, (frame, shift) in enumerate(zip(frames, shifts, strict=True)):
            out[index] = apply_shift(
                frame, shift, boundary=boundary, order=order, fill_value=fill_value, threads=1
            )
    return out
