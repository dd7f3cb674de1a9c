"""The stack widget on a real viewer: drift recovered, applied to other layers, cancellable."""

import glob
import os
import threading
import time

import dask.array as da
import numpy as np
import pytest

from napari_imreg._shift_table import load_shift_table
from napari_imreg._widgets import _stack, _stack_model, _stack_shifts
from napari_imreg._widgets._stack import StackWidget, load_shifts_csv, save_shifts_csv
from napari_imreg._widgets._stack_model import UPDATE_SECONDS
from napari_imreg.core import make_extended, make_shifted
from napari_imreg.core._axis_messages import AXES
from napari_imreg.core._binned_pairs import load_scene, make_binned_pair
from napari_imreg.core._result import AxisWarning
from napari_imreg.core._stack_pool import SEGMENT_PREFIX

PLUGIN = "napari-imreg"


def _segments() -> list[str]:
    """The shared memory the widget's worker processes read, left behind."""
    return glob.glob(f"/dev/shm/{SEGMENT_PREFIX}*")


@pytest.fixture(autouse=True)
def no_shared_memory_is_left():
    yield
    assert _segments() == []


@pytest.fixture
def errors(monkeypatch):
    messages = []
    monkeypatch.setattr(_stack, "show_error", messages.append)
    monkeypatch.setattr(_stack_shifts, "show_error", messages.append)
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
        # the plot shows every frame's shift, per axis
        np.testing.assert_array_equal(widget.plot.shifts, widget.shifts)
        assert widget.plot.n_frames == len(truth)
        assert widget._status.value == f"Registered {len(truth)} frames."
    # inputs unmodified
    np.testing.assert_array_equal(stack.data, before[0])
    np.testing.assert_array_equal(channel.data, before[1])


def test_cancel_keeps_a_marked_partial_result_and_applying_is_a_choice(
    viewer, timelapse, widget, wait_for, qtbot, monkeypatch
):
    # Item 9: a cancel added a copy whose later frames were empty, without asking.
    gate = threading.Event()
    original = _stack_model._core_frames

    def gated(stack, **options):
        frames = original(stack, **options)
        try:
            for index, result in frames:
                yield index, result
                if index == 3:
                    gate.wait(timeout=30)
        finally:
            frames.close()

    monkeypatch.setattr(_stack_model, "_core_frames", gated)
    monkeypatch.setattr(_stack_model, "UPDATE_SECONDS", 0.0)  # a batch per frame
    monkeypatch.setattr(_stack, "UPDATE_SECONDS", 0.0)
    n_layers = len(viewer.layers)
    widget.run()
    qtbot.waitUntil(lambda: widget.job.done >= 4, timeout=60_000)
    workers = widget.model.workers
    pids = workers.pids()
    widget.cancel()
    gate.set()
    wait_for(widget)

    done = widget.job.done  # the frame in hand is kept, then the worker stops
    assert 4 <= done < 16
    assert len(widget.shifts) == done
    assert len(viewer.layers) == n_layers  # nothing applied without asking
    assert f"Cancelled: kept the {done} of 16 frames registered" in widget._status.value
    assert widget.plot.n_frames == 16  # the plot shows the frames not registered
    truth = timelapse[0].metadata["known_shifts"][:done]
    np.testing.assert_allclose(widget.shifts, truth, atol=0.02)
    # The chunks handed out were called back: no shared memory is left, and the
    # worker processes wait for the next stack until the widget closes.
    assert _segments() == []
    if workers.workers > 1:
        assert pids
        assert workers.pids() == pids

    widget.apply_shifts()
    wait_for(widget)
    copy = viewer.layers[f"drifting stack registered (partial: frames 0-{done - 1} of 16)"]
    assert copy.data.shape[0] == done
    assert copy.metadata["stack_registration"]["partial"]
    widget.model.close()
    assert workers.pids() == []


def test_applying_when_done_can_be_turned_off(viewer, timelapse, widget, wait_for):
    widget._apply_when_done.value = False
    n_layers = len(viewer.layers)
    widget.run()
    wait_for(widget)
    assert len(viewer.layers) == n_layers
    assert widget._apply_button.enabled
    widget.apply_shifts()
    wait_for(widget)
    assert [layer.name for layer in widget.last_added] == [
        "drifting stack registered",
        "drifting stack (channel 2) registered",
    ]
    # registering again replaces the copies, which are not offered as inputs
    widget.run()
    wait_for(widget)
    widget.apply_shifts()
    wait_for(widget)
    assert len(viewer.layers) == n_layers + 2
    assert [name for name, _ in widget._other_choices()] == ["drifting stack (channel 2)"]


def test_plot_updates_are_throttled(viewer, wait_for, monkeypatch):
    # Issue 15: per-frame plot redraws held the widget to a quarter of the headless speed.
    from napari_imreg.core import make_extended, make_shifted

    base = make_extended((32, 32), seed=40)
    frames = np.stack([make_shifted(base, (0.1 * i, 0.0), noise=0.02, seed=i) for i in range(64)])
    layer = viewer.add_image(frames, name="many frames")
    widget = StackWidget(viewer)
    widget.set_layer(layer)
    widget._boundary.value = "wrap"
    redraws = []
    original = widget.plot.set_data

    def counted(shifts, *rest):
        if shifts is not None:  # clearing the plot at the start draws no frames
            redraws.append(time.perf_counter())
        return original(shifts, *rest)

    monkeypatch.setattr(widget.plot, "set_data", counted)
    widget.run()
    wait_for(widget)
    assert widget.job.done == 64
    # At most one redraw per UPDATE_SECONDS while frames come in, then the last one when
    # the run ends; a count would depend on how fast the machine is.
    gaps = np.diff(redraws[:-1])
    assert len(redraws) >= 2
    assert np.all(gaps >= UPDATE_SECONDS * 0.999), gaps


def test_a_dask_layer_stays_lazy(viewer, timelapse, wait_for):
    # Item 15: the widget read the whole stack on the GUI thread with np.asarray.
    stack = timelapse[0]
    lazy = viewer.add_image(da.from_array(stack.data, chunks=(4, 96, 96)), name="lazy stack")
    widget = StackWidget(viewer)
    widget.set_layer(lazy)
    widget._boundary.value = "wrap"
    job = widget.model.plan(lazy)
    assert isinstance(job.stack, da.Array)
    widget.run()
    wait_for(widget)
    np.testing.assert_allclose(widget.shifts, stack.metadata["known_shifts"], atol=0.02)
    wait_for(widget)
    copy = viewer.layers["lazy stack registered"]
    assert isinstance(copy.data, da.Array)
    assert copy.data.shape == stack.data.shape


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
        "drifting stack (channel 2) registered",  # replaces the copy of the first run
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


def test_a_one_frame_stack_is_refused(viewer, timelapse, widget, errors):
    one = viewer.add_image(np.asarray(timelapse[0].data[:1]), name="one frame")
    widget.set_layer(one)
    n_layers = len(viewer.layers)
    assert widget.run() is None
    assert "'one frame' has 1 frame along axis 0" in errors[-1]
    assert len(viewer.layers) == n_layers


def test_renamed_layers_to_apply_to_stay_chosen(viewer, timelapse, widget, wait_for):
    channel = timelapse[1]
    channel.name = "renamed channel"  # napari refreshes the dock widget's choices
    assert widget._apply_to.value == [channel]
    assert widget.run() is not None
    wait_for(widget)
    assert "renamed channel registered" in [layer.name for layer in viewer.layers]


def test_worker_errors_become_notifications(viewer, timelapse, widget, wait_for, errors):
    # Frame 0, the reference, has no valid pixel: the worker process that prepares it
    # raises, and the widget reports it.
    broken = timelapse[0].data.copy()
    broken[0] = np.nan
    layer = viewer.add_image(broken, name="broken stack")
    widget.set_layer(layer)
    widget.run()
    wait_for(widget)
    assert len(errors) == 1
    assert errors[0].startswith("Stack registration failed: reference has no valid pixel")
    assert not widget.busy
    assert _segments() == []
    viewer.add_image(np.zeros((3, 4, 4)))  # the viewer still works
    widget.set_layer(timelapse[0])  # and the next stack registers
    widget.run()
    wait_for(widget)
    np.testing.assert_allclose(widget.shifts, timelapse[0].metadata["known_shifts"], atol=0.02)


def test_a_stopped_worker_process_is_reported(viewer, widget, wait_for, errors, monkeypatch):
    # The core raises RuntimeError when a worker process dies; napari's thread worker
    # takes a RuntimeError for its own end and would say nothing.
    def died(stack, **options):
        raise RuntimeError("a stack worker process ended unexpectedly")
        yield  # a generator, as the core's

    monkeypatch.setattr(_stack_model, "_core_frames", died)
    widget.run()
    wait_for(widget)
    assert errors == ["Stack registration failed: a stack worker process ended unexpectedly"]
    assert not widget.busy


def test_closing_the_viewer_ends_the_worker_processes(viewer, timelapse, widget, wait_for, qtbot):
    widget.run()
    wait_for(widget)
    np.testing.assert_allclose(widget.shifts, timelapse[0].metadata["known_shifts"], atol=0.02)
    workers = widget.model.workers
    pids = workers.pids()
    if workers.workers > 1:
        assert pids  # 16 frames: in worker processes
    viewer.close()  # the widget is destroyed with its window
    qtbot.waitUntil(lambda: workers.pids() == [], timeout=30_000)
    for pid in pids:  # ended, and reaped by their fork server
        qtbot.waitUntil(lambda pid=pid: not _alive(pid), timeout=30_000)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_long_status_wraps(viewer, widget):
    widget._status.value = "Stack registration failed: " + "a message of many words " * 20
    widget.native.layout().activate()
    assert widget._status.native.minimumSizeHint().width() < 500


def test_frames_that_are_not_measured_are_left_blank(viewer, wait_for, monkeypatch):
    # Frame 2 is constant, frame 3 pure noise: neither holds a shift, so neither may be
    # moved as if it did (frame 3's meaningless shift put the copy's frame 20 px away).
    told = []
    monkeypatch.setattr(_stack, "show_warning", told.append)
    image = make_extended((48, 48), seed=30)
    truth = np.array([[0, 0], [0.5, -0.25], [1.0, 0.5], [1.5, -1.0], [2.0, 0.75]])
    frames = np.stack([make_shifted(image, s, noise=0.02, seed=i) for i, s in enumerate(truth)])
    frames[2] = 1.0
    frames[3] = np.random.default_rng(31).normal(size=(48, 48))
    layer = viewer.add_image(frames, name="stack")
    labels = viewer.add_labels((frames > 0.5).astype(np.uint8), name="cells")
    before = layer.data.copy(), labels.data.copy()
    widget = StackWidget(viewer)
    widget.set_layer(layer, apply_to=[labels])
    widget.run()
    wait_for(widget)
    wait_for(widget)  # the copies, added when done
    assert np.isnan(widget.shifts[[2, 3]]).all()
    np.testing.assert_allclose(widget.shifts[[0, 1, 4]], truth[[0, 1, 4]], atol=0.02)
    status = widget._status.value
    assert status.startswith("Registered 5 frames. 2 not measured (frames 2, 3: an image is")
    assert "left blank in the registered copy" in status
    copy, copied_labels = viewer.layers["stack registered"], viewer.layers["cells registered"]
    assert np.isnan(copy.data[[2, 3]]).all()
    assert np.isfinite(copy.data[[0, 1, 4]][:, 8:-8, 8:-8]).all()
    assert not copied_labels.data[[2, 3]].any()
    np.testing.assert_array_equal(copied_labels.data[0], labels.data[0])
    assert copy.metadata["stack_registration"]["not_measured"] == [2, 3]
    assert not any("invalid value" in str(message) for message in told)
    np.testing.assert_array_equal(layer.data, before[0])
    np.testing.assert_array_equal(labels.data, before[1])


def test_flagged_frames_are_moved_and_listed(viewer, wait_for, tmp_path):
    # A scene repeating every 10 px along x: each frame's x shift is known only modulo the
    # period, so the core flags it and widens its error to reach the other matches.
    scene = np.tile(make_extended((48, 10), seed=32), (1, 5))[:, :48]
    truth = np.array([[0, 0], [1.3, 2.6], [-0.7, 1.2]])
    frames = np.stack([make_shifted(scene, s, noise=0.05, seed=i) for i, s in enumerate(truth)])
    layer = viewer.add_image(frames, name="lattice")
    widget = StackWidget(viewer)
    widget.set_layer(layer)
    widget.run()
    wait_for(widget)
    wait_for(widget)
    assert widget.flagged == [1, 2]
    np.testing.assert_allclose(widget.shifts[1:, 0], truth[1:, 0], atol=0.05)
    period_off = (widget.shifts[1:, 1] - truth[1:, 1] + 5) % 10 - 5
    np.testing.assert_allclose(period_off, 0, atol=0.1)
    # Named as the pair widget names a flagged pair's copy, and reported in its words.
    assert "2 flagged, not a single measurement (frames 1, 2: " in widget._status.value
    copy = viewer.layers["lattice registered (flagged)"]
    assert copy.metadata["stack_registration"]["flagged"] == [1, 2]
    assert copy.metadata["stack_registration"]["not_measured"] == []
    # Saved and loaded back, the flagged frames stay flagged, and name their copy so.
    path = widget.save_csv(tmp_path / "shifts.csv")
    np.testing.assert_array_equal(load_shift_table(path).measured, [True, False, False])
    fresh = StackWidget(viewer)
    assert fresh.load_csv(path)
    assert fresh.flagged == [1, 2]
    fresh.set_layer(layer)
    viewer.layers.remove(copy)
    fresh.apply_shifts()
    wait_for(fresh)
    assert [added.name for added in fresh.last_added] == ["lattice registered (flagged)"]


@pytest.mark.parametrize(
    ("shape", "frame_axis", "short_axis"), [((5, 3, 48), 0, 1), ((48, 5, 3), 1, 2)]
)
@pytest.mark.parametrize("labels", [None, ("t", "y", "x")])
def test_messages_count_the_layers_axes(
    viewer, wait_for, errors, shape, frame_axis, short_axis, labels
):
    # An axis of 3 pixels is too short for the overlap mode. The core counts a frame's
    # axes ("axis 0" for the frames' first); the user sees the layer's, by name where
    # the viewer's axis labels are names.
    data = np.random.default_rng(33).normal(size=shape)
    layer = viewer.add_image(data, name="thin")
    if labels is not None:
        viewer.dims.axis_labels = labels
    widget = StackWidget(viewer)
    widget.set_layer(layer)
    widget._axis.value = frame_axis
    widget.run()
    wait_for(widget)
    assert len(errors) == 1
    named = f" ({labels[short_axis]})" if labels else ""
    assert f"axis {short_axis}{named} of 'thin' has 3 pixel(s)" in errors[0]
    assert np.asarray(layer.data).shape[short_axis] == 3


def test_a_warning_from_the_worker_processes_names_the_layers_axis(viewer, wait_for, monkeypatch):
    # Frames of 4 rows hold no shift along their rows: each moved frame warns about its
    # axis 0, in the widget's worker processes; the user reads the layer's axis 1, "y".
    told = []
    monkeypatch.setattr(_stack, "show_warning", told.append)
    pair = make_binned_pair(load_scene("camera"), (4, 120), (-1, 1), bin_factor=2, rng=2, snr=30)
    layer = viewer.add_image(np.stack([pair.reference, *[pair.moving] * 9]), name="rows")
    viewer.dims.axis_labels = ("t", "y", "x")
    widget = StackWidget(viewer)
    widget.set_layer(layer)
    widget._apply_when_done.value = False
    widget.run()
    wait_for(widget)
    held = [message for message in told if "not held by the images" in message]
    assert len(held) >= 9
    assert all("along axis 1 (y) of 'rows': its error" in message for message in held)


def test_a_frames_axes_are_renumbered_as_the_layers():
    labels = ("t", "z", "0", "x")
    job = _stack_model.StackJob(
        layer=_Named("cube"), stack=np.zeros((4, 5, 6, 7)), axis=1, axis_labels=labels
    )
    message = AxisWarning(f"not held along {AXES}: raise max_shift", [0, 2])
    assert (
        _stack_model.in_layer_axes(message, job)
        == "not held along axis 0 (t), 3 (x) of 'cube': raise max_shift"
    )
    # Any other message is told as it is.
    assert _stack_model.in_layer_axes(ValueError("axis 0 is odd"), job) == "axis 0 is odd"


class _Named:
    def __init__(self, name):
        self.name = name


def test_a_stack_removed_while_it_registers_gets_no_copy_and_no_other_layer_does(
    viewer, timelapse, widget, wait_for, monkeypatch
):
    # The stack dropdown falls to another layer when the chosen one goes: the shifts
    # measured on the first were applied to it, as if they were its own.
    told = []
    monkeypatch.setattr(_stack_shifts, "show_info", told.append)
    other = viewer.add_image(np.asarray(timelapse[0].data)[:, ::-1].copy(), name="other")
    stack = timelapse[0]
    assert widget.run() is not None
    viewer.layers.remove(stack)
    wait_for(widget)
    wait_for(widget)  # the copies of the layers still there
    names = [layer.name for layer in viewer.layers]
    assert not any(name.startswith("other ") for name in names)
    assert told == [
        "'drifting stack' left the viewer during the registration: no copy of it is added "
        "(the shifts are kept: save them, or apply them to another layer)."
    ]
    np.testing.assert_allclose(widget.shifts, stack.metadata["known_shifts"], atol=0.02)
    assert other.data.shape == stack.data.shape


def test_a_stack_given_other_data_while_it_registers_gets_no_copy(
    viewer, timelapse, widget, wait_for, monkeypatch
):
    # Data of the same shape put in the layer while its frames registered was moved by
    # the shifts measured on the data it had, as if they were its own.
    told = []
    monkeypatch.setattr(_stack_shifts, "show_info", told.append)
    stack = timelapse[0]
    measured_on = np.asarray(stack.data).copy()
    assert widget.run() is not None
    stack.data = measured_on[:, ::-1].copy()
    wait_for(widget)
    wait_for(widget)
    names = [layer.name for layer in viewer.layers]
    assert "drifting stack registered" not in names
    assert "drifting stack (channel 2) registered" in names  # its data is what it was
    assert told == [
        "The data of 'drifting stack' changed during the registration: no copy of it is "
        "added (the shifts, measured on the data it had, are kept: save them, or register "
        "it again)."
    ]
    np.testing.assert_allclose(widget.shifts, stack.metadata["known_shifts"], atol=0.02)


def test_applying_with_no_layer_left_says_so(viewer, wait_for, monkeypatch):
    # The stack registered and then closed, the only layer: "Apply shifts" did nothing,
    # and said nothing.
    told = []
    monkeypatch.setattr(_stack_shifts, "show_info", told.append)
    image = make_extended((48, 48), seed=34)
    frames = np.stack([make_shifted(image, (0.5 * i, 0.0), noise=0.02, seed=i) for i in range(4)])
    layer = viewer.add_image(frames, name="closed")
    widget = StackWidget(viewer)
    widget.set_layer(layer)
    widget._apply_when_done.value = False
    widget.run()
    wait_for(widget)
    viewer.layers.remove(layer)
    assert widget.apply_shifts() is None
    assert told == ["No layer to apply the shifts to: choose a stack, or layers to apply to."]
    assert len(viewer.layers) == 0
    assert widget.shifts.shape == (4, 2)  # kept, to save or apply later


def test_an_rgb_stack_copy_keeps_its_integer_dtype(viewer, timelapse, wait_for):
    # napari shows a float RGB layer as 0-1: a float copy of 0-255 frames came out white.
    grey = np.asarray(timelapse[0].data, dtype=float)
    scaled = (grey - grey.min()) / np.ptp(grey) * 255
    rgb = np.clip(scaled[..., None] * [1.0, 0.8, 0.5], 0, 255).astype(np.uint8)
    layer = viewer.add_image(rgb, name="colour", rgb=True)
    widget = StackWidget(viewer)
    widget.set_layer(layer)
    widget.run()
    wait_for(widget)
    wait_for(widget)
    np.testing.assert_allclose(widget.shifts, timelapse[0].metadata["known_shifts"], atol=0.05)
    copy = viewer.layers["colour registered"]
    assert copy.rgb
    assert copy.data.dtype == np.uint8
    # The reference frame does not move: its copy is the frame itself.
    np.testing.assert_allclose(copy.data[0].astype(int), rgb[0].astype(int), atol=1)


def test_a_layer_of_another_pixel_size_is_not_moved_by_the_stacks_shifts(
    viewer, timelapse, widget, wait_for, errors
):
    stack = timelapse[0]
    coarse = viewer.add_labels(
        np.zeros(stack.data.shape, dtype=np.uint8), name="coarse", scale=(1, 2, 2)
    )
    widget.set_layer(stack, apply_to=[timelapse[1], coarse])
    widget.run()
    wait_for(widget)
    wait_for(widget)
    names = [layer.name for layer in viewer.layers]
    assert "drifting stack registered" in names
    assert "drifting stack (channel 2) registered" in names
    assert "coarse registered" not in names
    assert errors == [
        "'coarse' has another pixel size than 'drifting stack' (scale (1, 2, 2) and (1, 1, 1)): "
        "the shifts, in 'drifting stack''s pixels, are not applied to it."
    ]
