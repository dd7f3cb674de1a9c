"""The pair widget on a real viewer: known shifts recovered, layers added, inputs untouched."""

import threading

import dask
import dask.array as da
import numpy as np
import pytest

from napari_imreg._sample_data import PAIR_SHIFT
from napari_imreg._widgets import _pair, _pair_model, _worker
from napari_imreg._widgets._pair import PairWidget
from napari_imreg.core import Options, make_extended, make_shifted
from napari_imreg.core._binned_pairs import load_scene, make_binned_pair

PLUGIN = "napari-imreg"


@pytest.fixture
def errors(monkeypatch):
    """The messages the widget sends to napari's error notifications."""
    messages = []
    monkeypatch.setattr(_pair, "show_error", messages.append)
    return messages


@pytest.fixture
def sample_widget(viewer):
    layers = viewer.open_sample(PLUGIN, "extended_pair")
    assert [layer.name for layer in layers] == [
        "extended reference",
        "extended moving",
        "extended moving error",
    ]
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Register layers (pairs)")
    assert isinstance(widget, PairWidget)
    return widget


def _run(widget, wait_for, **values):
    for name, value in values.items():
        getattr(widget, f"_{name}").value = value
    assert widget.run() is not None
    wait_for(widget)


def _assert_recovers(shift, error, truth, *, slack=0.0):
    shift, error = np.asarray(shift), np.asarray(error)
    assert np.all(error > 0)
    assert np.all(np.abs(shift - truth) <= 4 * error + slack), (shift, error, truth)


def test_sample_pair_shifted_copy_and_delta_chi2_map(viewer, sample_widget, wait_for):
    reference = viewer.layers["extended reference"]
    moving = viewer.layers["extended moving"]
    before = moving.data.copy(), reference.data.copy()
    _run(sample_widget, wait_for)

    (job,) = sample_widget.last_jobs
    _assert_recovers(job.full_shift, job.full_error, PAIR_SHIFT)
    copy = viewer.layers["extended moving registered"]
    record = copy.metadata["registration"]
    np.testing.assert_allclose(record["shift"], job.full_shift)
    assert record["reference"] == "extended reference"
    assert record["filter_strength"] == job.result.filter_strength
    # The sample is periodic (the spec's images): the default "auto" takes the wrap
    # model, which does not filter, and the record names the model used.
    assert record["boundary"] == job.result.boundary == "wrap"
    assert record["filter_strength"] is None
    # the copy overlays the reference: residual at the noise level, inside the overlap
    inner = (slice(20, -20), slice(20, -20))
    residual = np.asarray(copy.data)[inner] - reference.data[inner]
    assert residual.std() < 0.3

    chi2 = viewer.layers["Δχ² extended moving"]
    levels = chi2.metadata["sigma_levels"]
    assert levels[0] < levels[1] < levels[2] <= chi2.contrast_limits[1]
    # the map's samples are labelled with their shifts: the minimum is at the measured shift
    minimum = np.unravel_index(np.argmin(chi2.data), chi2.data.shape)
    coords = chi2.metadata["shift_coords"]
    at_minimum = [c[i] for c, i in zip(coords, minimum, strict=True)]
    np.testing.assert_allclose(at_minimum, job.full_shift, atol=2 * (coords[0][1] - coords[0][0]))

    # inputs unmodified
    np.testing.assert_array_equal(moving.data, before[0])
    np.testing.assert_array_equal(reference.data, before[1])
    np.testing.assert_array_equal(moving.translate, (0, 0))
    # the shift and its error are shown as text
    text = sample_widget._results.value
    assert "extended moving → extended reference" in text
    assert text.count("±") == 2
    assert "µm" not in text  # plain pixels: no physical units to report


def test_in_place_sets_translate_only(viewer, sample_widget, wait_for):
    moving = viewer.layers["extended moving"]
    before = moving.data.copy()
    n_layers = len(viewer.layers)
    _run(sample_widget, wait_for, output="in place (translate)")
    (job,) = sample_widget.last_jobs
    np.testing.assert_allclose(moving.translate, job.full_shift)
    np.testing.assert_array_equal(moving.data, before)
    assert moving.metadata["registration"]["output"] == "in place (translate)"
    assert len(viewer.layers) == n_layers + 1  # only the Δχ² map


def test_other_methods_and_noise_choices(viewer, sample_widget, wait_for):
    sample_widget._auto_upsample.value = False
    for method in ("dft", "taylor"):
        _run(sample_widget, wait_for, method=method, upsample=20, boundary="wrap")
        (job,) = sample_widget.last_jobs
        assert job.result.method == method
        np.testing.assert_allclose(job.full_shift, PAIR_SHIFT, atol=0.05)
    sample_widget._auto_upsample.value = True
    sample_widget._error_layer.value = viewer.layers["extended moving error"]
    for noise in ("error layer", "scalar"):
        _run(sample_widget, wait_for, method="chi2", noise=noise, error_value=0.1)
        (job,) = sample_widget.last_jobs
        assert job.result.noise is None  # the noise was given, not estimated
        _assert_recovers(job.full_shift, job.full_error, PAIR_SHIFT)


@pytest.mark.parametrize("kind", ["error", "variance"])
def test_a_dask_error_layer_is_read_in_the_worker(viewer, wait_for, kind):
    # The error layer was read whole (np.asarray) on the GUI thread when the jobs were
    # planned. Its chunks record the thread that computes them; the synchronous scheduler
    # computes them in the thread that asks.
    reference = make_extended((64, 64), seed=11)
    truth = (1.6, -0.9)
    moving = make_shifted(reference, truth, noise=0.05, seed=12)
    computed_in = []

    def recorded(block):
        computed_in.append(threading.current_thread())
        return block

    sigma = np.full((64, 64), 0.05 if kind == "error" else 0.05**2)
    error = da.from_array(sigma, chunks=32).map_blocks(recorded, dtype=float)
    ref_layer = viewer.add_image(reference, name="ref")
    mov_layer = viewer.add_image(moving, name="mov")
    error_layer = viewer.add_image(
        error, name="mov error", metadata={"fits_kind": kind}, visible=False
    )
    widget = PairWidget(viewer)
    widget.set_layers(ref_layer, [mov_layer])
    widget._noise.value = "error layer"
    widget._error_layer.value = error_layer
    computed_in.clear()  # napari reads a layer's chunks to show it
    with dask.config.set(scheduler="synchronous"):
        _run(widget, wait_for)
    assert computed_in, "the error layer was never read"
    assert threading.main_thread() not in computed_in
    (job,) = widget.last_jobs
    assert job.result.noise is None  # the noise was given, not estimated
    _assert_recovers(job.full_shift, job.full_error, truth)


def test_layers_with_scale_and_translate(viewer, wait_for):
    reference = make_extended((64, 80), seed=2)
    truth = (3.4, -2.7)
    moving = make_shifted(reference, truth, noise=0.05, seed=3)
    ref_layer = viewer.add_image(reference, scale=(2.0, 0.5), translate=(10.0, -4.0))
    mov_layer = viewer.add_image(moving, scale=(2.0, 0.5), translate=(7.0, 1.0))
    widget = PairWidget(viewer)
    widget.set_layers(ref_layer, [mov_layer])
    _run(widget, wait_for, output="in place (translate)")
    # The placements differ: the search starts from them (the plan says so), and the
    # shift is given between the arrays and from where the moving layer was placed.
    assert "at translate (7, 1), 'reference' at (10, -4), (-1.5, 10) px apart" in (
        widget._plan_label.value
    )
    (job,) = widget.last_jobs
    _assert_recovers(job.full_shift, job.full_error, truth)
    expected = np.array([10.0, -4.0]) + job.full_shift * np.array([2.0, 0.5])
    np.testing.assert_allclose(mov_layer.translate, expected)
    record = mov_layer.metadata["registration"]
    np.testing.assert_allclose(record["placement_offset"], (-1.5, 10))
    np.testing.assert_allclose(record["from_placement"], job.full_shift - (-1.5, 10))
    # In the world, the move from the placement is the change of the translate.
    np.testing.assert_allclose(record["from_placement_world"], expected - (7.0, 1.0))
    assert "from where it was placed (translate (7, 1)): dy = " in widget._results.value


def test_three_dimensional_layers(viewer, wait_for):
    reference = make_extended((16, 40, 40), seed=4)
    truth = (1.3, -2.6, 0.8)
    moving = make_shifted(reference, truth, noise=0.05, seed=5)
    widget = PairWidget(viewer)
    widget.set_layers(viewer.add_image(reference), [viewer.add_image(moving)])
    _run(widget, wait_for, boundary="wrap")
    (job,) = widget.last_jobs
    _assert_recovers(job.full_shift, job.full_error, truth)
    assert viewer.layers["moving registered"].data.shape == (16, 40, 40)
    assert "dz" in widget._results.value


@pytest.mark.parametrize("channel", ["luminance", "green"])
def test_rgb_layers(viewer, wait_for, channel):
    gray = make_extended((64, 64), seed=6)
    truth = (-2.2, 4.1)
    moved = make_shifted(gray, truth, noise=0.02, seed=7)
    tint = np.array([1.0, 0.7, 0.4])
    reference = viewer.add_image((gray[..., None] + 4) / 8 * tint, rgb=True, name="ref")
    moving = viewer.add_image((moved[..., None] + 4) / 8 * tint, rgb=True, name="mov")
    widget = PairWidget(viewer)
    widget.set_layers(reference, [moving])
    assert not widget._rgb_channel.native.isHidden()
    _run(widget, wait_for, rgb_channel=channel, boundary="wrap")
    (job,) = widget.last_jobs
    _assert_recovers(job.full_shift, job.full_error, truth)
    copy = viewer.layers["mov registered"]
    assert copy.rgb
    assert copy.data.shape == moving.data.shape
    assert any(channel in note for note in job.notes)


def test_multiscale_registers_a_coarse_level_and_reports_full_resolution(viewer, wait_for):
    full = make_extended((256, 256), seed=8)
    truth = (6.0, -9.0)  # whole pixels at level 1 too
    moved = make_shifted(full, truth, noise=0.02, seed=9)
    pyramid = [full, full[::2, ::2]]
    moving_pyramid = [moved, moved[::2, ::2]]
    reference = viewer.add_image(pyramid, multiscale=True, name="ref")
    moving = viewer.add_image(moving_pyramid, multiscale=True, name="mov")
    widget = PairWidget(viewer)
    widget.model.pixel_budget = 128 * 128
    widget.set_layers(reference, [moving])
    _run(widget, wait_for, boundary="wrap")
    (job,) = widget.last_jobs
    assert job.moving_array.level == 1
    np.testing.assert_allclose(job.moving_array.factor, (2, 2))
    np.testing.assert_allclose(job.full_shift, truth, atol=0.2)
    assert any("multiscale" in note for note in job.notes)
    copy = viewer.layers["mov registered"]
    assert copy.multiscale
    assert [level.shape for level in copy.data] == [(256, 256), (128, 128)]


def test_different_shapes_and_dtypes_are_explained(viewer, wait_for):
    reference = make_extended((64, 64), seed=10)
    truth = (1.5, 2.5)
    moving = make_shifted(reference, truth, noise=0.02, seed=11).astype(np.float32)
    widget = PairWidget(viewer)
    widget.set_layers(viewer.add_image(reference), [viewer.add_image(moving[:60, :62])])
    assert "common region (60, 62)" in widget._plan_label.value  # explained before running
    _run(widget, wait_for)
    (job,) = widget.last_jobs
    label = widget._plan_label.value
    assert "common region (60, 62)" in label
    assert "dtypes differ (float64 and float32)" in label
    assert job.moving_array.data.shape == (60, 62)


def test_refusals_become_notifications(viewer, errors):
    flat = viewer.add_image(np.zeros((32, 32)), name="flat")
    cube = viewer.add_image(np.zeros((4, 32, 32)), name="cube")
    widget = PairWidget(viewer)
    widget.set_layers(flat, [cube])
    assert "they have 3 and 2 axes" in widget._plan_label.value  # explained before running
    assert widget.run() is None
    assert "they have 3 and 2 axes" in errors[-1]
    widget.set_layers(flat, [flat])
    assert widget.run() is None
    assert "also selected as a moving layer" in errors[-1]
    widget.set_layers(flat, [])
    assert widget.run() is None
    assert "Choose one or more moving image layers" in errors[-1]
    scaled = viewer.add_image(np.zeros((32, 32)), name="scaled", scale=(2, 2))
    widget.set_layers(flat, [scaled])
    assert widget.run() is None
    assert "different pixel sizes (scale (1, 1) and (2, 2))" in errors[-1]
    widget._noise.value = "error layer"
    widget._error_layer.value = cube
    widget.set_layers(flat, [viewer.add_image(np.zeros((32, 32)), name="other")])
    assert widget.run() is None
    assert "does not cover the moving layer" in errors[-1]


def test_a_layer_removed_during_the_run_gets_no_result(viewer, wait_for, monkeypatch):
    told = []
    monkeypatch.setattr(_pair, "show_info", told.append)
    image = make_extended((64, 64), seed=5)
    reference = viewer.add_image(image, name="ref")
    kept, removed = (
        viewer.add_image(make_shifted(image, (1.5, -2.0), noise=0.01, seed=s), name=name)
        for s, name in ((6, "kept"), (7, "removed"))
    )
    widget = PairWidget(viewer)
    widget.set_layers(reference, [kept, removed])
    assert widget.run() is not None
    viewer.layers.remove("removed")  # before any result reaches the viewer
    wait_for(widget)
    names = [layer.name for layer in viewer.layers]
    assert "kept registered" in names
    assert not any(name.startswith("removed") for name in names)
    assert told == [
        "'removed' left the viewer during the registration: the result for 'removed' is not added."
    ]
    (job,) = widget.last_jobs
    _assert_recovers(job.full_shift, job.full_error, (1.5, -2.0))


def test_a_layer_given_other_data_during_the_run_gets_no_result(viewer, wait_for, monkeypatch):
    # The result measured on the data the layer had was added for the data that
    # replaced it (of the same shape).
    told = []
    monkeypatch.setattr(_pair, "show_info", told.append)
    image = make_extended((64, 64), seed=5)
    reference = viewer.add_image(image, name="ref")
    moving = viewer.add_image(make_shifted(image, (1.5, -2.0), noise=0.01, seed=6), name="mov")
    widget = PairWidget(viewer)
    widget.set_layers(reference, [moving])
    assert widget.run() is not None
    moving.data = make_shifted(image, (-3.0, 0.5), noise=0.01, seed=7)
    wait_for(widget)
    assert [layer.name for layer in viewer.layers] == ["ref", "mov"]
    assert told == [
        "The data of 'mov' changed during the registration: the result for 'mov' is not added."
    ]


def test_core_warnings_become_notifications(viewer, wait_for, monkeypatch):
    # A constant image cannot be registered: the core warns, and the user sees the warning.
    warnings = []
    monkeypatch.setattr(_worker, "show_warning", warnings.append)
    flat = viewer.add_image(np.zeros((32, 32)), name="flat")
    ones = viewer.add_image(np.ones((32, 32)), name="ones")
    widget = PairWidget(viewer)
    widget.set_layers(flat, [ones])
    widget.run()
    wait_for(widget)
    assert any("constant" in message for message in warnings)
    assert "flat: not measured, an image is constant" in widget._results.value


def test_core_errors_become_notifications_and_the_viewer_keeps_working(
    viewer, sample_widget, wait_for, errors, monkeypatch
):
    def fail(*args, **kwargs):
        raise ValueError("upsample_factor must be 'auto' or an integer >= 1, got 0.")

    monkeypatch.setattr(_pair_model, "register_arrays", fail)
    n_layers = len(viewer.layers)
    sample_widget.run()
    wait_for(sample_widget)
    assert errors == [
        "Could not register 'extended moving' onto 'extended reference': "
        "upsample_factor must be 'auto' or an integer >= 1, got 0."
    ]
    assert "extended moving → extended reference: not registered: upsample_factor" in (
        sample_widget._results.value
    )
    assert len(viewer.layers) == n_layers
    monkeypatch.undo()
    monkeypatch.setattr(_pair, "show_error", errors.append)
    sample_widget.run()  # the widget and the viewer still work
    wait_for(sample_widget)
    assert len(viewer.layers) == n_layers + 2


def test_model_is_usable_without_the_widget(viewer):
    layers = viewer.open_sample(PLUGIN, "extended_pair")
    model = _pair.PairRegistration(viewer, _pair.PairOptions(core=Options(boundary="wrap")))
    (job,) = model.plan(layers[0], [layers[1]])
    model.run(job)
    added = model.apply(job)
    assert [layer.name for layer in added] == ["extended moving registered", "Δχ² extended moving"]
    _assert_recovers(job.full_shift, job.full_error, PAIR_SHIFT)


def test_renamed_moving_layers_stay_chosen(viewer, wait_for):
    image = make_extended((64, 64), seed=8)
    truth = (1.25, -0.75)
    reference = viewer.add_image(image, name="ref")
    moving = viewer.add_image(make_shifted(image, truth, noise=0.01, seed=9), name="mov")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Register layers (pairs)")
    widget.set_layers(reference, [moving])
    moving.name = "renamed"  # napari refreshes the dock widget's choices
    assert widget._moving.value == [moving]
    _run(widget, wait_for)
    (job,) = widget.last_jobs
    assert job.moving.name == "renamed"
    _assert_recovers(job.full_shift, job.full_error, truth)


@pytest.mark.parametrize("output", ["shifted copy", "in place (translate)"])
def test_a_pair_that_is_not_measured_adds_and_moves_nothing(viewer, wait_for, output):
    # Two independent noise images share no signal: the core's shift is no measurement
    # (an infinite error), so no copy may look registered and no layer may move.
    rng = np.random.default_rng(12)
    reference = viewer.add_image(rng.normal(size=(64, 64)), name="ref")
    moving = viewer.add_image(rng.normal(size=(64, 64)), name="noise")
    n_layers = len(viewer.layers)
    widget = PairWidget(viewer)
    widget.set_layers(reference, [moving])
    _run(widget, wait_for, output=output)
    (job,) = widget.last_jobs
    assert not job.result.measured
    assert np.all(np.isinf(job.full_error))
    assert len(viewer.layers) == n_layers
    np.testing.assert_array_equal(moving.translate, (0, 0))
    assert "registration" not in moving.metadata
    text = widget._results.value
    assert text.startswith("noise → ref: not measured, no significant match")
    assert "Nothing was added or moved." in text


def test_a_result_on_the_search_edge_replaces_the_earlier_copy_with_nothing(viewer, wait_for):
    image = make_extended((64, 64), seed=13)
    truth = (3.4, -2.7)
    reference = viewer.add_image(image, name="ref")
    moving = viewer.add_image(make_shifted(image, truth, noise=0.02, seed=14), name="mov")
    widget = PairWidget(viewer)
    widget.set_layers(reference, [moving])
    _run(widget, wait_for)
    assert "mov registered" in [layer.name for layer in viewer.layers]
    widget.option_controls.set_value("max_shift", 1.0)  # the truth lies beyond: on the edge
    _run(widget, wait_for)
    (job,) = widget.last_jobs
    assert job.verdict.kind == "not measured"
    assert "edge of the search window" in widget._results.value
    # The copy and map of the first run described the pair; they no longer do.
    assert [layer.name for layer in viewer.layers] == ["ref", "mov"]


def test_a_flagged_result_is_applied_and_marked(viewer, wait_for):
    # A scene repeating every 10 px along x: matches a period apart fit as well, so the
    # core flags the shift (measured False) with an error widened to reach them.
    tile = make_extended((64, 10), seed=15)
    scene = np.tile(tile, (1, 7))[:, :64]
    truth = (1.3, 2.6)
    reference = viewer.add_image(scene, name="ref")
    moving = viewer.add_image(make_shifted(scene, truth, noise=0.05, seed=16), name="lattice")
    widget = PairWidget(viewer)
    widget.set_layers(reference, [moving])
    _run(widget, wait_for)
    (job,) = widget.last_jobs
    assert job.verdict.kind == "flagged"
    np.testing.assert_allclose(job.full_shift[0], truth[0], atol=4 * job.full_error[0])
    period_off = (job.full_shift[1] - truth[1] + 5) % 10 - 5  # known modulo the period
    assert abs(period_off) < 0.1
    assert job.full_error[1] > 5
    copy = viewer.layers["lattice registered (flagged)"]
    record = copy.metadata["registration"]
    assert record["measured"] is False
    assert "other match" in record["flagged"]
    assert "flagged, not a single measurement" in widget._results.value


def test_a_refused_pair_is_listed_and_the_others_are_registered(viewer, wait_for, errors):
    image = make_extended((64, 64), seed=17)
    truth = (-1.25, 2.5)
    reference = viewer.add_image(image, name="ref")
    blank = viewer.add_image(np.full((64, 64), np.nan), name="blank")
    moving = viewer.add_image(make_shifted(image, truth, noise=0.02, seed=18), name="mov")
    widget = PairWidget(viewer)
    widget.set_layers(reference, [blank, moving])
    _run(widget, wait_for)
    assert errors == [
        "Could not register 'blank' onto 'ref': moving has no valid pixel (all NaN, infinite "
        "or masked)."
    ]
    failed, done = widget.last_jobs
    assert failed.failure is not None
    assert failed.result is None
    _assert_recovers(done.full_shift, done.full_error, truth)
    names = [layer.name for layer in viewer.layers]
    assert "mov registered" in names
    assert "blank registered" not in names
    assert "blank → ref: not registered: moving has no valid pixel" in widget._results.value


@pytest.fixture
def far_tile():
    """Two tiles of a real scene, cut 30.5 and -39.25 binned pixels apart (exact truth):
    beyond the default search (a quarter of the 80-pixel side)."""
    return make_binned_pair(
        load_scene("camera"), (80, 80), (122, -157), rng=34, snr=30, start=(20, 170)
    )


@pytest.mark.parametrize("output", ["in place (translate)", "shifted copy"])
def test_the_layers_placement_is_the_starting_alignment(viewer, wait_for, far_tile, output):
    # The moving tile placed where its stage put it, 1.3 and -0.8 px (2.6, -0.4 µm) off.
    scale = np.array([2.0, 0.5])
    stage_error = np.array([1.3, -0.8])
    reference = viewer.add_image(far_tile.reference, name="ref", scale=scale)
    placed = (far_tile.shift + stage_error) * scale
    moving = viewer.add_image(far_tile.moving, name="tile", scale=scale, translate=placed)
    widget = PairWidget(viewer)
    widget.set_layers(reference, [moving])
    _run(widget, wait_for, output=output)
    (job,) = widget.last_jobs
    _assert_recovers(job.full_shift, job.full_error, far_tile.shift)
    record = viewer.layers["tile registered" if output == "shifted copy" else "tile"].metadata[
        "registration"
    ]
    np.testing.assert_array_equal(record["start"], (32, -40))
    _assert_recovers(record["from_placement"], job.full_error, -stage_error)
    np.testing.assert_allclose(
        record["from_placement_world"], np.array(record["from_placement"]) * scale
    )
    if output == "in place (translate)":
        np.testing.assert_allclose(moving.translate, job.full_shift * scale)
        return
    np.testing.assert_array_equal(moving.translate, placed)  # the user's layer stays put
    copy = viewer.layers["tile registered"]
    np.testing.assert_allclose(copy.translate, (32, -40) * scale)
    # Placed, the copy's pixels overlay the reference's: its content was kept, not pushed
    # 30-40 pixels out of its array.
    on_reference = far_tile.reference_clean[32:, :40][6:-6, 6:-6]
    copied = np.asarray(copy.data)[:48, 40:][6:-6, 6:-6]
    residual = copied - on_reference
    assert np.std(residual) < 0.2 * np.std(on_reference)


def test_layers_that_do_not_overlap_as_placed_are_refused(viewer, errors):
    image = make_extended((32, 32), seed=35)
    reference = viewer.add_image(image, name="ref")
    moving = viewer.add_image(image, name="beside", translate=(0, 40))
    widget = PairWidget(viewer)
    widget.set_layers(reference, [moving])
    assert widget.run() is None
    assert errors[-1].startswith(
        "'beside' is placed at translate (0, 40), 'ref' at (0, 0): they do not overlap."
    )


def test_a_four_dimensional_pair_is_explained_and_its_short_axis_named(viewer, wait_for, errors):
    volume = make_extended((3, 16, 32, 32), seed=36)
    reference = viewer.add_image(volume, name="ref")
    moving = viewer.add_image(make_shifted(volume, (0, 1, 2, -1), seed=37), name="mov")
    widget = PairWidget(viewer)
    widget.set_layers(reference, [moving])
    assert "4 axes: every one is registered as space" in widget._plan_label.value
    _run(widget, wait_for)
    assert errors == [
        "Could not register 'mov' onto 'ref': reference is too small to register without "
        "wrapping: axis 0 has 3 pixel(s), and it needs 4 (the filter's edges take 2). Register "
        "with boundary='wrap', or drop the axis (e.g. image[0] for a 1 x N image)."
    ]
    assert [layer.name for layer in viewer.layers] == ["ref", "mov"]
