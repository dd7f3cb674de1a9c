"""Masks and regions of interest in the pair and stack widgets, FITS DQ/MASK layers, and the
core's options offered by both widgets.

The scene is real (scikit-image's camera), cut twice with a known offset: that offset is the
truth. Hot pixels or a bright block at the same detector place in both cuts pull an unmasked
registration to zero shift; masked, the truth comes back.
"""

from __future__ import annotations

import dataclasses
import typing

import numpy as np
import pytest
from astropy.io import fits
from napari.layers import Labels
from skimage.data import camera

import napari_imreg
from napari_imreg import core
from napari_imreg._widgets import _pair, _stack, _stack_shifts
from napari_imreg._widgets._layers import MASK_MODES
from napari_imreg._widgets._options import HIDDEN_OPTIONS, _literal_choices
from napari_imreg._widgets._pair import PairWidget
from napari_imreg._widgets._stack import StackWidget
from napari_imreg.core import Options

PLUGIN = "napari-imreg"
TRUTH = np.array([3.0, -5.0])
SIZE = 128


def _cuts(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    image = camera().astype(np.float64)
    rng = np.random.default_rng(seed)
    y, x = 150, 200
    dy, dx = (int(t) for t in TRUTH)
    reference = image[y : y + SIZE, x : x + SIZE] + rng.normal(0, 2, (SIZE, SIZE))
    moving = image[y + dy : y + dy + SIZE, x + dx : x + dx + SIZE] + rng.normal(0, 2, (SIZE, SIZE))
    return reference, moving


def _hot_pixels(seed: int = 1) -> np.ndarray:
    hot = np.zeros((SIZE, SIZE), dtype=bool)
    hot.flat[np.random.default_rng(seed).choice(SIZE * SIZE, 30, replace=False)] = True
    return hot


@pytest.fixture
def errors(monkeypatch):
    messages = []
    monkeypatch.setattr(_pair, "show_error", messages.append)
    monkeypatch.setattr(_stack, "show_error", messages.append)
    monkeypatch.setattr(_stack_shifts, "show_error", messages.append)
    return messages


def _register(widget, wait_for) -> np.ndarray:
    assert widget.run() is not None, widget._plan_label.value
    wait_for(widget)
    (job,) = widget.last_jobs
    return job.full_shift


def _pair_widget(viewer, reference, moving) -> PairWidget:
    widget = PairWidget(viewer)
    widget.set_layers(reference, [moving])
    return widget


def test_a_labels_mask_sets_hot_pixels_aside(viewer, wait_for):
    reference, moving = _cuts()
    hot = _hot_pixels()
    reference[hot] += 1e4
    moving[hot] += 1e4
    placed = {"scale": (0.5, 0.5), "translate": (10.0, 20.0)}
    ref = viewer.add_image(reference, name="ref", **placed)
    mov = viewer.add_image(moving, name="mov", **placed)
    labels = viewer.add_labels(hot.astype(np.uint8), name="hot pixels", **placed)
    before = ref.data.copy(), mov.data.copy(), labels.data.copy()
    widget = _pair_widget(viewer, ref, mov)
    # The core's outlier stage would set these hot pixels aside by itself: off, the mask
    # alone must do it.
    widget.option_controls.set_value("outliers", False)

    unmasked = _register(widget, wait_for)
    assert np.max(np.abs(unmasked - TRUTH)) > 1  # pulled to zero by the hot pixels

    widget._mask_layer.value = labels
    assert widget._mask_mode.value == MASK_MODES[0]
    np.testing.assert_allclose(_register(widget, wait_for), TRUTH, atol=0.05)
    for kept, now in zip(before, (ref.data, mov.data, labels.data), strict=True):
        np.testing.assert_array_equal(kept, now)  # nothing the user had is modified
    assert "hot pixels" in widget._plan_label.value


def test_a_shapes_region_of_interest_and_mask_through_the_layers_transforms(viewer, wait_for):
    reference, moving = _cuts(seed=2)
    reference[:24, :24] += 1e4  # a bright unrelated block, fixed on the detector
    moving[:24, :24] += 1e4
    scale, translate = np.array([2.0, 2.0]), np.array([100.0, -50.0])
    ref = viewer.add_image(reference, name="ref", scale=scale, translate=translate)
    mov = viewer.add_image(moving, name="mov", scale=scale, translate=translate)

    def world(pixel_rectangle):  # image pixels -> world coordinates
        return np.asarray(pixel_rectangle, dtype=float) * scale + translate

    # The cell or star field: pixels 30-120 of both axes, away from the block.
    region = viewer.add_shapes(
        [world([[30, 30], [30, 120], [120, 120], [120, 30]])], shape_type="rectangle", name="roi"
    )
    # Around the block, drawn on its own layer.
    around = viewer.add_shapes(
        [world([[-2, -2], [-2, 26], [26, 26], [26, -2]])], shape_type="polygon", name="block"
    )
    widget = _pair_widget(viewer, ref, mov)
    assert np.max(np.abs(_register(widget, wait_for) - TRUTH)) > 1

    widget._mask_layer.value = region
    widget._mask_mode.value = MASK_MODES[1]  # region of interest: only its pixels
    np.testing.assert_allclose(_register(widget, wait_for), TRUTH, atol=0.05)
    (job,) = widget.last_jobs
    used = ~job.mask[0]
    assert used[30:121, 30:121].all()
    assert used.sum() == 91 * 91

    widget._mask_layer.value = around
    widget._mask_mode.value = MASK_MODES[0]  # mask: ignore its pixels
    np.testing.assert_allclose(_register(widget, wait_for), TRUTH, atol=0.05)


def test_a_mask_on_another_grid_is_refused_and_the_viewer_keeps_working(viewer, wait_for, errors):
    reference, moving = _cuts()
    ref = viewer.add_image(reference, name="ref")
    mov = viewer.add_image(moving, name="mov")
    small = viewer.add_labels(np.zeros((SIZE - 8, SIZE), dtype=np.uint8), name="small")
    shifted = viewer.add_labels(np.zeros((SIZE, SIZE), dtype=np.uint8), translate=(3, 0))
    widget = _pair_widget(viewer, ref, mov)
    count = len(viewer.layers)
    for bad in (small, shifted):
        widget._mask_layer.value = bad
        assert widget.run() is None
        assert bad.name in errors[-1]
        assert "grid" in errors[-1]
    assert f"({SIZE - 8}, {SIZE})" in errors[0]
    assert f"({SIZE}, {SIZE})" in errors[0]
    assert len(viewer.layers) == count
    widget._mask_layer.value = None
    np.testing.assert_allclose(_register(widget, wait_for), TRUTH, atol=0.05)


def _write_fits_with_dq(path, data, flagged):
    fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.ImageHDU(data.astype(np.float32), name="SCI"),
            fits.ImageHDU(np.where(flagged, 4096, 0).astype(np.int16), name="DQ"),
        ]
    ).writeto(path)


def test_fits_dq_opens_as_labels_and_is_used_for_its_image(viewer, tmp_path, wait_for):
    reference, moving = _cuts(seed=3)
    hot = _hot_pixels(seed=4)
    reference[hot] += 1e4
    moving[hot] += 1e4
    _write_fits_with_dq(tmp_path / "ref.fits", reference, hot)
    _write_fits_with_dq(tmp_path / "mov.fits", moving, hot)
    for name in ("ref", "mov"):
        viewer.open(tmp_path / f"{name}.fits", plugin=PLUGIN)
    dq = viewer.layers["ref [DQ]"]
    assert isinstance(dq, Labels)
    np.testing.assert_array_equal(np.asarray(dq.data) != 0, hot)
    widget = _pair_widget(viewer, viewer.layers["ref"], viewer.layers["mov"])
    widget.option_controls.set_value("outliers", False)  # the DQ alone, not the core's clipping
    assert widget._fits_masks.value
    assert not widget._fits_masks.native.isHidden()  # offered: a file with a DQ is open
    assert widget._mask_layer.value is None  # the DQ belongs to its image, not to both
    np.testing.assert_allclose(_register(widget, wait_for), TRUTH, atol=0.05)
    assert "'ref [DQ]'" in widget._plan_label.value
    assert "'mov [DQ]'" in widget._plan_label.value
    widget._fits_masks.value = False
    assert np.max(np.abs(_register(widget, wait_for) - TRUTH)) > 1


# ------------------------------------------------------------------------- options, once


def _non_default_options() -> dict[str, typing.Any]:
    """A value other than the default for every field of the core's Options."""
    values = {
        "upsample_factor": 7,
        "max_shift": 9.0,
        "prefilter": 0.4,
        "threads": 1,
        "clip_threshold": 6.0,
    }
    hints = typing.get_type_hints(Options)
    for field in dataclasses.fields(Options):
        if field.name in values or field.name in HIDDEN_OPTIONS:
            continue
        hint = hints[field.name]
        choices = _literal_choices(hint)
        if choices:
            values[field.name] = next(c for c in choices if c not in (field.default, choices[0]))
        elif hint is bool:
            values[field.name] = not field.default
        else:
            raise AssertionError(f"Give the new option {field.name!r} a non-default value here.")
    return values


def _recording(monkeypatch, module, name, calls):
    real = getattr(module, name)

    def record(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, record)


def test_every_core_option_reaches_the_core_from_the_pair_widget(viewer, wait_for, monkeypatch):
    calls = []
    _recording(monkeypatch, core, "register", calls)
    reference, moving = _cuts()
    widget = _pair_widget(
        viewer, viewer.add_image(reference, name="r"), viewer.add_image(moving, name="m")
    )
    values = _non_default_options()
    assert set(widget.option_controls.by_name) == set(values)  # every field has a control
    for name, value in values.items():
        widget.option_controls.set_value(name, value)
    _register(widget, wait_for)
    (received,) = calls
    for name, value in values.items():
        assert received[name] == value, name


@pytest.mark.parametrize("reference", ["first frame", "previous frame"])
def test_every_core_option_reaches_the_core_from_the_stack_widget(
    viewer, wait_for, monkeypatch, reference
):
    calls = []
    _recording(monkeypatch, napari_imreg, "register_stack", calls)
    _recording(monkeypatch, core, "iter_register_stack", calls)
    reference_image, moving = _cuts()
    layer = viewer.add_image(np.stack([reference_image, moving, moving]), name="stack")
    widget = StackWidget(viewer)
    widget.set_layer(layer)
    widget._reference.value = reference
    widget._apply_when_done.value = False
    values = _non_default_options()
    for name, value in values.items():
        widget.option_controls.set_value(name, value)
    assert widget.run() is not None
    wait_for(widget)
    (received,) = calls
    # register_stack runs frames in parallel, one thread each: the one option it has not.
    expected = {k: v for k, v in values.items() if k in received or k != "threads"}
    for name, value in expected.items():
        assert received[name] == value, name
    if reference == "previous frame":
        assert received["threads"] == values["threads"]


def test_the_core_refuses_an_option_and_the_user_is_told(viewer, errors):
    reference, moving = _cuts()
    widget = _pair_widget(
        viewer, viewer.add_image(reference, name="r"), viewer.add_image(moving, name="m")
    )
    (threads,) = widget.option_controls.by_name["threads"]
    threads.value = "0"
    assert widget.run() is None
    assert "threads" in errors[-1]
    assert "0" in errors[-1]


def test_stack_masks_reach_the_core_frames_first(viewer, wait_for, monkeypatch, errors):
    calls = []

    def iter_register_stack(stack, *, mask=None, **kwargs):  # the masks that reach the core
        calls.append(mask)
        return real(stack, mask=mask, **kwargs)

    real = core.iter_register_stack
    monkeypatch.setattr(core, "iter_register_stack", iter_register_stack)
    reference, moving = _cuts()
    frames = np.stack([reference, moving, moving, moving, moving])
    layer = viewer.add_image(np.moveaxis(frames, 0, 2), name="frames last", rgb=False)
    hot = _hot_pixels()
    one = viewer.add_labels(hot.astype(np.uint8), name="one frame")
    per_frame = np.zeros(layer.data.shape, dtype=np.uint8)
    per_frame[5, 6, 1] = 1
    each = viewer.add_labels(per_frame, name="per frame")
    widget = StackWidget(viewer)
    widget.set_layer(layer)
    widget._axis.value = 2
    widget._apply_when_done.value = False
    for mask in (one, each):
        widget._mask_layer.value = mask
        assert widget.run() is not None, errors
        wait_for(widget)
    np.testing.assert_array_equal(calls[0], hot)
    expected = np.zeros((5, SIZE, SIZE), dtype=bool)
    expected[1, 5, 6] = True
    np.testing.assert_array_equal(calls[1], expected)


#: Each frame's crop offset in the camera scene: the shift that registers it onto frame 0.
STACK_TRUTH = np.array([(0, 0), (3, -5), (-4, 2), (6, 4)], dtype=float)


def _drifting_stack(seed: int = 3) -> np.ndarray:
    image = camera().astype(np.float64)
    rng = np.random.default_rng(seed)
    y, x = 150, 200
    return np.stack(
        [
            image[y + dy : y + dy + SIZE, x + dx : x + dx + SIZE] + rng.normal(0, 2, (SIZE, SIZE))
            for dy, dx in STACK_TRUTH.astype(int)
        ]
    )


@pytest.mark.parametrize("reference", ["first frame", "mean", "previous frame"])
def test_a_labels_mask_sets_a_stacks_hot_pixels_aside(viewer, wait_for, reference):
    """Hot pixels at one detector place in every frame pull the unmasked drift to zero; a
    Labels layer of one frame's grid masks them in every frame, for every reference."""
    frames = _drifting_stack()
    hot = _hot_pixels()
    frames[:, hot] += 1e4
    layer = viewer.add_image(frames, name="stack")
    labels = viewer.add_labels(hot.astype(np.uint8), name="hot pixels")
    before = layer.data.copy(), labels.data.copy()
    widget = StackWidget(viewer)
    widget.set_layer(layer)
    widget._reference.value = reference
    widget._apply_when_done.value = False
    widget.option_controls.set_value("outliers", False)  # the mask alone must do it
    measured = {}
    for mask in (None, labels):
        widget._mask_layer.value = mask
        assert widget.run() is not None, widget._status.value
        wait_for(widget)
        shifts = np.asarray(widget.shifts)
        measured[mask is None] = shifts - shifts[0]  # independent of the reference
    assert np.max(np.abs(measured[True] - STACK_TRUTH)) > 1
    atol = 0.2 if reference == "mean" else 0.05  # the mean frame is blurred by the drift
    np.testing.assert_allclose(measured[False], STACK_TRUTH, atol=atol)
    for kept, now in zip(before, (layer.data, labels.data), strict=True):
        np.testing.assert_array_equal(kept, now)


def test_each_sci_extension_is_linked_to_the_dq_of_its_extver(viewer, tmp_path):
    from napari_imreg._widgets._layers import fits_mask_layer

    rng = np.random.default_rng(5)
    hdus = [fits.PrimaryHDU()]
    for version in (1, 2):
        hdus.append(fits.ImageHDU(rng.normal(size=(16, 16)).astype(np.float32), name="SCI"))
        hdus.append(fits.ImageHDU(np.full((16, 16), version, np.int16), name="DQ"))
        for hdu in hdus[-2:]:
            hdu.header["EXTVER"] = version
    fits.HDUList(hdus).writeto(tmp_path / "two.fits")
    layers = viewer.open(tmp_path / "two.fits", plugin=PLUGIN)
    images = [layer for layer in layers if not isinstance(layer, Labels)]
    assert len(images) == 2
    for version, image in enumerate(images, start=1):
        dq = fits_mask_layer(viewer, image)
        assert int(np.asarray(dq.data)[0, 0]) == version


def test_a_shapes_region_follows_each_layer_where_it_is_placed(viewer, wait_for):
    # The moving cut placed where it belongs (its translate holds the truth): a region
    # drawn in the world covers the same scene in both, so the two masks of the overlap
    # as placed are the same pixels (the reference's grid reused on the moving array
    # would sit the offset away, on other content).
    reference, moving = _cuts(seed=3)
    scale = np.array([2.0, 2.0])
    ref = viewer.add_image(reference, name="ref", scale=scale)
    mov = viewer.add_image(moving, name="mov", scale=scale, translate=TRUTH * scale)
    region = viewer.add_shapes(
        [np.array([[30, 30], [30, 100], [100, 100], [100, 30]], dtype=float) * scale],
        shape_type="rectangle",
        name="roi",
    )
    widget = _pair_widget(viewer, ref, mov)
    widget._mask_layer.value = region
    widget._mask_mode.value = MASK_MODES[1]
    np.testing.assert_allclose(_register(widget, wait_for), TRUTH, atol=0.05)
    (job,) = widget.last_jobs
    np.testing.assert_array_equal(job.start, TRUTH)
    np.testing.assert_array_equal(job.mask[0], job.mask[1])
    assert (~job.mask[0]).sum() == 71 * 71
