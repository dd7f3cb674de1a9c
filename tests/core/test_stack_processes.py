"""A numpy stack registered in forked worker processes: the same table as in one
thread, its warnings and errors at the caller.

The truth is a crop window of one scene moved by a known drift (sub-pixel, by a
Fourier shift of the scene), so the frames do not wrap and take the overlap mode.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _drift import drifting_stack

from napari_imreg.core import (
    RegistrationWarning,
    _stack_heap,
    _stack_processes,
    register_stack,
)

pytestmark = pytest.mark.skipif(
    not _stack_processes.forking_available(), reason="worker processes are forked on Linux only"
)


def _table(result) -> np.ndarray:
    noise = [] if result.noise is None else [result.noise]
    return np.column_stack([result.shifts, result.errors, result.chi2, result.dof, *noise])


@pytest.fixture
def forked_calls(monkeypatch):
    """Each set of worker processes forked: the chunks of each of its runs."""
    pools = []
    forked = _stack_processes.forked

    @contextlib.contextmanager
    def counted(*args, **kwargs):
        runs = []
        pools.append(runs)
        with forked(*args, **kwargs) as run:

            def recorded(chunks, *values):
                runs.append(chunks)
                return run(chunks, *values)

            yield recorded

    monkeypatch.setattr(_stack_processes, "forked", counted)
    return pools


@pytest.mark.parametrize(
    "options",
    [{}, {"reference": 3}, {"error": 0.05}, {"boundary": "wrap"}, {"reference": "previous"}],
    ids=["default", "reference=3", "error", "wrap", "previous"],
)
def test_processes_give_the_table_of_one_thread(options, forked_calls):
    stack, drift = drifting_stack(12, 64)
    forked = register_stack(stack, num_workers=2, **options)
    threaded = register_stack(stack, num_workers=1, **options)
    assert len(forked_calls) == 1
    assert len(forked_calls[0][0]) > 2  # chunks
    np.testing.assert_array_equal(_table(forked), _table(threaded))
    # The truth is onto frame 0, and for crops, which do not wrap, in the overlap mode.
    if options.get("reference", 0) in (0, "previous") and "boundary" not in options:
        assert np.all(np.abs(forked.shifts - drift) <= 5 * forked.errors + 1e-9)


@pytest.mark.parametrize("options", [{}, {"error": 0.05}, {"boundary": "wrap"}], ids=str)
def test_the_mean_in_processes_is_the_mean_in_threads(options, forked_calls, monkeypatch):
    # The plain mean's sums follow the chunks, which follow the workers: the same
    # workers in threads are the comparison.
    stack, drift = drifting_stack(12, 64)
    forked = register_stack(stack, reference="mean", num_workers=2, **options)
    # One set of workers: the plain mean's pass, the frames moved for the template, the
    # template's pass.
    assert [len(run) > 2 for run in forked_calls[0]] == [True] * 3
    monkeypatch.setattr(_stack_processes, "forking_available", lambda: False)
    threaded = register_stack(stack, reference="mean", num_workers=2, **options)
    assert len(forked_calls) == 1  # the threads' road forks none
    np.testing.assert_array_equal(_table(forked), _table(threaded))
    if not options:  # onto the mean frame: the drifts less their mean, within the errors
        moved = forked.shifts - forked.shifts[0]
        assert np.all(np.abs(moved - drift) <= 5 * (forked.errors + forked.errors[0]) + 1e-9)


@pytest.mark.parametrize("reference", [0, "previous"])
def test_a_workers_warning_reaches_the_caller(reference, forked_calls):
    stack, drift = drifting_stack(12, 64)
    stack[5] = np.nan
    with pytest.warns(RegistrationWarning, match="frame 5 was not measured"):
        result = register_stack(stack, reference=reference, num_workers=2)
    assert forked_calls
    # "previous": frame 6 is registered onto frame 4 instead, in the caller.
    assert np.all(np.abs(result.shifts[6] - drift[6]) <= 5 * result.errors[6] + 1e-9)
    assert np.all(np.isnan(result.shifts[5]))
    assert np.all(np.isinf(result.errors[5]))
    assert np.all(np.isfinite(np.delete(result.shifts, 5, axis=0)))


def test_chunks_come_back_in_order_from_a_function_that_cannot_be_pickled():
    offset = 10.0
    chunks = [slice(start, start + 3) for start in range(0, 12, 3)]
    table = _stack_processes.in_processes(
        lambda chunk: np.arange(chunk.start, chunk.stop)[:, None] + offset, chunks, 2
    )
    np.testing.assert_array_equal(table[:, 0], np.arange(12) + offset)


def test_a_workers_error_is_raised_at_the_caller():
    def failing(chunk):
        raise ValueError(f"chunk from {chunk.start}")

    with pytest.raises(ValueError, match="chunk from"):
        _stack_processes.in_processes(failing, [slice(0, 2), slice(2, 4)], 2)


@pytest.mark.parametrize(
    ("workers", "frames"), [(1, 10), (2, 6)], ids=["one worker", "few frames"]
)
def test_small_jobs_stay_in_threads(workers, frames, forked_calls):
    stack, drift = drifting_stack(frames, 64)
    result = register_stack(stack, num_workers=workers)
    assert not forked_calls
    assert np.all(np.abs(result.shifts - drift) <= 5 * result.errors + 1e-9)


def test_the_mean_of_per_frame_masks_stays_in_threads(forked_calls):
    stack, drift = drifting_stack(12, 64)
    masks = np.zeros(stack.shape, dtype=bool)
    masks[:, :4] = True  # a band each frame sets aside
    result = register_stack(stack, reference="mean", mask=masks, num_workers=2)
    assert not forked_calls
    moved = result.shifts - result.shifts[0]
    assert np.all(np.abs(moved - drift) <= 5 * (result.errors + result.errors[0]) + 1e-9)


def test_a_daemonic_process_registers_in_threads(monkeypatch, forked_calls):
    # A multiprocessing.Pool's worker is daemonic: it may start no process.
    monkeypatch.setitem(multiprocessing.current_process()._config, "daemon", True)
    stack, drift = drifting_stack(10, 64)
    result = register_stack(stack, num_workers=2)
    assert not forked_calls
    assert np.all(np.abs(result.shifts - drift) <= 5 * result.errors + 1e-9)


_HEAP_PROBE = """
import ctypes
import numpy as np
from napari_imreg.core import _stack_processes

class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Mallinfo2

def mapped_while_holding(chunk):
    # Bytes glibc mapped for a 4 MiB array of its own, rather than serving it from the heap.
    before = libc.mallinfo2().hblkhd
    block = np.ones(chunk.stop * 1024 * 1024 // 8)
    return libc.mallinfo2().hblkhd - before, block.size

libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD at glibc's starting value, as the parent's
here = mapped_while_holding(slice(0, 4))[0]
with _stack_processes.forked(mapped_while_holding, 1) as run:
    (worker, size), = run([slice(0, 4)])
print(here, worker, size)
"""


@pytest.mark.skipif(_stack_heap._glibc() is None, reason="the heap thresholds are glibc's")
def test_a_worker_serves_frame_sized_arrays_from_its_heap():
    # glibc maps a block over its mmap threshold from the kernel, and the parent's is
    # 128 KiB here; a worker keeps arrays up to 32 MiB on its heap (_stack_heap).
    source = str(Path(__file__).parents[2] / "src")
    output = subprocess.run(
        [sys.executable, "-c", _HEAP_PROBE],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": source},
    ).stdout.split()
    here, worker, size = (int(value) for value in output)
    assert size == 4 * 1024 * 1024 // 8
    assert here >= 4 * 1024 * 1024
    assert worker == 0
