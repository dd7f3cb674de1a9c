"""Errors and warnings that name axes of the images keep the axes as numbers, in the
process that registers and from the worker processes that register a stack's frames,
so that an adapter names the axes its own way without reading them out of the text.

The truth is the geometry: a frame of 4 rows holds no shift along its rows (axis 0),
and a frame of 3 rows is too short for the overlap mode along axis 0.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

from napari_imreg.core import (
    RegistrationWarning,
    StackWorkers,
    _stack_processes,
    iter_register_stack,
    register_stack,
)
from napari_imreg.core._axis_messages import AXES, AxisValueError
from napari_imreg.core._binned_pairs import load_scene, make_binned_pair
from napari_imreg.core._crosscorr import _integer_peak
from napari_imreg.core._result import AxisWarning


def _letters(axes: tuple[int, ...]) -> str:
    return "/".join("yx"[axis] for axis in axes)


@pytest.mark.parametrize("kind", [AxisValueError, AxisWarning])
def test_a_message_keeps_its_axes_through_a_pickle(kind):
    message = kind(f"the images are too short along {AXES}.", np.array([0, 1]))
    back = pickle.loads(pickle.dumps(message))
    assert type(back) is kind
    assert back.axes == (0, 1)
    assert str(back) == "the images are too short along axis 0, 1."
    assert back.told(_letters) == "the images are too short along y/x."


def test_a_search_window_without_a_shift_names_its_axis():
    # The peak search of the cross-correlation methods, told a window that holds no
    # shift along axis 1 (the public functions refuse a negative max_shift earlier).
    with pytest.raises(AxisValueError, match="every shift along axis 1") as caught:
        _integer_peak(np.zeros((8, 8)), np.array([2.0, -1.0]))
    assert caught.value.axes == (1,)
    assert caught.value.told(_letters).endswith("excludes every shift along x.")


@pytest.mark.parametrize("road", ["one thread", "threads", "processes", "dask"])
def test_a_frame_too_short_names_its_axis(road, monkeypatch):
    stack = np.random.default_rng(1).normal(size=(10, 3, 48))
    if road == "threads":
        monkeypatch.setattr(_stack_processes, "forking_available", lambda: False)
    if road == "dask":
        import dask.array as da

        stack = da.from_array(stack, chunks=(5, 3, 48))
    with pytest.raises(AxisValueError, match=r"axis 0 has 3 pixel\(s\)") as caught:
        _registered(stack, workers=1 if road == "one thread" else 2)
    assert caught.value.axes == (0,)
    assert caught.value.told(_letters).startswith("reference is too small to register")
    assert "without wrapping: y has 3 pixel(s)" in caught.value.told(_letters)


def _registered(stack, workers: int):
    """``register_stack``'s result, computed."""
    return register_stack(stack, num_workers=workers).compute()


@pytest.fixture(scope="module")
def four_row_stack():
    """A camera crop of 4 rows and its copy moved by half a row and half a column, five
    times: along the rows the frames hold no shift, and each moved frame warns so."""
    pair = make_binned_pair(load_scene("camera"), (4, 120), (-1, 1), bin_factor=2, rng=2, snr=30)
    return np.stack([pair.reference, *[pair.moving] * 9])


@pytest.mark.parametrize("road", ["one thread", "processes", "stack workers"])
def test_a_warning_names_its_axes_from_any_process(four_row_stack, road):
    if road == "processes" and not _stack_processes.forking_available():
        pytest.skip("worker processes are forked on Linux only")
    if road == "stack workers" and not StackWorkers.available():
        pytest.skip("no fork server here")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RegistrationWarning)
        if road == "stack workers":
            with StackWorkers(2) as workers:
                list(iter_register_stack(four_row_stack, processes=workers))
        else:
            register_stack(four_row_stack, num_workers=1 if road == "one thread" else 2)
    named = [warning.message for warning in caught if "not held" in str(warning.message)]
    assert len(named) >= 9  # each moved frame's
    for message in named:
        assert isinstance(message, AxisWarning)
        assert message.axes == (0,)
        assert "along y:" in message.told(_letters)
