"""Worker processes kept between stacks: started from a clean interpreter, the frames
handed over in shared memory, the results back in order.

A process that runs Qt (napari) must not be forked: a lock that one of its other
threads holds at that moment stays locked in the child for ever. These workers are
forked instead by a server that Python starts as a fresh interpreter
(multiprocessing's ``forkserver``), with the core imported once there. The first use
costs the server's start: 1.1 s of CPU, 3.2-3.8 s on this loaded 2-core machine,
against 40-80 ms to fork workers from the caller, so a script's one-off
:func:`~._stack.register_stack` keeps forking (``_stack_processes``). Each worker then
lives until :meth:`StackWorkers.close`, keeping its FFT plans from one stack to the
next (a second use started in 7-70 ms) and its heap between frames (:mod:`._stack_heap`).

A forked server holds none of the caller's arrays, so each chunk of frames is copied
into a block of shared memory, which the worker copies out and lets go. The blocks
are reused from chunk to chunk. Measured with 512² float64 frames, in chunks of five,
on this 2-core machine: pickled through the workers' pipe, a frame cost 2.8 ms of the
caller's CPU and 2.7 ms of the worker's; in fresh shared memory 1.95 and 0.43 ms
(mostly the first touch of new pages, which reused blocks do not pay; the
blocks of one call are removed at its end). A frame's
registration costs about 42 ms.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import sys
import types
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import shared_memory
from typing import Any

import numpy as np

from . import _fft
from ._result import held_warnings, warn_registration
from ._stack_heap import keep_heap

__all__ = ["SEGMENT_PREFIX", "StackWorkers"]

#: The names of this package's shared-memory blocks start with this (``/dev/shm`` on Linux).
SEGMENT_PREFIX = "napari-imreg-"

#: Modules the server imports once, so that every worker starts with them loaded.
_PRELOAD = ["napari_imreg.core._stack_driver"]

#: Chunks handed out per worker ahead of the one the caller waits for: enough that a
#: worker always has the next at hand when the caller's thread is slow to come back
#: (a busy Qt thread, a loaded machine), few enough to bound the shared memory.
_AHEAD = 4

#: Bytes at which each array of a block starts: a multiple of this.
_ALIGNMENT = 64

#: In a worker: the arrays shared by every chunk of the job in hand, by the job's token.
_job_arrays: dict[str, dict[str, np.ndarray]] = {}


class StackWorkers:
    """Worker processes for registering stacks, kept between calls.

    Pass it to :func:`~napari_imreg.core.iter_register_stack` (``processes=``) to
    register the frames in these processes rather than in threads of the caller: both
    cores busy, without forking the caller, which may run Qt or other threads. The
    processes start on first use and end with :meth:`close` (or at exit).

    Parameters
    ----------
    workers : int, optional
        Processes (default: the cores this process may run on).

    Examples
    --------
    >>> import numpy as np
    >>> from napari_imreg.core import iter_register_stack, make_extended, make_shifted
    >>> image = make_extended(32, seed=1)
    >>> drift = 0.1 * np.arange(10)
    >>> stack = np.stack([make_shifted(image, (d, 0.0), noise=0.01, seed=i)
    ...                   for i, d in enumerate(drift)])
    >>> with StackWorkers(2) as workers:
    ...     frames = iter_register_stack(stack, boundary="wrap", processes=workers)
    ...     shifts = np.array([result.shift for _, result in frames])
    >>> bool(np.allclose(shifts[:, 0], drift, atol=0.01))
    True
    """

    def __init__(self, workers: int | None = None):
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)):
            raise TypeError(f"workers must be a positive integer or None, got {workers!r}.")
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers!r}.")
        self.workers = _fft.available_cores() if workers is None else workers
        self._executor: ProcessPoolExecutor | None = None
        self._ended: weakref.finalize | None = None

    def __enter__(self) -> StackWorkers:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @staticmethod
    def available() -> bool:
        """Whether such workers can run here: where Python has a fork server (not on
        Windows), and not inside a daemonic process (a ``multiprocessing.Pool``'s
        worker), which may have no children."""
        return (
            "forkserver" in multiprocessing.get_all_start_methods()
            and not multiprocessing.current_process().daemon
        )

    @property
    def started(self) -> bool:
        """Whether the processes are running."""
        return self._executor is not None

    def pids(self) -> list[int]:
        """The process ids of the workers running now."""
        if self._executor is None:
            return []
        return sorted(self._executor._processes or ())

    def close(self) -> None:
        """End the workers (after the chunks they are running). They start again if
        used again."""
        self._executor = None
        if self._ended is not None:
            self._ended()

    def in_order(
        self,
        function: Callable[..., Any],
        shared: dict[str, Any],
        chunks: Iterable[dict[str, Any]],
    ) -> Iterator[Any]:
        """``function(**shared, **chunk)`` for each chunk, run in the workers, yielded
        in chunk order.

        ``function`` is importable by name (it is pickled as a reference). The numpy
        arrays among the values go through shared memory (``shared``'s once per
        worker), the others are pickled. At most ``_AHEAD`` chunks per worker are handed
        out ahead of the one the caller waits for. The registration warnings a chunk
        held are raised here as its result is yielded. Closing the iterator cancels
        the chunks not started, waits for those running and frees the shared memory
        (the blocks live as long as the iterator); an exception in a chunk is raised
        here, and a worker that dies ends the others and raises :class:`RuntimeError`.
        """
        executor = self._start()
        chunks = iter(chunks)
        segments = _Segments()
        try:
            yield from self._handed_out(executor, function, segments.put(shared), chunks, segments)
        finally:
            segments.free()

    def _handed_out(self, executor, function, job: _Block, chunks: Iterator, segments: _Segments):
        """The body of :meth:`in_order`, its blocks in ``segments``."""
        job.values = {"job": uuid.uuid4().hex, **job.values}
        pending: deque = deque()

        def submit(chunk):
            handed = segments.put(chunk)
            with _without_main():
                future = executor.submit(_in_worker, function, _ticket(job), _ticket(handed))
            pending.append((future, handed))

        try:
            for chunk in itertools.islice(chunks, _AHEAD * self.workers):
                submit(chunk)
            while pending:
                future, handed = pending[0]
                result, said = future.result()
                pending.popleft()
                segments.give_back(handed)
                for chunk in itertools.islice(chunks, 1):
                    submit(chunk)
                for message in said:
                    warn_registration(message)
                yield result
        except BrokenProcessPool as exc:
            _release(pending)
            self.close()
            raise RuntimeError(
                "a stack worker process ended unexpectedly (killed, or out of memory); "
                "the registration stopped. Try again, or with fewer workers."
            ) from exc
        finally:
            _release(pending)

    def _start(self) -> ProcessPoolExecutor:
        if self._executor is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(_PRELOAD)
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=keep_heap
            )
            self._ended = weakref.finalize(self, _end, self._executor)
        return self._executor


def _release(pending: deque) -> None:
    """Cancel the chunks not started and wait for those running: their workers may
    still be reading their blocks."""
    for future, _ in pending:
        future.cancel()
    while pending:
        future, _ = pending.popleft()
        if not future.cancelled():
            future.exception()


@contextlib.contextmanager
def _without_main():
    """The caller's ``__main__`` hidden while a worker may be started.

    multiprocessing has each new process import the caller's main script (as
    ``__mp_main__``) unless it was run with ``-m``. A napari session's main script
    is napari's launcher, or a user's script that opens a viewer, maybe without an
    ``if __name__ == "__main__"`` guard; the workers run only this package's
    functions and need none of it.
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _end(executor: ProcessPoolExecutor) -> None:
    executor.shutdown(wait=True, cancel_futures=True)


class _Block:
    """A block of shared memory and the arrays written into it (name, shape, dtype,
    offset), with the other values, which are pickled."""

    def __init__(self, memory: shared_memory.SharedMemory | None):
        self.memory = memory
        self.layout: list[tuple[str, tuple[int, ...], str, int]] = []
        self.values: dict[str, Any] = {}


def _ticket(block: _Block) -> tuple[str | None, list, dict[str, Any]]:
    """What a worker needs to read a block: its name, its layout, the other values."""
    name = None if block.memory is None else block.memory.name
    return name, block.layout, block.values


class _Segments:
    """Shared-memory blocks, reused: a block given back serves a later one that fits;
    all removed by :meth:`free`."""

    def __init__(self):
        self._free: list[shared_memory.SharedMemory] = []
        self._all: list[shared_memory.SharedMemory] = []

    def put(self, values: dict[str, Any]) -> _Block:
        """A block holding the arrays of ``values`` (the rest kept beside it)."""
        arrays = {key: value for key, value in values.items() if isinstance(value, np.ndarray)}
        offset, layout = 0, []
        for key, array in arrays.items():
            layout.append((key, array.shape, array.dtype.str, offset))
            offset += -(-array.nbytes // _ALIGNMENT) * _ALIGNMENT
        block = _Block(self._take(offset) if arrays else None)
        block.layout = layout
        block.values = {key: value for key, value in values.items() if key not in arrays}
        for (_, shape, dtype, start), array in zip(layout, arrays.values(), strict=True):
            np.ndarray(shape, dtype, buffer=block.memory.buf, offset=start)[...] = array
        return block

    def give_back(self, block: _Block) -> None:
        if block.memory is not None:
            self._free.append(block.memory)
            block.memory = None

    def free(self) -> None:
        """Close and remove every block."""
        for memory in self._all:
            memory.close()
            memory.unlink()
        self._all, self._free = [], []

    def _take(self, size: int) -> shared_memory.SharedMemory:
        fits = [memory for memory in self._free if memory.size >= size]
        if fits:
            memory = min(fits, key=lambda block: block.size)
            self._free.remove(memory)
            return memory
        name = f"{SEGMENT_PREFIX}{uuid.uuid4().hex[:16]}"
        memory = shared_memory.SharedMemory(name=name, create=True, size=max(size, 1))
        self._all.append(memory)
        return memory


def _read(name: str | None, layout: list) -> dict[str, np.ndarray]:
    """The arrays of a block, copied out of it (in a worker), the block let go."""
    if name is None:
        return {}
    memory = shared_memory.SharedMemory(name=name)
    try:
        return {
            key: np.ndarray(shape, dtype, buffer=memory.buf, offset=start).copy()
            for key, shape, dtype, start in layout
        }
    finally:
        memory.close()


def _in_worker(function: Callable[..., Any], job: tuple, chunk: tuple) -> tuple[Any, list[str]]:
    """In a worker: ``function`` on the job's values and the chunk's, with the
    registration warnings it held."""
    job_name, job_layout, job_values = job
    token = job_values.pop("job")
    if token not in _job_arrays:
        _job_arrays.clear()  # the arrays of an earlier job
        _job_arrays[token] = _read(job_name, job_layout)
    chunk_name, chunk_layout, chunk_values = chunk
    values = {**_job_arrays[token], **job_values, **_read(chunk_name, chunk_layout)}
    with _fft.one_blas_thread(), held_warnings() as said:
        return function(**values, **chunk_values), said
