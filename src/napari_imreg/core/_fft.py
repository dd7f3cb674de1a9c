"""The FFT backend: pyfftw with cached plans when available, scipy.fft otherwise.

Everything in the core that transforms goes through the four functions here, so
the backend is chosen in one place. Plans are cached per thread, in a small LRU
cache, with aligned buffers that the thread's plans of one size share (a buffer
is never shared between threads). Small transforms are planned with
``FFTW_ESTIMATE`` (planning would cost more than it saves), large ones with
``FFTW_MEASURE``, with what was measured kept on disk (see :mod:`._wisdom`).
Arrays made by :func:`empty` are transformed where they lie rather than copied.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
import weakref
from collections import OrderedDict
from contextlib import contextmanager

import numpy as np
import scipy.fft
from threadpoolctl import ThreadpoolController

from ._threads import fork_safe_lock
from ._wisdom import Wisdom


def _import_pyfftw():
    """pyfftw, its OpenMP threads told to sleep rather than spin between transforms.

    pyfftw's own copy of libgomp reads ``OMP_WAIT_POLICY`` once, as it loads. By
    default its threads spin after each transform, holding the other core, and
    any thread that needs that core next (BLAS, or the caller's) waits for a
    scheduler slice: measured here, a threaded 512² FFT followed by a BLAS dot
    product took 8 ms instead of 0.6 ms. The variable is set only while pyfftw
    loads, and only if the user has not set it.
    """
    unset = "OMP_WAIT_POLICY" not in os.environ
    if unset:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        import pyfftw
    except ImportError:  # pragma: no cover
        return None
    finally:
        if unset:
            del os.environ["OMP_WAIT_POLICY"]
    return pyfftw


pyfftw = _import_pyfftw()

__all__ = [
    "BACKEND",
    "available_cores",
    "empty",
    "fftn",
    "ifftn",
    "irfftn",
    "next_fast_shape",
    "one_blas_thread",
    "rfftn",
    "threads_for",
]

BACKEND = "pyfftw" if pyfftw is not None else "scipy"

_PLAN_CACHE_SIZE = 24
_MEASURE_MIN_SIZE = 1 << 16
#: Planning that takes longer than this measured something new, worth saving.
_NEW_WISDOM_SECONDS = 0.05
_wisdom = Wisdom(pyfftw) if pyfftw is not None else None
_local = threading.local()
_blas = ThreadpoolController()


def _fallback_setters() -> list:
    """OpenBLAS's ``openblas_set_num_threads_local`` of each loaded OpenBLAS that has it.

    OpenBLAS 0.3.30 ignores ``openblas_set_num_threads`` from any thread but the
    main one once the main thread has called it (measured here: after a
    registration in the main thread, a worker thread's limit read back 2 threads,
    and its skinny products took 120 ms instead of 0.2 ms on the loaded machine).
    This entry point is honoured from any thread.
    """
    setters = []
    for controller in _blas.lib_controllers:
        if controller.internal_api != "openblas":
            continue
        setter = getattr(controller.dynlib, "openblas_set_num_threads_local", None)
        if setter is not None:
            setter.argtypes, setter.restype = [ctypes.c_int], ctypes.c_int
            setters.append(setter)
    return setters


class _BlasLimit:
    """BLAS on one thread while any caller in this process needs it.

    Reference-counted: the first caller in limits BLAS, the last one out restores
    it (a limit set and restored per caller would let one that finishes lift the
    limit under another still running, in another thread). OpenBLAS is also set
    through its other entry point, which holds where the first does not (see
    :func:`_fallback_setters`), and restored through it too.
    """

    def __init__(self):
        self._lock = fork_safe_lock()  # a forked stack worker takes it first thing
        self._users = 0
        self._limits = None
        self._setters = _fallback_setters()
        self._saved = None

    def _limit(self) -> None:
        self._limits = _blas.limit(limits=1, user_api="blas")
        # Set unconditionally: a ctypes call costs microseconds, reading the count
        # back through threadpoolctl milliseconds.
        self._saved = [setter(1) for setter in self._setters]

    def _restore(self) -> None:
        if self._saved is not None:
            for setter, saved in zip(self._setters, self._saved, strict=True):
                setter(saved)
            self._saved = None
        self._limits.restore_original_limits()
        self._limits = None

    @contextmanager
    def __call__(self):
        with self._lock:
            if self._users == 0:
                self._limit()
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    self._restore()


#: Context manager: BLAS on one thread (skinny matrix products are 5-10x slower on two).
one_blas_thread = _BlasLimit()


def available_cores() -> int:
    """The cores this process may run on (its affinity where the OS reports one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def threads_for(size: int, threads: int | None = None) -> int:
    """The number of FFT threads to use for an array of ``size`` elements.

    An explicit ``threads`` wins. Otherwise large transforms use every core and
    small ones a single thread (threading small FFTs costs more than it saves).
    """
    if threads is not None:
        if int(threads) < 1:
            raise ValueError(f"threads must be >= 1, got {threads!r}.")
        return int(threads)
    return available_cores() if size >= 1 << 18 else 1


def next_fast_shape(shape) -> tuple[int, ...]:
    """The smallest shape >= ``shape`` whose lengths factor into 2, 3 and 5."""
    return tuple(scipy.fft.next_fast_len(int(n), real=True) for n in shape)


class _Buffer:
    """An aligned array shared by the plans of one thread, and the plan that last wrote it.

    The writer is held by a weak reference: a plan holds its buffers, and a buffer
    holding its plan would make a cycle that keeps both (and the arrays) alive
    after the plan cache or the thread lets them go, until the garbage collector's
    next round.
    """

    def __init__(self, shape, dtype):
        self.array = pyfftw.zeros_aligned(shape, dtype=dtype)
        self._writer = None

    @property
    def writer(self):
        return None if self._writer is None else self._writer()

    @writer.setter
    def writer(self, plan) -> None:
        self._writer = None if plan is None else weakref.ref(plan)


def _buffer(shape, dtype, role: str) -> _Buffer:
    """This thread's buffer of ``shape`` and ``dtype`` for ``role``.

    A forward and an inverse transform of one size share their buffers (the
    real array of one is the real array of the other, and so for the
    spectrum), which halves the memory the plans keep. ``role`` keeps the input
    and output of a complex transform apart.
    """
    registry = getattr(_local, "buffers", None)
    if registry is None:
        registry = _local.buffers = weakref.WeakValueDictionary()
    key = (tuple(shape), np.dtype(dtype).str, role)
    buffer = registry.get(key)
    if buffer is None:
        buffer = registry[key] = _Buffer(shape, dtype)
    return buffer


class _Plan:
    """One FFTW plan, with aligned input and output buffers shared with this thread's
    other plans of the same size.

    Inputs of exactly the plan's layout are transformed where they lie (FFTW
    keeps the input of a forward transform intact); any other input is copied
    into the input buffer, zero-padded or cropped to the transform's shape. The
    plan never keeps a reference to a caller's array.
    """

    def __init__(self, kind: str, input_shape, dtype, s, threads: int):
        inverse = kind in ("irfftn", "ifftn")
        real_in, real_out = kind == "rfftn", kind == "irfftn"
        complex_dtype = np.result_type(dtype, np.complex64)
        real_dtype = np.finfo(complex_dtype).dtype
        shape = tuple(input_shape) if s is None else tuple(s)  # the transform's shape
        half = (*shape[:-1], shape[-1] // 2 + 1)
        if real_in:
            self.input = _buffer(shape, real_dtype, "real")
            self.output = _buffer(half, complex_dtype, "half")
        elif real_out:
            self.input = _buffer(half, complex_dtype, "half")
            self.output = _buffer(shape, real_dtype, "real")
        else:
            self.input = _buffer(shape, complex_dtype, "in")
            self.output = _buffer(shape, complex_dtype, "out")
        size = int(np.prod(shape))
        measure = size >= _MEASURE_MIN_SIZE
        if measure:
            _wisdom.load()
        start = time.perf_counter()
        self.fftw = pyfftw.FFTW(
            self.input.array,
            self.output.array,
            axes=tuple(range(len(shape))),
            direction="FFTW_BACKWARD" if inverse else "FFTW_FORWARD",
            flags=("FFTW_MEASURE" if measure else "FFTW_ESTIMATE",),
            threads=threads,
            # No planning_timelimit: measured here, a 125³ plan cut off at 2 s on the
            # loaded machine ran in 1.2 s instead of 30-60 ms, and wisdom would keep it.
        )
        if measure and time.perf_counter() - start > _NEW_WISDOM_SECONDS:
            _wisdom.save()
        # Measuring scribbles on both buffers: nobody's data is left in them.
        self.input.writer = self.output.writer = None
        self.scale = 1.0 / size if inverse else None
        # A complex-to-real transform overwrites its input, padding included.
        self.destroys_input = real_out
        self.block = tuple(
            slice(0, min(a, b)) for a, b in zip(input_shape, self.input.array.shape, strict=True)
        )
        self.full = tuple(input_shape) == self.input.array.shape

    def _takes_directly(self, array: np.ndarray) -> bool:
        return (
            not self.destroys_input
            and array.shape == self.input.array.shape
            and array.dtype == self.input.array.dtype
            and array.flags.c_contiguous
            # numpy calls an array C-contiguous whatever the stride of a length-1 axis,
            # but FFTW's plan only takes the strides it was made with.
            and array.strides == self.input.array.strides
            and array.ctypes.data % self.fftw.input_alignment == 0
        )

    def __call__(
        self, array: np.ndarray, *, scratch: bool, scale: float = 1.0, weights=None
    ) -> np.ndarray:
        buffer = self.input.array
        if weights is None and self._takes_directly(array):
            source = array
        else:
            # The padding must be zero: clear the buffer unless this plan wrote
            # it last and left the padding alone.
            if not self.full and (self.input.writer is not self or self.destroys_input):
                buffer.fill(0)
            buffer[self.block] = array[self.block]
            if weights is not None:
                _apply_weights(buffer, self.block, weights)
            self.input.writer = self
            source = buffer
        if scratch:
            out = self.output.array
            self.output.writer = self
        else:
            out = pyfftw.empty_aligned(self.output.array.shape, self.output.array.dtype)
        self.fftw.update_arrays(source, out)
        try:
            self.fftw.execute()
        finally:
            self.fftw.update_arrays(buffer, self.output.array)
        factor = scale if self.scale is None else scale * self.scale
        if factor != 1.0:
            out *= factor
        return out


def _apply_weights(buffer: np.ndarray, block, weights) -> None:
    """Multiply ``buffer[block]`` by the outer product of ``weights`` (one 1-D array per
    axis), touching only the entries where a weight differs from one, a run of
    neighbouring entries at a time (views, not gathered copies)."""
    for axis, weight in enumerate(weights):
        edge = np.flatnonzero(weight != 1.0)
        breaks = np.flatnonzero(np.diff(edge) != 1) + 1
        shape = [-1 if a == axis else 1 for a in range(buffer.ndim)]
        for run in np.split(edge, breaks) if edge.size else ():
            lo, hi = int(run[0]), int(run[-1]) + 1
            index = (*block[:axis], slice(lo, hi), *block[axis + 1 :])
            buffer[index] *= weight[lo:hi].reshape(shape)


def _plan(kind: str, input_shape, dtype, s, threads: int) -> _Plan:
    cache = getattr(_local, "plans", None)
    if cache is None:
        cache = _local.plans = OrderedDict()
    key = (kind, tuple(input_shape), np.dtype(dtype).str, s, threads)
    plan = cache.get(key)
    if plan is not None:
        cache.move_to_end(key)
        return plan
    plan = cache[key] = _Plan(kind, input_shape, dtype, s, threads)
    while len(cache) > _PLAN_CACHE_SIZE:
        cache.popitem(last=False)
    return plan


def _run(
    kind: str, array: np.ndarray, s, threads: int | None, *, scratch=False, scale=1.0, weights=None
):
    s = None if s is None else tuple(int(n) for n in s)
    nthreads = threads_for(array.size if s is None else int(np.prod(s)), threads)
    if pyfftw is None:
        if weights is not None:
            array = array.astype(np.result_type(array, np.float64), copy=True)
            _apply_weights(array, tuple(slice(None) for _ in array.shape), weights)
        out = getattr(scipy.fft, kind)(array, s=s, workers=nthreads)
        if scale != 1.0:
            out *= scale
        return out
    plan = _plan(kind, array.shape, array.dtype, s, nthreads)
    return plan(array, scratch=scratch, scale=scale, weights=weights)


def empty(shape, dtype=np.float64) -> np.ndarray:
    """An uninitialised array laid out so that the transforms here read it in place."""
    if pyfftw is None:
        return np.empty(shape, dtype=dtype)
    return pyfftw.empty_aligned(shape, dtype=dtype)


def _real_dtype(array: np.ndarray) -> np.ndarray:
    if array.dtype in (np.float32, np.float64):
        return array
    return array.astype(np.float64)


def _complex_dtype(array: np.ndarray) -> np.ndarray:
    if array.dtype in (np.complex64, np.complex128):
        return array
    if array.dtype == np.float32:
        return array.astype(np.complex64)
    return array.astype(np.complex128)


def rfftn(array: np.ndarray, s=None, *, threads: int | None = None, weights=None) -> np.ndarray:
    """N-D FFT of a real array over all axes (numpy's conventions), zero-padded to ``s``.

    ``weights`` (one 1-D array per axis) multiplies the array by their outer
    product on its way into the transform (a taper), without a weighted copy.
    """
    return _run("rfftn", _real_dtype(np.asarray(array)), s, threads, weights=weights)


def irfftn(
    spectrum: np.ndarray,
    s,
    *,
    threads: int | None = None,
    scratch: bool = False,
    scale: float = 1.0,
) -> np.ndarray:
    """Inverse of :func:`rfftn`; ``s`` is the real output shape.

    ``scale`` multiplies the result (in the pass that normalises it).
    ``scratch=True`` returns the transform's own buffer instead of a new array
    (no allocation): the next transform of that size on this thread overwrites
    it, so use it at once.
    """
    spectrum = _complex_dtype(np.asarray(spectrum))
    return _run("irfftn", spectrum, s, threads, scratch=scratch, scale=scale)


def fftn(array: np.ndarray, s=None, *, threads: int | None = None) -> np.ndarray:
    """N-D complex FFT over all axes."""
    return _run("fftn", _complex_dtype(np.asarray(array)), s, threads)


def ifftn(spectrum: np.ndarray, s=None, *, threads: int | None = None) -> np.ndarray:
    """N-D inverse complex FFT over all axes (normalised by the size, as numpy does)."""
    return _run("ifftn", _complex_dtype(np.asarray(spectrum)), s, threads)
