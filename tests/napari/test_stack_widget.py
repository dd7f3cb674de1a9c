"""The stack widget on a real viewer: drift recovered, applied to other layers, cancellable."""

import threading

import numpy as np
import pytest

from napari_imreg._widgets import _stack
from napari_imreg._widgets._stack import StackWidget, load_shifts_csv, save_shifts_csv

PLUGIN = "napari-imreg"


@pytest.fixture
def errors(monkeypatch):
    messages = []
    monkeypatch.setattr(_stack, "show_error", messages.append)
    return messages


@pytest.fixture
def timelapse(viewer):
    layers = viewer.open_sample(PLUGIN, "drifting_timelapse")
    assert [layer.name for layer in layers] == ["drifting stack", "drifting stack (channel 2)"]
    return layers


@pytest.fixture
def widget(viewer, timelapse):
    _, widget = viewer.window.add_plugin_dock_widget(
        PLUGIN, "Register a stack (time-lapse or z-drift)"
    )
    assert isinstance(widget, StackWidget)
    widget.set_layer(timelapse[0], apply_to=[timelapse[1]])
    return widget


def _expected(truth, reference, index=0):
    if reference == "mean":
        return truth - truth.mean(axis=0)
    if reference == "frame index":
        return truth - truth[index]
    return truth


def test_drift_is_recovered_and_applied(viewer, timelapse, widget, wait_for):
    stack, channel = timelapse
    before = stack.data.copy(), channel.data.copy()
    truth = stack.metadata["known_shifts"]
    for reference in ("first frame", "frame index", "mean", "previous frame"):
        widget._reference.value = reference
        widget._reference_index.value = 5
        assert widget.run() is not None
        wait_for(widget)

        shifts = widget.shifts
        assert shifts.shape == truth.shape
        if reference == "mean":
            shifts = shifts - shifts.mean(axis=0)
        expected = _expected(truth, reference, 5)
        np.testing.assert_allclose(shifts, expected, atol=0.02, err_msg=reference)
        finite = np.isfinite(widget.errors) & (widget.errors > 0)
        assert finite.sum() >= widget.errors.size - 2  # the reference frame has none

        registered = viewer.layers.pop(viewer.layers.index("drifting stack registered"))
        other = viewer.layers.pop(viewer.layers.index("drifting stack (channel 2) registered"))
        assert registered.data.shape == other.data.shape == stack.data.shape
        # registered frames line up with each other
        inner = (slice(None), slice(12, -12), slice(12, -12))
        spread = np.asarray(other.data)[inner].std(axis=0).mean()
        assert spread < 0.5 * channel.data[inner].std(axis=0).mean()
        # the plot shows one error-bar series per axis
        (axes,) = widget._figure.axes
        assert len(axes.containers) == 2
        assert widget._status.value == f"Registered {len(truth)} frames."
    # inputs unmodified
    np.testing.assert_array_equal(stack.data, before[0])
    np.testing.assert_array_equal(channel.data, before[1])


def test_cancel_keeps_the_frames_already_registered(
    viewer, timelapse, widget, wait_for, qtbot, monkeypatch
):
    gate = threading.Event()
    original = _stack._core_frames

    def gated(stack, **options):
        for index, item in enumerate(original(stack, **options)):
            if index == 3:
                gate.wait(timeout=30)
            yield index, item[1]

    monkeypatch.setattr(_stack, "_core_frames", gated)
    widget.run()
    qtbot.waitUntil(lambda: widget.job.done == 3, timeout=30_000)
    widget.cancel()
    gate.set()
    wait_for(widget)

    assert widget.job.done == 4  # the frame in progress finishes, then the worker stops
    assert len(widget.shifts) == 4
    assert viewer.layers["drifting stack registered"].data.shape[0] == 4
    assert "Cancelled: kept the 4 of 16 frames registered." in widget._status.value
    truth = timelapse[0].metadata["known_shifts"][:4]
    np.testing.assert_allclose(widget.shifts, truth, atol=0.02)


def test_csv_round_trip_and_reapply(viewer, timelapse, widget, wait_for, tmp_path):
    widget.run()
    wait_for(widget)
    path = widget.save_csv(tmp_path / "shifts.csv")
    shifts, errors = load_shifts_csv(path)
    np.testing.assert_array_equal(shifts, widget.shifts)
    np.testing.assert_array_equal(errors, widget.errors)

    labels = viewer.add_labels(
        (timelapse[0].data > 1).astype(np.int32) * 7, name="cells"
    )  # same frames
    fresh = StackWidget(viewer)
    fresh.set_layer(timelapse[1], apply_to=[labels])
    assert fresh.load_csv(path)
    assert fresh.apply_shifts() is not None
    wait_for(fresh)
    added = fresh.last_added
    assert [layer.name for layer in added] == [
        "drifting stack (channel 2) registered [1]",
        "cells registered",
    ]
    moved_labels = added[1]
    assert moved_labels.data.dtype == np.int32
    assert set(np.unique(moved_labels.data)) <= {0, 7}


def test_bad_csv_is_reported(viewer, widget, tmp_path, errors):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n")
    assert not widget.load_csv(path)
    assert "has no shift_ columns" in errors[-1]
    with pytest.raises(ValueError, match="is empty"):
        load_shifts_csv(save_empty(tmp_path / "empty.csv"))


def save_empty(path):
    path.write_text("")
    return path


def test_save_and_load_shifts_without_errors(tmp_path):
    shifts = np.array([[0.0, 0.0], [1.25, -0.5]])
    path = save_shifts_csv(tmp_path / "s.csv", shifts)
    loaded, errors = load_shifts_csv(path)
    np.testing.assert_array_equal(loaded, shifts)
    assert np.isnan(errors).all()


def test_refusals_become_notifications(viewer, timelapse, widget, errors):
    widget._reference.value = "frame index"
    widget._reference_index.value = 99
    assert widget.run() is None
    assert "The reference frame 99 is outside the stack" in errors[-1]
    flat = viewer.add_image(np.zeros((8, 8)), name="flat")
    assert flat not in [value for _, value in widget._image_choices()]
    widget.model.options = _stack.StackOptions()
    with pytest.raises(ValueError, match="a stack needs a frame axis"):
        widget.model.plan(flat)
    with pytest.raises(ValueError, match="Choose an image layer"):
        widget.model.plan(None)


def test_worker_errors_become_notifications(viewer, widget, wait_for, errors, monkeypatch):
    def broken(stack, **options):
        yield 0, _stack.FrameResult(index=0, shift=np.zeros(2), error=np.ones(2))
        raise ValueError("boundary must be one of ('overlap', 'wrap'), got 'x'.")

    monkeypatch.setattr(_stack, "_core_frames", broken)
    widget.run()
    wait_for(widget)
    assert errors == [
        "Stack registration failed: boundary must be one of ('overlap', 'wrap'), got 'x'."
    ]
    assert not widget.busy
    viewer.add_image(np.zeros((3, 4, 4)))  # the viewer still works
