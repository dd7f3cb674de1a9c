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
A numpy stack runs its chunks in forked worker processes where it can
(``_stack_processes``), since threads share the interpreter lock;
:func:`iter_register_stack` runs its frames in :class:`StackWorkers` processes when
given them (``_stack_pool``), for callers that must not fork.
"""

from __future__ import annotations

import dataclasses
import logging
import numbers
import warnings
from collections.abc import Iterator
from typing import Any, Literal

import dask
import dask.array as da
import numpy as np

from . import _fft
from ._brightness import Brightness
from ._options import BoundaryChoice, ErrorModel, Options
from ._periodic import stack_options
from ._prepare import check_mask
from ._result import RegistrationResult, RegistrationWarning, StackResult
from ._stack_driver import (
    against_one,
    at_origin,
    bridge_step,
    chained,
    computed_in_threads,
    flagged_column,
    onto_previous,
)
from ._stack_graph import (
    FROM_FRAMES,
    dask_view,
    frames_per_chunk,
    from_frames,
    lazy_table,
    masked_mean,
    reference_error_of_mean,
    usable_mean,
    whole_frames,
)
from ._stack_pool import StackWorkers
from ._stack_processes import InWorkers, forked_table, worth_processes
from ._template import AlignedMean, moved_frame
from ._validation import (
    as_image,
    check_choice,
    check_error,
    check_max_shift,
)

__all__ = ["iter_register_stack", "register_stack"]

logger = logging.getLogger(__name__)

ReferenceName = Literal["mean", "previous"]
REFERENCE_NAMES = ("mean", "previous")


def as_stack(stack) -> np.ndarray | da.Array:
    """A numeric array of frames, as numpy or dask, without reading a dask array."""
    if isinstance(stack, da.Array):
        if stack.dtype.kind not in "biuf":
            raise TypeError(
                f"stack must hold real numbers, got dtype {stack.dtype}. "
                "Convert it with stack.astype(float) first."
            )
        return stack
    return as_image(stack, "stack")


def check_axis(axis, ndim: int) -> int:
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be an integer, got {axis!r}.")
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"axis={axis} is out of range for a stack with {ndim} dimensions; "
            f"use an axis from {-ndim} to {ndim - 1}."
        )
    return int(axis) % ndim


def check_stack_shape(shape: tuple[int, ...]) -> None:
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


def _check_one_mask(mask, shapes: dict, name: str):
    """A boolean mask (numpy, or dask left unread) of one of ``shapes`` (name: shape)."""
    if not isinstance(mask, da.Array):
        mask = np.asarray(mask)
        if mask.dtype != bool:
            raise TypeError(
                f"{name} must be a boolean array (True marks pixels to ignore), got {mask.dtype}."
            )
    elif mask.dtype != bool:
        raise TypeError(
            f"{name} must be a boolean dask array (True marks pixels to ignore), got "
            f"{mask.dtype}; convert it with mask.astype(bool)."
        )
    if tuple(mask.shape) not in shapes.values():
        wanted = " or ".join(f"{what} {shape}" for what, shape in shapes.items())
        raise ValueError(f"{name} has shape {tuple(mask.shape)}; pass a mask of {wanted}.")
    return check_mask(mask, mask.shape, name) if isinstance(mask, np.ndarray) else mask


def _check_stack_mask(mask, reference, shape: tuple[int, ...], axis: int):
    """The frames' masks (None, one frame's, or one per frame, frames first) and the
    reference's (None, one frame's, or ``FROM_FRAMES``: the frames' own)."""
    if mask is None:
        return None, None
    frame_shape = tuple(shape[1:])
    original = list(shape[1:])
    original.insert(axis, shape[0])
    pair = isinstance(mask, tuple) and len(mask) == 2
    reference_mask = None
    if pair:
        if isinstance(reference, str) and reference == "previous":
            raise ValueError(
                "mask=(reference_mask, mask) does not apply to reference='previous': each "
                "frame's reference is the frame before it, masked by its own mask. Pass one "
                "mask, or one mask per frame."
            )
        if mask[0] is not None:
            reference_mask = _check_one_mask(mask[0], {"one frame": frame_shape}, "mask[0]")
        mask = mask[1]
        if mask is None:
            return None, reference_mask
    masks = _check_one_mask(
        mask,
        {"one frame": frame_shape, "the stack": tuple(original)},
        "mask[1]" if pair else "mask",
    )
    if masks.ndim == len(shape):
        masks = (
            da.moveaxis(masks, axis, 0)
            if isinstance(masks, da.Array)
            else np.moveaxis(masks, axis, 0)
        )
        if not pair:
            named = isinstance(reference, str | int)
            reference_mask = FROM_FRAMES if named else None
    elif not pair:
        reference_mask = masks
    return masks, reference_mask


def _check_options(frame_shape, **options) -> Options:
    """The options made once for every frame, ``max_shift`` checked against a frame."""
    made = Options(**options)
    check_max_shift(made.max_shift, frame_shape)
    return made


def _is_per_frame(errors, stack_ndim: int) -> bool:
    return isinstance(errors, np.ndarray | da.Array) and errors.ndim == stack_ndim


def check_workers(num_workers) -> int:
    if num_workers is None:
        return _fft.available_cores()
    if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral):
        raise TypeError(f"num_workers must be a positive integer or None, got {num_workers!r}.")
    if num_workers < 1:
        raise ValueError(f"num_workers must be >= 1, got {num_workers!r}.")
    return int(num_workers)


def register_stack(
    stack,
    *,
    axis: int = 0,
    reference: int | ReferenceName | Any = 0,
    error=None,
    upsample_factor: int | Literal["auto"] = "auto",
    boundary: BoundaryChoice = "auto",
    zero_mean: bool | None = None,
    max_shift=None,
    prefilter: bool | float = True,
    num_workers: int | None = None,
    mask=None,
    brightness: Brightness | None = None,
    outliers: bool = True,
    clip_threshold: float = 10.0,
    saturation: bool = False,
    errors: ErrorModel = "residual",
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
        What each frame is registered onto: a frame index, the mean frame (the
        frames are registered onto their plain mean, then onto the mean of the
        frames moved by those shifts, which the drift does not blur), each
        frame's predecessor (the drifts are then accumulated from the first
        frame, with the step errors added in quadrature; a frame after one not
        measured, ``measured`` False, is registered onto the last measured frame
        instead, so no later drift carries a step that was not a measurement; when
        nothing can be measured onto the first frame, a dark or blank one, the drifts
        are measured from the next frame, with a warning), or a given image of the
        frames' shape (numpy or dask).
    error : float or array_like, optional
        1-sigma noise of every frame: a scalar, a map of one frame shared by all,
        or a map per frame (an array of the stack's shape, frames first). The
        reference's noise follows from it (divided by sqrt(frames) for the mean).
        ``None`` estimates the noise from the data, per frame.
    mask : array_like of bool, dask array, or a pair of them, optional
        True marks pixels to ignore: one mask of a frame's shape for every frame and
        the reference (e.g. a detector's bad pixels), or one mask per frame (an array
        of the stack's shape, frames along ``axis``; dask is read lazily, chunk by
        chunk). The reference's mask is then its own frame's, each previous frame's
        for ``"previous"``, and for ``"mean"`` the mean is taken over the pixels each
        frame keeps (a pixel no frame keeps is ignored); a given image reference is
        unmasked. As in :func:`~napari_imreg.core.register`, a tuple
        ``(reference_mask, mask)`` masks the reference by ``reference_mask`` (one
        frame's shape, or None) instead (not with ``"previous"``).
    upsample_factor, boundary, zero_mean, max_shift, prefilter, brightness, outliers, \
    clip_threshold, saturation, errors
        As for :func:`napari_imreg.core.register` (see :class:`Options`).
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
        range, a reference, error or mask of the wrong shape, and invalid options.

    Notes
    -----
    Frames are registered in parallel, each with one FFT and one BLAS thread
    (threads inside each registration would only compete with the other frames).
    On Linux, a numpy stack runs in ``num_workers`` forked worker processes when
    there are two workers or more, each with five frames or more (threads of one
    process share its interpreter lock; the mean reference with per-frame masks, and
    per-frame noise maps against an image, stay in threads); the results are those
    of the same workers in threads, bit for bit.
    For dask input the memory in use is about the chunks in flight plus a few
    frame-sized buffers per worker; ``reference="mean"`` reads the stack four times
    (the plain mean, the first registration, the moved frames' mean, the
    registration) rather than holding it.

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
    array = as_stack(stack)
    axis = check_axis(axis, array.ndim)
    moved = (
        da.moveaxis(array, axis, 0) if isinstance(array, da.Array) else np.moveaxis(array, axis, 0)
    )
    check_stack_shape(tuple(moved.shape))
    frames, frame_shape = moved.shape[0], tuple(moved.shape[1:])
    reference = _check_reference(reference, frames, frame_shape)
    noise_maps = _check_stack_error(error, tuple(moved.shape))
    masks, reference_mask = _check_stack_mask(mask, reference, tuple(moved.shape), axis)
    options = _check_options(
        frame_shape,
        upsample_factor=upsample_factor,
        boundary=boundary,
        zero_mean=zero_mean,
        max_shift=max_shift,
        prefilter=prefilter,
        threads=1,
        brightness=brightness,
        outliers=outliers,
        clip_threshold=clip_threshold,
        saturation=saturation,
        errors=errors,
    )
    masked = masks is not None or reference_mask is not None
    options = stack_options(options, moved, reference, masked=masked)
    workers = check_workers(num_workers)

    lazy = isinstance(array, da.Array)
    frame_bytes = int(np.prod(frame_shape)) * max(moved.dtype.itemsize, 8)
    per_chunk = frames_per_chunk(frame_bytes, frames, workers)
    if lazy:
        table = lazy_table(
            whole_frames(moved, per_chunk),
            reference,
            noise_maps,
            options=options,
            masks=masks,
            reference_mask=reference_mask,
        )
    else:
        # The frames' warnings rise in worker processes or threads: report them here,
        # at the caller.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RegistrationWarning)
            table = _computed_table(
                moved, reference, noise_maps, masks, reference_mask, options, workers, per_chunk
            )
        for warning in caught:
            warnings.warn(warning.message, stacklevel=2)
    label = reference if isinstance(reference, int | str) else "array"
    ndim = len(frame_shape)
    return StackResult(
        shifts=table[:, :ndim],
        errors=table[:, ndim : 2 * ndim],
        chi2=table[:, 2 * ndim],
        dof=table[:, 2 * ndim + 1],
        noise=None if noise_maps is not None else table[:, 2 * ndim + 2],
        measured=table[:, flagged_column(ndim)] == 0,
        reference=label,
        axis=axis,
        boundary=options.boundary,
    )


def _computed_table(
    moved: np.ndarray, reference, errors, masks, reference_mask, options, workers, per_chunk
) -> np.ndarray:
    """The per-frame table of a numpy stack (frames first): in forked worker
    processes where that road is open (``_stack_processes``), else in threads."""
    table = forked_table(
        moved,
        reference,
        errors,
        masks,
        reference_mask,
        options=options,
        workers=workers,
        frames_per_chunk=per_chunk,
    )
    if table is not None:
        return table
    if _is_per_frame(masks, moved.ndim) and isinstance(masks, np.ndarray):
        masks = dask_view(masks, per_chunk)
    graph = lazy_table(
        dask_view(moved, per_chunk),
        reference,
        errors,
        options=options,
        masks=masks,
        reference_mask=reference_mask,
    )
    return computed_in_threads(graph, workers)


def iter_register_stack(
    stack,
    *,
    axis: int = 0,
    reference: int | ReferenceName | Any = 0,
    error=None,
    upsample_factor: int | Literal["auto"] = "auto",
    boundary: BoundaryChoice = "auto",
    zero_mean: bool | None = None,
    max_shift=None,
    prefilter: bool | float = True,
    threads: int | None = None,
    num_workers: int | None = None,
    mask=None,
    brightness: Brightness | None = None,
    outliers: bool = True,
    clip_threshold: float = 10.0,
    saturation: bool = False,
    errors: ErrorModel = "residual",
    processes: StackWorkers | None = None,
) -> Iterator[tuple[int, RegistrationResult]]:
    """Register a stack one frame at a time, yielding ``(index, result)`` in frame order.

    The same registration as :func:`register_stack`, for callers that show
    progress or may stop early: frames are read (for dask input) and registered
    only as the items are requested, at most ``num_workers`` ahead, so abandoning
    the iterator cancels the rest and keeps what was done.

    Parameters
    ----------
    stack, axis, reference, error, mask, upsample_factor, boundary, zero_mean, max_shift, \
    prefilter, brightness, outliers, clip_threshold, saturation, errors
        As for :func:`register_stack`.
    threads : int, optional
        FFT threads per registration (default: one when frames are registered in
        parallel, else all cores for large frames).
    num_workers : int, optional
        Frames registered at once, in worker threads, each result still yielded in
        frame order (default: the number of CPUs, or one when ``threads`` is given).
        The workers read and register at most ``num_workers`` frames ahead of the
        one yielded.
    processes : StackWorkers, optional
        Register the frames in these worker processes instead of threads (both cores
        busy: threads share the interpreter lock), a few frames at a time, each
        result still yielded in frame order and the same, bit for bit; in threads as
        without them where they cannot run (Windows) or a stack has fewer than five
        frames per worker (``FRAMES_PER_WORKER``). The frames
        are read here, a chunk at a time, and copied to the workers; abandoning the
        iterator cancels the chunks not started and waits for those running.
        ``num_workers`` and ``threads`` are then not used.

    Yields
    ------
    index : int
        The frame index along ``axis``.
    result : RegistrationResult
        ``result.shift`` registers the frame onto the reference (numpy axis
        order). With ``reference="previous"``, ``shift``, ``error`` and
        ``covariance`` are the accumulated drift onto the first frame, and the
        other fields those of the step from the previous frame (from the last
        measured frame, after a frame not measured). The reference
        frame itself (for ``"previous"``, the first frame, or the next one when
        nothing can be measured onto the first) comes with a zero
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
    array = as_stack(stack)
    axis = check_axis(axis, array.ndim)
    moved = (
        da.moveaxis(array, axis, 0) if isinstance(array, da.Array) else np.moveaxis(array, axis, 0)
    )
    check_stack_shape(tuple(moved.shape))
    frames, frame_shape = moved.shape[0], tuple(moved.shape[1:])
    reference = _check_reference(reference, frames, frame_shape)
    noise_maps = _check_stack_error(error, tuple(moved.shape))
    masks, reference_mask = _check_stack_mask(mask, reference, tuple(moved.shape), axis)
    workers = check_workers(num_workers) if num_workers is not None or threads is None else 1
    options = _check_options(
        frame_shape,
        upsample_factor=upsample_factor,
        boundary=boundary,
        zero_mean=zero_mean,
        max_shift=max_shift,
        prefilter=prefilter,
        threads=threads if threads is not None or workers == 1 else 1,
        brightness=brightness,
        outliers=outliers,
        clip_threshold=clip_threshold,
        saturation=saturation,
        errors=errors,
    )
    masked = masks is not None or reference_mask is not None
    options = stack_options(options, moved, reference, masked=masked)
    if processes is not None and not isinstance(processes, StackWorkers):
        raise TypeError(f"processes must be a StackWorkers or None, got {processes!r}.")
    if processes is not None and not worth_processes(frames, processes):
        processes = None
    if processes is not None:
        options = dataclasses.replace(options, threads=1)
    frame_masks = _FrameMasks(masks, reference_mask, moved.ndim)
    frame_error = _FrameErrors(noise_maps, moved.ndim)
    if processes is not None:
        runner = InWorkers(moved, frame_error, frame_masks, options, processes)
    else:
        runner = _InThreads(moved, frame_error, frame_masks, options, workers)
    return _iterate(moved, reference, frame_error, frame_masks, options, runner)


class _FrameMasks:
    """The masks of :func:`iter_register_stack`: each frame's, and the reference's."""

    def __init__(self, masks, reference_mask, stack_ndim: int):
        self.per_frame = _is_per_frame(masks, stack_ndim)
        self.masks = masks if self.per_frame or masks is None else np.asarray(masks)
        self.reference_mask = reference_mask

    def __call__(self, index: int):
        return np.asarray(self.masks[index]) if self.per_frame else self.masks

    def of_reference(self, index: int | None):
        """The reference's mask: frame ``index``'s own, or the one given (None for the
        mean frame, whose mask comes with it)."""
        if from_frames(self.reference_mask):
            return None if index is None else self(index)
        return None if self.reference_mask is None else np.asarray(self.reference_mask)


class _FrameErrors:
    """The noise of :func:`iter_register_stack`: each frame's (a row of a per-frame
    stack, else the shared value)."""

    def __init__(self, errors, stack_ndim: int):
        self.errors = errors
        self.per_frame = _is_per_frame(errors, stack_ndim)

    def __call__(self, index: int):
        return np.asarray(self.errors[index]) if self.per_frame else self.errors


class _InThreads:
    """The frames of :func:`iter_register_stack` registered in threads of this process."""

    def __init__(self, moved, frame_error, frame_mask, options: Options, workers: int):
        self.moved, self.frame_error, self.frame_mask = moved, frame_error, frame_mask
        self.options, self.workers = options, workers

    def onto(self, target, reference_error, reference_mask, skip, quiet):
        """Each frame's result onto ``target`` (None for frame ``skip``), in order."""
        items = (
            None
            if index == skip
            else (
                index,
                np.asarray(self.moved[index]),
                self.frame_error(index),
                self.frame_mask(index),
            )
            for index in range(self.moved.shape[0])
        )
        return against_one(
            target,
            reference_error,
            items,
            self.options,
            reference_mask=reference_mask,
            workers=self.workers,
            quiet=quiet,
        )

    def steps(self):
        """Each frame after the first registered onto the one before it, in order."""
        pairs = _pairs(self.moved, self.frame_error, self.frame_mask)
        return onto_previous(pairs, self.options, workers=self.workers)

    def moved_frames(self, shifts: np.ndarray):
        """Each frame moved by its shift for the mean's template, in order."""
        wrap = self.options.boundary == "wrap"
        for index, shift in enumerate(shifts):
            yield moved_frame(self.moved[index], shift, self.frame_mask(index), wrap=wrap)


def _iterate(moved, reference, frame_error, frame_mask: _FrameMasks, options: Options, runner):
    frames = moved.shape[0]
    ndim = moved.ndim - 1
    errors, per_frame = frame_error.errors, frame_error.per_frame

    if isinstance(reference, str) and reference == "previous":
        steps = runner.steps()

        def bridge(anchor: int, index: int) -> RegistrationResult:
            pair = (index, np.asarray(moved[anchor]), np.asarray(moved[index]))
            pair += (frame_error(anchor), frame_error(index), frame_mask(anchor))
            return bridge_step((*pair, frame_mask(index)), options)

        yield from enumerate(chained(steps, bridge, at_origin(ndim, options.boundary)))
        return

    skip = reference if isinstance(reference, int) else None
    reference_mask = frame_mask.of_reference(skip)
    if isinstance(reference, str) and reference == "mean" and frame_mask.per_frame:
        target, empty, reference_error = masked_mean(moved, frame_mask.masks, errors)
        reference_mask = empty if reference_mask is None else reference_mask | empty
    elif isinstance(reference, str) and reference == "mean":
        target = moved.mean(axis=0, dtype=np.float64)
        reference_error = reference_error_of_mean(errors, frames, per_frame=per_frame)
    elif skip is not None:
        target = moved[skip]
        reference_error = frame_error(skip)
    else:
        target = reference
        reference_error = None if per_frame else errors
    target, reference_error = dask.compute(target, reference_error)
    mean = isinstance(reference, str) and reference == "mean"
    if mean and not frame_mask.per_frame:
        target = usable_mean(target, moved)

    def registered(target, quiet=False):
        return runner.onto(np.asarray(target), reference_error, reference_mask, skip, quiet)

    if mean:  # onto the plain mean, then onto the frames moved by those shifts
        aligned = AlignedMean(target.shape, wrap=options.boundary == "wrap")
        shifts = np.array([result.shift for result in registered(target, quiet=True)])
        for frame in runner.moved_frames(shifts):
            aligned.add_moved(frame)
        template = aligned.mean()
        target = target if template is None else template
    for index, result in enumerate(registered(target)):
        yield index, at_origin(ndim, options.boundary) if result is None else result


def _pairs(moved, frame_error, frame_mask):
    """``(index, previous, frame, previous_error, error, previous_mask, mask)`` for each
    frame after the first, each frame read once."""
    previous, previous_mask = np.asarray(moved[0]), frame_mask(0)
    for index in range(1, moved.shape[0]):
        frame, mask = np.asarray(moved[index]), frame_mask(index)
        yield (
            index,
            previous,
            frame,
            frame_error(index - 1),
            frame_error(index),
            previous_mask,
            mask,
        )
        previous, previous_mask = frame, mask
