"""A numpy stack's frames registered in forked worker processes, both cores busy.

Frames registered in threads of one process share its interpreter lock. Much of a
frame's work is numpy calls on arrays large enough that each one lets the lock go
and short enough that it is taken back microseconds later, so two threads hand it
over hundreds of times per frame, and each handover costs a system call and the
caches. Measured on this 2-core machine (200 drifting 512² frames, default options,
the other work on the machine held off): one thread ran at 28.2 frames/s, 34 ms of
CPU per frame; two threads at 29.4, each frame costing 57 ms of CPU (about 570
voluntary context switches and 8 ms of system time per frame); two forked
processes at 51.2 frames/s, 37 ms of CPU per frame, with the same numbers out.

A forked worker reads the stack, the reference and the options where they lie in the
parent's memory: nothing is copied or pickled on the way in, and only each chunk's
table and warnings come back. The workers live for one call, each with its heap kept
between frames (:mod:`._stack_heap`). Where ``fork`` is not
the platform's way (Windows, macOS, where forking after some system frameworks
loaded is unsafe), the frames run in threads as before.

A caller that must not be forked (the stack widget runs Qt) registers through
:func:`~._stack.iter_register_stack` with :class:`~._stack_pool.StackWorkers`, whose
processes come from a fork server: :class:`InWorkers` hands them its chunks.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import numbers
import sys
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import dask.array as da
import numpy as np

from ._options import Options
from ._result import AxisWarning, RegistrationWarning
from ._stack_driver import chunk_moved, chunk_onto_one, chunk_steps
from ._stack_graph import (
    Opaque,
    chained_table,
    dask_view,
    frames_per_chunk,
    from_frames,
    reference_error_of_mean,
    register_chunk,
    register_steps,
    streamed_mean,
)
from ._stack_heap import keep_heap
from ._template import AlignedMean

__all__ = ["InWorkers", "forked_table", "forking_available", "in_processes", "worth_processes"]

#: Fewer frames per worker than this run in threads: forking the workers and ending
#: them costs 40-80 ms (measured with a 400 MiB stack in memory), about two 512²
#: frames; 8 frames of 512² ran at 0.89x the threads' speed in processes, 16 at 1.07x,
#: 32 of 256² at 1.36x, 256 of 64² at 2.5x.
FRAMES_PER_WORKER = 5

#: The job of a forked worker: the function run on each chunk of frames, set
#: by the pool's initializer in each worker (never in the parent) from the parent's
#: memory, for the life of that worker.
_worker_job: dict[str, Callable[..., Any]] = {}


def forking_available() -> bool:
    """Whether worker processes can be forked here: on Linux, and not from a daemonic
    process (a ``multiprocessing.Pool``'s worker), which may have no children."""
    return (
        sys.platform.startswith("linux")
        and "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon
    )


def worth_processes(frames: int, processes) -> bool:
    """Whether ``frames`` are worth registering in ``processes`` (a
    :class:`~._stack_pool.StackWorkers`): two workers or more, each with
    ``FRAMES_PER_WORKER`` frames or more, where they can run."""
    return (
        processes.workers > 1
        and frames >= FRAMES_PER_WORKER * processes.workers
        and processes.available()
    )


def _adopt(job: Callable[..., Any]) -> None:
    _worker_job["job"] = job
    keep_heap()


def _run(chunk: slice, *values) -> tuple[Any, list[tuple[type[Warning], str | Warning]]]:
    """``job(chunk, *values)`` in a worker, and the warnings it raised (category, and
    text, or the warning itself where it keeps data: :class:`AxisWarning`): they are
    raised again in the parent."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RegistrationWarning)
        result = _worker_job["job"](chunk, *values)
    return result, [(warning.category, _sent(warning.message)) for warning in caught]


def _sent(message: Warning) -> str | Warning:
    """A warning as it is sent back to the parent: its text, unless it keeps data (any
    other warning may not pickle)."""
    return message if isinstance(message, AxisWarning) else str(message)


@contextlib.contextmanager
def forked(job: Callable[..., Any], workers: int) -> Iterator[Callable[..., Iterator]]:
    """``workers`` processes forked with ``job`` in memory (it is not pickled), for the
    time of the ``with``; it gives ``run(chunks, *values)``, the results of
    ``job(chunk, *values)`` in chunk order (``values`` are pickled to each chunk), the
    warnings the chunks raised raised again here. An exception in a chunk is raised
    here."""
    context = multiprocessing.get_context("fork")
    with warnings.catch_warnings():
        # Python 3.12+ warns of any fork in a process with threads (dask's, FFTW's):
        # a lock one of them holds stays locked in the child. The workers run only
        # the registration, which takes no lock those threads hold between calls.
        warnings.filterwarnings("ignore", "This process .* use of fork", DeprecationWarning)
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_adopt, initargs=(job,)
        ) as pool:

            def run(chunks: list[slice], *values) -> Iterator:
                shared = (itertools.repeat(value) for value in values)
                for result, said in pool.map(_run, chunks, *shared):
                    for category, message in said:
                        warnings.warn(message, category, stacklevel=2)
                    yield result

            yield run


def in_processes(
    register_chunk: Callable[[slice], np.ndarray], chunks: list[slice], workers: int
) -> np.ndarray:
    """The tables of ``register_chunk`` over ``chunks``, run in ``workers`` forked
    processes (:func:`forked`) and stacked in chunk order."""
    with forked(register_chunk, workers) as run:
        return np.concatenate(list(run(chunks)))


def forked_table(
    stack: np.ndarray,
    reference,
    errors,
    masks,
    reference_mask,
    *,
    options: Options,
    workers: int,
    frames_per_chunk: int,
) -> np.ndarray | None:
    """The per-frame table of a numpy ``stack`` (frames first) registered onto one of
    its frames, a numpy image, the mean frame or each previous frame, in forked
    workers: the table of :func:`~._stack_graph.lazy_table`, computed. None where
    this road is not taken: one worker, one chunk or too few frames for the workers
    to pay for themselves (``FRAMES_PER_WORKER``), no ``fork``, dask errors or masks,
    per-frame errors with an image as reference, or per-frame masks with the mean.

    ``errors``, ``masks`` and ``reference_mask`` are as :func:`~._stack_graph.lazy_table`
    takes them.
    """
    frames = stack.shape[0]
    per_error = isinstance(errors, np.ndarray) and errors.ndim == stack.ndim
    per_mask = isinstance(masks, np.ndarray) and masks.ndim == stack.ndim
    named = isinstance(reference, numbers.Integral) and not isinstance(reference, bool)
    kind = reference if isinstance(reference, str) else None  # "mean" or "previous"
    if (
        workers <= 1
        or frames < FRAMES_PER_WORKER * workers
        or frames <= frames_per_chunk
        or not forking_available()
        or not (named or kind or isinstance(reference, np.ndarray))
        or not (errors is None or isinstance(errors, numbers.Number | np.ndarray))
        or not (masks is None or isinstance(masks, np.ndarray))
        or not (reference_mask is None or isinstance(reference_mask, np.ndarray | str))
        or (per_error and not (named or kind))
        or (per_mask and kind == "mean")
    ):
        return None
    chunks = [
        slice(start, start + frames_per_chunk) for start in range(0, frames, frames_per_chunk)
    ]
    if kind == "previous":
        return _chained(stack, errors, masks, options, workers, chunks, frames_per_chunk)
    if kind == "mean":
        return _against_mean(stack, errors, masks, reference_mask, options, workers, chunks)
    if named:
        skip = int(reference)
        target, reference_error = stack[skip], _rows(errors, skip, stack.ndim)
        if from_frames(reference_mask):
            reference_mask = _rows(masks, skip, stack.ndim)
    else:
        skip, target, reference_error = None, reference, errors
    job = _against_one(
        stack, target, skip, reference_error, errors, masks, reference_mask, options
    )
    return in_processes(job, chunks, workers)


def _rows(values, rows, stack_ndim: int):
    """The ``rows`` of a per-frame error or mask stack; a shared one as it is."""
    if isinstance(values, np.ndarray) and values.ndim == stack_ndim:
        return values[rows]
    return values


def _against_one(
    stack, target, skip, reference_error, errors, masks, reference_mask, options, quiet=False
):
    """The chunk job of one reference, ``target`` (``lazy_table``'s tasks): frame
    ``skip`` of the stack (None: an image), noise ``reference_error``; ``quiet``:
    without the frames' warnings."""
    indices = np.arange(stack.shape[0])

    def register(chunk: slice) -> np.ndarray:
        return register_chunk(
            stack[chunk],
            indices[chunk],
            target,
            _rows(errors, chunk, stack.ndim),
            reference_error,
            _rows(masks, chunk, stack.ndim),
            reference_mask,
            skip=skip,
            options=options,
            quiet=quiet,
        )

    return register


def _against_mean(stack, errors, masks, reference_mask, options, workers, chunks) -> np.ndarray:
    """The frames onto their plain mean, then onto the mean of the frames moved by those
    shifts (``_template``): both passes and the moving in one set of workers, both
    means here, each made as the graph makes it (the same chunks and the same frames
    in the same order, hence the same sums). ``masks`` is None or one frame's."""
    frames = stack.shape[0]
    per_error = isinstance(errors, np.ndarray) and errors.ndim == stack.ndim
    frames_per_chunk = chunks[0].stop - chunks[0].start
    plain = streamed_mean(Opaque(dask_view(stack, frames_per_chunk)), stack.dtype)
    hidden_errors = dask_view(errors, frames_per_chunk) if per_error else errors
    reference_error = reference_error_of_mean(hidden_errors, frames, per_frame=per_error)
    if isinstance(reference_error, da.Array):
        reference_error = reference_error.compute(scheduler="threads")

    def job(chunk: slice, stage: str, value=None):
        """A chunk onto the plain mean (``value`` None), its frames moved by
        ``value``'s rows (``stage="moved"``), or onto the template ``value``."""
        if stage == "moved":
            rows = stack[chunk]
            return chunk_moved(
                frames=rows, first=chunk.start, shifts=value, options=options, mask=masks
            )
        target, quiet = (plain, True) if value is None else (value, False)
        onto = _against_one(
            stack, target, None, reference_error, errors, masks, reference_mask, options, quiet
        )
        return onto(chunk)

    ndim = stack.ndim - 1
    with forked(job, workers) as run:
        shifts = np.concatenate(list(run(chunks, "plain")))[:, :ndim]
        aligned = AlignedMean(stack.shape[1:], wrap=options.boundary == "wrap")
        for moved in itertools.chain.from_iterable(run(chunks, "moved", shifts)):
            aligned.add_moved(moved)
        template = aligned.mean()
        template = plain if template is None else template
        return np.concatenate(list(run(chunks, "aligned", template)))


def _chained(stack, errors, masks, options, workers, chunks, frames_per_chunk) -> np.ndarray:
    """Each frame onto the one before it: the steps in the workers (``chunks`` of the
    frames after the first), added up here (:func:`~._stack_graph.chained_table`,
    which registers a frame after an unmeasured one onto the last measured one)."""
    indices = np.arange(stack.shape[0])

    def steps(chunk: slice) -> np.ndarray:
        later = slice(chunk.start + 1, chunk.stop + 1)
        return register_steps(
            stack[later],
            indices[later],
            stack[chunk],
            _rows(errors, later, stack.ndim),
            _rows(errors, chunk, stack.ndim),
            _rows(masks, later, stack.ndim),
            _rows(masks, chunk, stack.ndim),
            options=options,
        )

    step_chunks = [part for part in chunks if part.start < stack.shape[0] - 1]
    table = in_processes(steps, step_chunks, workers)

    def hidden(values):  # read a frame at a time, as the graph reads them
        if isinstance(values, np.ndarray) and values.ndim == stack.ndim:
            return Opaque(dask_view(values, frames_per_chunk))
        return values

    return chained_table(table, hidden(stack), hidden(errors), hidden(masks), options=options)


#: A chunk handed to a :class:`~._stack_pool.StackWorkers` process holds at most this
#: many bytes of frames (at least one frame), so that results come back a few times a
#: second: four 512² float64 frames, about 0.2 s of one worker's time.
WORKER_CHUNK_BYTES = 8 * 2**20


class InWorkers:
    """The frames of :func:`~._stack.iter_register_stack` registered in worker
    processes kept between calls (:class:`~._stack_pool.StackWorkers`), read here a
    chunk at a time; the results are those of the threads' road, in frame order.

    ``frame_error`` and ``frame_mask`` give each frame's noise and mask, and say
    whether they are per frame (``per_frame``, the stack in ``errors`` or ``masks``).
    """

    def __init__(self, moved, frame_error, frame_mask, options: Options, processes):
        self.moved, self.frame_error, self.frame_mask = moved, frame_error, frame_mask
        self.options, self.processes = options, processes
        frame_bytes = int(np.prod(moved.shape[1:])) * max(moved.dtype.itemsize, 8)
        frames = moved.shape[0]
        balanced = frames_per_chunk(frame_bytes, frames, processes.workers)
        self.per_chunk = max(1, min(balanced, WORKER_CHUNK_BYTES // frame_bytes))

    def onto(self, target, reference_error, reference_mask, skip, quiet):
        """Each frame's result onto ``target`` (None for frame ``skip``), in order."""
        shared = {
            "reference": target,
            "reference_error": reference_error,
            "reference_mask": reference_mask,
            "skip": skip,
            "quiet": quiet,
        }
        return self._results(chunk_onto_one, shared, overlap=0)

    def steps(self):
        """Each frame after the first registered onto the one before it, in order."""
        return self._results(chunk_steps, {}, overlap=1)

    def moved_frames(self, shifts: np.ndarray):
        """Each frame moved by its shift for the mean's template, in order: the
        interpolation in the workers, the sum in the caller in frame order, so the
        template is the same, bit for bit."""
        return self._results(chunk_moved, {"shifts": shifts}, overlap=0, noise=False)

    def _results(self, job, shared: dict, overlap: int, noise: bool = True):
        """``job``'s results, chunk by chunk; each chunk also holds the ``overlap``
        frames before its first (a step's predecessor). ``noise``: the job takes the
        frames' noise."""
        shared = {**shared, "options": self.options}
        if noise and not self.frame_error.per_frame:
            shared["error"] = self.frame_error.errors
        if not self.frame_mask.per_frame:
            shared["mask"] = self.frame_mask.masks
        frames = self.moved.shape[0]
        starts = range(overlap, frames, self.per_chunk)
        chunks = (self._chunk(start - overlap, start + self.per_chunk, noise) for start in starts)
        # Closed here when this generator is: the chunks handed out are called back.
        with contextlib.closing(self.processes.in_order(job, shared, chunks)) as handed:
            for results in handed:
                yield from results

    def _chunk(self, start: int, stop: int, noise: bool) -> dict:
        rows = slice(start, stop)
        chunk = {"frames": np.asarray(self.moved[rows]), "first": start}
        if noise and self.frame_error.per_frame:
            chunk["errors"] = np.asarray(self.frame_error.errors[rows])
        if self.frame_mask.per_frame:
            chunk["masks"] = np.asarray(self.frame_mask.masks[rows])
        return chunk
