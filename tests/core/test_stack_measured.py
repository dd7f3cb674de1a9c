"""A stack's per-frame ``measured``: a frame of pure noise among real frames is not a
measurement, whichever road registers the stack (numpy in one thread, in threads or in
forked processes; dask; the iterator), against one frame or each previous one.

The truth is a crop window of one scene moved by a known drift; frame 5 is replaced by
noise alone, so it has no match to find.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from _drift import drifting_stack

from napari_imreg.core import (
    RegistrationWarning,
    _stack_processes,
    iter_register_stack,
    register_stack,
)

NOISE_FRAME = 5


@pytest.fixture(scope="module")
def stack_with_a_noise_frame():
    stack, drift = drifting_stack(12, 64)
    rng = np.random.default_rng(7)
    stack[NOISE_FRAME] = rng.normal(0.0, stack.std(), stack[NOISE_FRAME].shape)
    return stack, drift


def _expected() -> np.ndarray:
    expected = np.ones(12, dtype=bool)
    expected[NOISE_FRAME] = False
    return expected


def _check(measured, shifts, errors, drift) -> None:
    np.testing.assert_array_equal(measured, _expected())
    kept = _expected()
    assert np.all(np.abs(shifts[kept] - drift[kept]) <= 5 * errors[kept] + 1e-9)


@pytest.mark.parametrize("reference", [0, "previous"])
@pytest.mark.parametrize("road", ["one thread", "threads", "processes", "dask"])
def test_a_noise_frame_is_not_measured(stack_with_a_noise_frame, road, reference, monkeypatch):
    stack, drift = stack_with_a_noise_frame
    if road == "threads":
        monkeypatch.setattr(_stack_processes, "forking_available", lambda: False)
    if road == "processes" and not _stack_processes.forking_available():
        pytest.skip("worker processes are forked on Linux only")
    data = da.from_array(stack, chunks=(3, 64, 64)) if road == "dask" else stack
    workers = 1 if road == "one thread" else 2
    if road == "dask":
        lazy = register_stack(data, reference=reference)
        assert isinstance(lazy.measured, da.Array)
        with pytest.warns(RegistrationWarning):  # the frames warn as they are computed
            result = lazy.compute()
    else:
        with pytest.warns(RegistrationWarning):
            result = register_stack(data, reference=reference, num_workers=workers)
    assert result.measured.dtype == bool
    _check(result.measured, result.shifts, result.errors, drift)


@pytest.mark.parametrize("reference", [0, "previous"])
def test_the_iterator_flags_the_same_frame(stack_with_a_noise_frame, reference):
    stack, drift = stack_with_a_noise_frame
    with pytest.warns(RegistrationWarning):
        results = [result for _, result in iter_register_stack(stack, reference=reference)]
    measured = np.array([result.measured for result in results])
    shifts = np.array([result.shift for result in results])
    errors = np.array([result.error for result in results])
    _check(measured, shifts, errors, drift)
