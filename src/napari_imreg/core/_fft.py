"""The FFT backend: pyfftw with cached plans when available, scipy.fft otherwise.

Everything in the core that transforms goes through the four functions here, so
the backend is chosen in one place. Plans are cached per thread (an FFTW plan
object owns its buffers, so two threads must not share one), in a small LRU
cache. Small transforms are planned with ``FFTW_ESTIMATE`` (planning would cost
more than it saves), large ones with ``FFTW_MEASURE`` under a time limit.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

import numpy as np
import scipy.fft

try:  # pragma: no cover - exercised implicitly where pyfftw is installed
    import pyfftw
    import pyfftw.builders
except ImportError:  # pragma: no cover
    pyfftw = None
from threadpoolctl import ThreadpoolController

__all__ = [
    "BACKEND",
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
_local = threading.local()
_blas = ThreadpoolController()


def one_blas_thread():
    """Context manager: BLAS on one thread (skinny matrix products are 5-10x slower on two)."""
    return _blas.limit(limits=1, user_api="blas")


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
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
    return _available_cores() if size >= 1 << 18 else 1


def next_fast_shape(shape) -> tuple[int, ...]:
    """The smallest shape >= ``shape`` whose lengths factor into 2, 3 and 5."""
    return tuple(scipy.fft.next_fast_len(int(n), real=True) for n in shape)


def _plan(kind: str, template_shape, dtype, s, threads: int):
    cache = getattr(_local, "plans", None)
    if cache is None:
        cache = _local.plans = OrderedDict()
    key = (kind, tuple(template_shape), np.dtype(dtype).str, s, threads)
    plan = cache.get(key)
    if plan is not None:
        cache.move_to_end(key)
        return plan
    template = pyfftw.empty_aligned(template_shape, dtype=dtype)
    size = int(np.prod(template_shape))
    effort = "FFTW_MEASURE" if size >= _MEASURE_MIN_SIZE else "FFTW_ESTIMATE"
    builder = getattr(pyfftw.builders, kind)
    plan = builder(
        template,
        s=s,
        threads=threads,
        planner_effort=effort,
        auto_align_input=True,
        auto_contiguous=True,
    )
    cache[key] = plan
    while len(cache) > _PLAN_CACHE_SIZE:
        cache.popitem(last=False)
    return plan


def _run(kind: str, array: np.ndarray, s, threads: int | None) -> np.ndarray:
    s = None if s is None else tuple(int(n) for n in s)
    nthreads = threads_for(array.size if s is None else int(np.prod(s)), threads)
    if pyfftw is None:
        return getattr(scipy.fft, kind)(array, s=s, workers=nthreads)
    plan = _plan(kind, array.shape, array.dtype, s, nthreads)
    # Every call writes into a fresh aligned output array, handed to the caller.
    out = pyfftw.empty_aligned(plan.output_array.shape, dtype=plan.output_array.dtype)
    if plan.input_array.shape == array.shape:
        # Copy into the plan's own buffer: handing FFTW the caller's array would
        # let a complex-to-real transform overwrite it.
        plan.input_array[...] = array
        return plan(output_array=out)
    # A zero-padding wrapper copies into its padded buffer itself.
    return plan(array, output_array=out)


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


def rfftn(array: np.ndarray, s=None, *, threads: int | None = None) -> np.ndarray:
    """N-D FFT of a real array over all axes (numpy's conventions), zero-padded to ``s``."""
    return _run("rfftn", _real_dtype(np.asarray(array)), s, threads)


def irfftn(spectrum: np.ndarray, s, *, threads: int | None = None) -> np.ndarray:
    """Inverse of :func:`rfftn`; ``s`` is the real output shape."""
    return _run("irfftn", _complex_dtype(np.asarray(spectrum)), s, threads)


def fftn(array: np.ndarray, s=None, *, threads: int | None = None) -> np.ndarray:
    """N-D complex FFT over all axes."""
    return _run("fftn", _complex_dtype(np.asarray(array)), s, threads)


def ifftn(spectrum: np.ndarray, s=None, *, threads: int | None = None) -> np.ndarray:
    """N-D inverse complex FFT over all axes (normalised by the size, as numpy does)."""
    return _run("ifftn", _complex_dtype(np.asarray(spectrum)), s, threads)
