"""The stack as a dask graph: one task per chunk of frames, each running the driver."""

from __future__ import annotations

import numbers
import uuid
from functools import partial

import dask
import dask.array as da
import numpy as np

from . import _fft
from ._options import Options
from ._result import RegistrationResult
from ._stack_driver import (
    against_one,
    at_origin,
    bridge_step,
    chained,
    from_row,
    onto_previous,
    row_columns,
    table,
)
from ._template import AlignedMean

#: Name prefix of the registration tasks in dask graphs (progress bars count them).
TASK_PREFIX = "register-stack"


#: Frames per task are chosen so that a chunk of frames stays below this size.
TARGET_CHUNK_BYTES = 64 * 2**20


def _row(values, row: int, per_frame: bool):
    """Frame ``row``'s error or mask: its own of a per-frame stack, else the shared one."""
    return values[row] if per_frame else values


def _per_frame(values, frames: np.ndarray) -> bool:
    return isinstance(values, np.ndarray) and values.ndim == frames.ndim


def register_chunk(
    frames: np.ndarray,
    indices: np.ndarray,
    reference: np.ndarray,
    errors,
    reference_error,
    masks,
    reference_mask,
    *,
    skip: int | None,
    options: Options,
    quiet: bool = False,
) -> np.ndarray:
    """Register a chunk of frames against one reference; one table row per frame
    (``quiet``: without the frames' warnings, see :func:`against_one`).

    ``errors`` is None, a scalar, one frame's map, or one map per frame of the
    chunk (``errors.ndim == frames.ndim``); ``masks`` is None, one frame's mask or
    one mask per frame of the chunk.
    """
    per_error, per_mask = _per_frame(errors, frames), _per_frame(masks, frames)
    items = (
        None
        if skip is not None and index == skip
        else (int(index), frame, _row(errors, row, per_error), _row(masks, row, per_mask))
        for row, (index, frame) in enumerate(zip(indices, frames, strict=True))
    )
    with _fft.one_blas_thread():
        results = against_one(
            reference, reference_error, items, options, reference_mask=reference_mask, quiet=quiet
        )
        return table(results, len(frames), frames.ndim - 1)


def register_steps(
    frames: np.ndarray,
    indices: np.ndarray,
    previous: np.ndarray,
    errors,
    previous_errors,
    masks,
    previous_masks,
    *,
    options: Options,
) -> np.ndarray:
    """Register each frame onto the frame before it; one table row per step.

    ``indices`` are the frames' indices in the stack (for the warnings).
    """
    per_error, per_mask = _per_frame(errors, frames), _per_frame(masks, frames)
    pairs = (
        (
            int(indices[row]),
            previous[row],
            frames[row],
            _row(previous_errors, row, per_error),
            _row(errors, row, per_error),
            _row(previous_masks, row, per_mask),
            _row(masks, row, per_mask),
        )
        for row in range(len(frames))
    )
    with _fft.one_blas_thread():
        steps = onto_previous(pairs, options)
        return table(steps, len(frames), frames.ndim - 1)


def chained_table(steps: np.ndarray, stack, errors, masks, *, options: Options) -> np.ndarray:
    """Per-frame table of accumulated drift from the step table (frame 0 first), a frame
    after one whose drift is not measured registered onto the last measured one (see
    :func:`chained`): ``stack``, and ``errors`` and ``masks`` when per frame, are hidden
    (:class:`Opaque`) and read a frame at a time, only for such frames."""
    ndim = stack.array.ndim - 1

    def frame(values, index):
        if isinstance(values, Opaque):
            return np.asarray(values.array[index].compute(scheduler="threads"))
        return values

    def bridge(anchor: int, index: int) -> RegistrationResult:
        pair = (index, frame(stack, anchor), frame(stack, index), frame(errors, anchor))
        pair += (frame(errors, index), frame(masks, anchor), frame(masks, index))
        with _fft.one_blas_thread():
            return bridge_step(pair, options)

    rows = (from_row(row, ndim, options.boundary) for row in steps)
    results = chained(rows, bridge, at_origin(ndim, options.boundary))
    return table(results, len(steps) + 1, ndim)


def frames_per_chunk(frame_bytes: int, frames: int, workers: int) -> int:
    """Enough frames per task to amortise the reference, few enough to balance the workers."""
    by_memory = max(1, TARGET_CHUNK_BYTES // max(frame_bytes, 1))
    by_balance = max(1, -(-frames // (4 * max(workers, 1))))
    return int(max(1, min(by_memory, by_balance)))


def whole_frames(stack: da.Array, frames_per_chunk: int) -> da.Array:
    """Rechunk so that each chunk holds whole frames, and more than a handful.

    Chunks of a few frames are merged up to ``frames_per_chunk`` (each task
    prepares the reference once). Chunks already a quarter of that or more are
    kept as stored: merging them would copy the whole stack for little gain.
    """
    chunks = dict.fromkeys(range(1, stack.ndim), -1)
    if min(stack.chunks[0]) < max(1, frames_per_chunk // 4):
        chunks[0] = frames_per_chunk
    return stack.rechunk(chunks)


def dask_view(stack: np.ndarray, frames_per_chunk: int) -> da.Array:
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


def axis_letters(ndim: int) -> str:
    return "zyx"[-ndim:] if ndim <= 3 else "".join(chr(ord("a") + i) for i in range(ndim))


class Opaque:
    """Hides a dask array from dask, so that a task can compute it itself."""

    def __init__(self, array):
        self.array = array

    def __dask_tokenize__(self):
        return dask.base.tokenize(self.array)


def streamed_mean(hidden: Opaque, dtype) -> np.ndarray:
    """The mean frame, computed inside one task in a single streaming pass."""
    mean = hidden.array.mean(axis=0, dtype=np.float64).compute(scheduler="threads")
    return usable_mean(mean, hidden.array).astype(dtype, copy=False)


def usable_mean(mean: np.ndarray, stack) -> np.ndarray:
    """``mean``, or the mean of the frames with a finite pixel where ``mean`` has none.

    One frame with no finite pixel makes every pixel of the plain mean NaN, and the
    whole stack unregistrable; without that frame the others can be measured (the
    frame itself is then reported by the driver). Only that case pays a second pass,
    so every other stack keeps its mean exactly.
    """
    if np.isfinite(mean).any():
        return mean
    array = da.asarray(stack)
    frame_axes = tuple(range(1, array.ndim))
    valid = da.isfinite(array).any(axis=frame_axes)
    kept = da.where(valid.reshape((-1,) + (1,) * len(frame_axes)), array, 0.0)
    total, count = dask.compute(
        kept.sum(axis=0, dtype=np.float64), valid.sum(), scheduler="threads"
    )
    return total / count if count else mean


def _chunk_of(hidden: Opaque) -> np.ndarray:
    return np.asarray(hidden.array.compute(scheduler="sync"))


#: ``reference_mask`` when the reference's mask comes from the frames' own masks: the
#: reference frame's, each previous frame's, or the pixels no frame keeps in the mean.
FROM_FRAMES = "frames"


def from_frames(reference_mask) -> bool:
    """Whether the reference's mask is to come from the frames' masks."""
    return isinstance(reference_mask, str) and reference_mask == FROM_FRAMES


def _frame_args(values, stack: da.Array, letters: str) -> tuple:
    """A per-frame error or mask stack (chunked as the frames), one frame's (whole), or a
    constant, as blockwise's ``(value, index)``."""
    if isinstance(values, np.ndarray | da.Array) and values.ndim == stack.ndim:
        return (da.asarray(values).rechunk(stack.chunks), "t" + letters)
    if isinstance(values, da.Array):
        return (values.rechunk(-1), letters)
    return (values, None)


def _offset_args(args: tuple, letters: str) -> tuple[tuple, tuple]:
    """The blockwise args of each frame after the first, and of the frame before it."""
    values, index = args
    if index != "t" + letters:
        return args, args
    later = values[1:]
    return (later, index), (values[:-1].rechunk(later.chunks), index)


def _one_frame_args(args: tuple, frame: int, letters: str) -> tuple:
    """Frame ``frame``'s entry of blockwise args made by :func:`_frame_args`."""
    values, index = args
    if index != "t" + letters:
        return args
    return (values[frame].rechunk(-1), letters)


def lazy_table(
    stack: da.Array,
    reference,
    errors,
    *,
    options: Options,
    masks=None,
    reference_mask=None,
) -> da.Array:
    """The per-frame table as a dask array: one task per chunk of frames.

    ``masks`` is None, one frame's mask or one per frame; ``reference_mask`` None, a
    frame's mask, or :data:`FROM_FRAMES`.
    """
    frames = stack.shape[0]
    frame_shape = stack.shape[1:]
    ndim = len(frame_shape)
    letters = axis_letters(ndim)
    frame_index = "t" + letters
    new_axes = {"c": row_columns(ndim)}
    per_frame_errors = isinstance(errors, np.ndarray | da.Array) and errors.ndim == stack.ndim
    if per_frame_errors:
        errors = da.asarray(errors).rechunk(stack.chunks)
    error_args = _frame_args(errors, stack, letters)
    mask_args = _frame_args(masks, stack, letters)

    if isinstance(reference, str) and reference == "previous":
        if frames == 1:
            return da.zeros((1, row_columns(ndim)), chunks=(1, -1))
        moving = stack[1:]
        previous = stack[:-1].rechunk(moving.chunks)
        step_errors, previous_errors = _offset_args(error_args, letters)
        step_masks, previous_masks = _offset_args(mask_args, letters)
        steps = da.blockwise(
            partial(register_steps, options=options),
            "tc",
            moving,
            frame_index,
            da.arange(1, frames, chunks=(moving.chunks[0],)),
            "t",
            previous,
            frame_index,
            *step_errors,
            *previous_errors,
            *step_masks,
            *previous_masks,
            new_axes=new_axes,
            concatenate=True,
            dtype=np.float64,
            meta=np.empty((0, 0)),
            name=f"{TASK_PREFIX}-steps-{_token(moving, errors, masks, options)}",
        )
        per_frame_masks = isinstance(masks, np.ndarray | da.Array) and masks.ndim == stack.ndim
        accumulated = dask.delayed(chained_table)(
            steps,
            Opaque(stack),
            Opaque(errors) if per_frame_errors else errors,
            Opaque(masks) if per_frame_masks else masks,
            options=options,
            dask_key_name=f"{TASK_PREFIX}-chained-{_token(moving, errors, masks, options)}",
        )
        return da.from_delayed(accumulated, shape=(frames, row_columns(ndim)), dtype=np.float64)

    if isinstance(reference, str) and reference == "mean":
        return _against_mean(
            stack, errors, masks, reference_mask, per_frame_errors, options=options
        )

    indices = da.arange(frames, chunks=(stack.chunks[0],))
    if isinstance(reference, numbers.Integral):
        skip = int(reference)
        ref = stack[skip].rechunk(-1)
        ref_error_args = _one_frame_args(error_args, skip, letters)
    else:
        skip = None
        ref = da.asarray(reference).rechunk(-1)
        ref_error_args = error_args
    if from_frames(reference_mask):
        ref_mask_args = _one_frame_args(mask_args, skip, letters)
    else:
        ref_mask_args = _frame_args(reference_mask, stack, letters)
    return da.blockwise(
        partial(register_chunk, skip=skip, options=options),
        "tc",
        stack,
        frame_index,
        indices,
        "t",
        ref,
        letters,
        *error_args,
        *ref_error_args,
        *mask_args,
        *ref_mask_args,
        new_axes=new_axes,
        concatenate=True,
        dtype=np.float64,
        meta=np.empty((0, 0)),
        name=f"{TASK_PREFIX}-{_token(stack, ref, errors, masks, reference_mask, skip, options)}",
    )


def _against_mean(stack, errors, masks, reference_mask, per_frame_errors, *, options):
    """The table against the mean frame: the frames are registered onto the plain mean,
    then onto the mean of the frames moved by those shifts (see ``_template``).

    Each mean needs a pass over the whole stack before any frame can be registered
    onto it. Sharing the chunks between the passes would keep every chunk in memory
    until the means are known, so each pass reads the data itself: each mean in one
    streaming task, each registration task its own chunk.
    """
    frames, ndim = stack.shape[0], stack.ndim - 1
    per_frame_masks = isinstance(masks, np.ndarray | da.Array) and masks.ndim == stack.ndim
    if per_frame_masks:
        masks = da.asarray(masks).rechunk(stack.chunks)
        ref, ref_mask, ref_error = dask.delayed(_streamed_masked_mean, nout=3)(
            Opaque(stack),
            Opaque(masks),
            Opaque(errors),
            None if from_frames(reference_mask) else reference_mask,
            stack.dtype,
        )
    else:
        ref = dask.delayed(streamed_mean)(Opaque(stack), stack.dtype)
        ref_mask = reference_mask
        ref_error = reference_error_of_mean(errors, frames, per_frame=per_frame_errors)
    token = _token(stack, errors, masks, options)
    starts = np.cumsum((0, *stack.chunks[0][:-1]))

    def tables(reference, name):
        for start, count in zip(starts, stack.chunks[0], strict=True):
            rows = slice(start, start + count)
            chunk_errors = Opaque(errors[rows]) if per_frame_errors else errors
            chunk_masks = Opaque(masks[rows]) if per_frame_masks else masks
            yield dask.delayed(_register_read_chunk)(
                Opaque(stack[rows]),
                np.arange(start, start + count),
                reference,
                chunk_errors,
                ref_error,
                chunk_masks,
                ref_mask,
                skip=None,
                options=options,
                quiet=name == "mean",  # superseded by the second pass
                dask_key_name=f"{TASK_PREFIX}-{name}-{token}-{start}",
            )

    template = dask.delayed(streamed_template)(
        Opaque(stack),
        Opaque(masks) if per_frame_masks else masks,
        list(tables(ref, "mean")),
        ref,
        wrap=options.boundary == "wrap",
    )
    blocks = [
        da.from_delayed(table, shape=(count, row_columns(ndim)), dtype=np.float64)
        for table, count in zip(tables(template, "aligned"), stack.chunks[0], strict=True)
    ]
    return da.concatenate(blocks, axis=0)


def streamed_template(hidden, masks, tables, plain, *, wrap: bool) -> np.ndarray:
    """The mean of the frames moved by the shifts of ``tables`` (their registrations onto
    the ``plain`` mean), read chunk by chunk; ``plain`` when no frame was measured."""
    stack = hidden.array
    ndim = stack.ndim - 1
    shifts = np.concatenate(tables, axis=0)[:, :ndim]
    aligned = AlignedMean(stack.shape[1:], wrap=wrap)
    step = stack.chunks[0]
    for start, count in zip(np.cumsum((0, *step[:-1])), step, strict=True):
        rows = slice(start, start + count)
        frames = stack[rows].compute(scheduler="threads")
        per_frame = isinstance(masks, Opaque)
        chunk_masks = masks.array[rows].compute(scheduler="threads") if per_frame else masks
        for row in range(count):
            mask = chunk_masks[row] if per_frame else chunk_masks
            aligned.add(frames[row], shifts[start + row], mask)
    template = aligned.mean()
    return plain if template is None else template


def _register_read_chunk(frames, indices, reference, errors, reference_error, masks, *args, **kw):
    """:func:`register_chunk` on a chunk (and its errors and masks, when per frame)
    hidden from dask (:class:`Opaque`) and read inside the task: a chunk read by a
    task of its own may be read as soon as a worker is free, long before the mean it
    is registered onto, and every chunk would wait in memory (a 1.6 GiB stack grew
    the resident set by 2.4 GiB)."""
    frames, errors, masks = (
        _chunk_of(value) if isinstance(value, Opaque) else value
        for value in (frames, errors, masks)
    )
    return register_chunk(frames, indices, reference, errors, reference_error, masks, *args, **kw)


def _streamed_masked_mean(hidden, hidden_masks, hidden_errors, reference_mask, dtype):
    mean, empty, error = masked_mean(hidden.array, hidden_masks.array, hidden_errors.array)
    mask = empty if reference_mask is None else np.asarray(reference_mask) | empty
    return mean.astype(dtype, copy=False), mask, error


def masked_mean(stack, masks, errors):
    """The mean frame of the pixels each frame keeps, in one streaming pass.

    Returns the mean (0 where no frame keeps the pixel), those pixels (True), and
    the mean's 1-sigma noise from ``errors`` (a scalar, one frame's map or one per
    frame): ``sqrt(sum of the kept frames' variances) / their count``, NaN (ignored)
    where no frame keeps the pixel; None when ``errors`` is None.
    """
    array = da.asarray(stack)
    keep = ~da.asarray(masks) & da.isfinite(array)
    parts = [da.where(keep, array, 0.0).sum(axis=0, dtype=np.float64), keep.sum(axis=0)]
    if errors is not None:
        variance = da.square(da.asarray(errors, dtype=np.float64))
        parts.append(da.where(keep, variance, 0.0).sum(axis=0))
    computed = dask.compute(*parts, scheduler="threads")
    total, count = computed[0], computed[1]
    empty = count == 0
    kept = np.maximum(count, 1)
    error = None
    if errors is not None:
        error = np.sqrt(computed[2]) / kept
        error[empty] = np.nan
    return total / kept, empty, error


def reference_error_of_mean(errors, frames: int, *, per_frame: bool):
    """The 1-sigma noise of the mean frame: sqrt(sum of the variances) / frames."""
    if errors is None:
        return None
    if not per_frame:
        return errors / np.sqrt(frames)
    if isinstance(errors, da.Array):
        return da.from_delayed(
            dask.delayed(_streamed_quadrature_mean)(Opaque(errors)),
            shape=errors.shape[1:],
            dtype=np.float64,
        )
    return np.sqrt(np.sum(np.square(errors, dtype=np.float64), axis=0)) / frames


def _streamed_quadrature_mean(hidden: Opaque) -> np.ndarray:
    """sqrt(sum of squares) / count over the first axis, in one streaming pass."""
    array = hidden.array
    total = (array.astype(np.float64) ** 2).sum(axis=0).compute(scheduler="threads")
    return np.sqrt(total) / array.shape[0]
