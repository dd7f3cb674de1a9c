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


@pytest.fixture(scope="module")
def stack_with_a_faint_frame():
    """Frame 5 is the scene at a quarter of the noise's std: its steps onto frame 4
    and from it to frame 6 find a match rivalled by other minima (flagged, with an
    error widened to reach them), not none."""
    stack, drift = drifting_stack(12, 64)
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, stack.std(), stack[NOISE_FRAME].shape)
    stack[NOISE_FRAME] = 0.8 * noise + 0.2 * stack[NOISE_FRAME]
    return stack, drift


def _drifts_onto_previous(stack, road):
    """``measured``, shifts and errors of ``register_stack(stack, reference="previous")``
    by ``road`` (numpy in one thread or in processes, dask, or the iterator)."""
    if road == "iterator":
        results = [result for _, result in iter_register_stack(stack, reference="previous")]
        return (
            np.array([result.measured for result in results]),
            np.array([result.shift for result in results]),
            np.array([result.error for result in results]),
        )
    data = da.from_array(stack, chunks=(3, 64, 64)) if road == "dask" else stack
    workers = 2 if road == "processes" else 1
    result = register_stack(data, reference="previous", num_workers=workers)
    if road == "dask":
        result = result.compute()
    return result.measured, result.shifts, result.errors


@pytest.mark.parametrize("road", ["one thread", "processes", "dask", "iterator"])
def test_a_flagged_step_is_not_added_to_the_later_drifts(stack_with_a_faint_frame, road):
    """reference="previous": the later frames are registered past the flagged frame
    onto the last measured one, so they stay measurements, within 4 of their errors
    of the truth, and their errors do not hold the flagged step's."""
    stack, drift = stack_with_a_faint_frame
    if road == "processes" and not _stack_processes.forking_available():
        pytest.skip("worker processes are forked on Linux only")
    with pytest.warns(RegistrationWarning, match="not significantly better"):
        measured, shifts, errors = _drifts_onto_previous(stack, road)
    np.testing.assert_array_equal(measured, _expected())
    assert np.all(np.isfinite(errors[NOISE_FRAME]))  # a flagged step, not a lost one
    later = slice(NOISE_FRAME + 1, None)
    assert np.all(np.abs(shifts[later] - drift[later]) <= 4 * errors[later])
    assert np.all(errors[later] < errors[NOISE_FRAME])


@pytest.mark.parametrize("road", ["one thread", "processes", "dask", "iterator"])
def test_a_dark_first_frame_moves_the_origin_to_the_next(road):
    """reference="previous" with a first frame of noise alone (a shutter still closed):
    nothing can be measured onto it, so the drifts are measured from frame 1. Frame 0
    is not measured, frame 1 is the origin (zero shift and error), and the later frames
    are within 4 of their errors of the drift relative to frame 1."""
    if road == "processes" and not _stack_processes.forking_available():
        pytest.skip("worker processes are forked on Linux only")
    stack, drift = drifting_stack(12, 64)
    rng = np.random.default_rng(3)
    stack[0] = rng.normal(0.0, stack.std(), stack[0].shape)
    with pytest.warns(RegistrationWarning) as said:
        measured, shifts, errors = _drifts_onto_previous(stack, road)
    assert any("measured from frame 1" in str(warning.message) for warning in said)
    expected = np.ones(12, dtype=bool)
    expected[0] = False
    np.testing.assert_array_equal(measured, expected)
    assert np.all(np.isnan(shifts[0]))
    assert np.all(np.isinf(errors[0]))
    np.testing.assert_array_equal(shifts[1], 0.0)
    later = slice(2, None)
    truth = drift[later] - drift[1]
    assert np.all(np.abs(shifts[later] - truth) <= 4 * errors[later])
