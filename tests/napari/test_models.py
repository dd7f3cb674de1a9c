"""The widgets' headless models, on napari's ViewerModel (no canvas needed): what scripts use."""

import io

import dask.array as da
import numpy as np
import pytest
from napari.components import ViewerModel

from napari_imreg._shift_table import axis_names, write_shift_rows
from napari_imreg._widgets import _pair_model
from napari_imreg._widgets._layers import (
    crop_to_common,
    layer_array,
    rgb_to_channel,
    viewer_axis_labels,
)
from napari_imreg._widgets._stack import StackOptions, StackRegistration
from napari_imreg.core import Options, make_extended, make_shifted


@pytest.fixture
def model_viewer():
    return ViewerModel()


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_stack_along_any_axis(model_viewer, axis):
    base = make_extended((48, 48), seed=20)
    truth = np.array([[0.0, 0.0], [0.75, -1.5], [2.25, 0.5], [-1.0, 1.0]])
    frames = np.stack([make_shifted(base, s, noise=0.02, seed=i) for i, s in enumerate(truth)])
    layer = model_viewer.add_image(np.moveaxis(frames, 0, axis), rgb=False)
    model = StackRegistration(model_viewer, StackOptions(axis=axis, core=Options(boundary="wrap")))
    job = model.plan(layer)
    assert job.n_frames == 4
    results = list(model.frames(job))
    assert [frame.index for frame in results] == [0, 1, 2, 3]
    np.testing.assert_allclose(np.array(job.shifts), truth, atol=0.02)
    (added,) = model.apply([layer], np.array(job.shifts))
    assert added.data.shape == layer.data.shape


def test_volume_time_lapse(model_viewer):
    base = make_extended((12, 32, 32), seed=21)
    truth = np.array([[0.0, 0.0, 0.0], [0.5, 1.25, -0.75]])
    frames = np.stack([make_shifted(base, s, noise=0.02, seed=i) for i, s in enumerate(truth)])
    layer = model_viewer.add_image(frames)  # (t, z, y, x)
    model = StackRegistration(model_viewer, StackOptions(core=Options(boundary="wrap")))
    job = model.plan(layer)
    list(model.frames(job))
    np.testing.assert_allclose(np.array(job.shifts), truth, atol=0.03)


def test_stack_plan_refusals(model_viewer):
    model = StackRegistration(model_viewer, StackOptions(axis=3))
    layer = model_viewer.add_image(np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match="axis=3 does not exist"):
        model.plan(layer)
    model.options = StackOptions(noise="scalar", error_value=0.0)
    with pytest.raises(ValueError, match="noise value must be positive"):
        model.plan(layer)
    # A script may hand the model any layer: a labels stack has no colour channels to
    # take one of (an AttributeError before), and is refused in words.
    labels = model_viewer.add_labels(np.zeros((3, 8, 8), dtype=np.uint8), name="cells")
    with pytest.raises(ValueError, match="'cells' is a labels layer: a stack is registered"):
        model.plan(labels)
    pyramid = model_viewer.add_image([np.zeros((3, 64, 64)), np.zeros((3, 32, 32))])
    with pytest.raises(ValueError, match="multiscale"):
        model.plan(pyramid)
    short = model_viewer.add_image(np.zeros((2, 8, 8)), name="short")
    with pytest.raises(ValueError, match="fewer than the 3 shifts"):
        model.shifted_layer_data(short, np.zeros((3, 2)))


@pytest.mark.parametrize("lazy", [False, True], ids=["numpy", "dask"])
def test_rgb_channels_move_together_in_both_models(lazy):
    # Whole-pixel shifts with wrapping: the truth is np.roll, to the last count, in the
    # source's dtype; the pair and the stack models move RGB(A) through one function.
    rng = np.random.default_rng(4)
    frames = rng.integers(0, 256, size=(3, 16, 12, 4), dtype=np.uint8)
    shifts = np.array([[0.0, 0.0], [2.0, -3.0], [-1.0, 5.0]])
    rolled = np.stack(
        [np.roll(f, s.astype(int), axis=(0, 1)) for f, s in zip(frames, shifts, strict=True)]
    )
    pair = _pair_model._shift_image(frames[1], shifts[1], True, "wrap")
    assert pair.dtype == np.uint8
    np.testing.assert_array_equal(pair, rolled[1])
    viewer = ViewerModel()
    layer = viewer.add_image(da.from_array(frames) if lazy else frames, rgb=True)
    model = StackRegistration(viewer)
    model.options = StackOptions(axis=0, core=Options(boundary="wrap"))
    moved, kwargs, kind = model.shifted_layer_data(layer, shifts)
    assert isinstance(moved, da.Array) == lazy
    assert kwargs["rgb"]
    assert kind == "image"
    assert moved.dtype == np.uint8
    np.testing.assert_array_equal(np.asarray(moved), rolled)


def test_a_lazy_labels_stack_moves_by_whole_pixels():
    # Labels move by whole pixels, the rest left empty (0); a dask stack's copy stays lazy
    # (dask's nan_to_num refused the nan= that filled the empty pixels).
    labels = np.random.default_rng(5).integers(1, 5, size=(2, 10, 8)).astype(np.int32)
    viewer = ViewerModel()
    layer = viewer.add_labels(da.from_array(labels))
    model = StackRegistration(viewer)
    model.options = StackOptions(axis=0)
    moved, _, kind = model.shifted_layer_data(layer, np.array([[0.0, 0.0], [2.0, -3.0]]))
    assert kind == "labels"
    assert isinstance(moved, da.Array)
    moved = np.asarray(moved)
    assert moved.dtype == np.int32
    np.testing.assert_array_equal(moved[0], labels[0])
    np.testing.assert_array_equal(moved[1, 2:, :5], labels[1, :-2, 3:])
    assert not moved[1, :2].any()
    assert not moved[1, :, 5:].any()


@pytest.mark.parametrize("ndim", [2, 3, 4, 5])
def test_axis_names_follow_the_viewers_axis_labels(ndim):
    # The widgets and the shift table named a 4-D shift's axes two ways ("axis0, z, y, x"
    # and "axis0, axis1, axis2, axis3"), and neither read the viewer's labels.
    viewer = ViewerModel()
    layer = viewer.add_image(np.zeros((2,) * ndim))
    defaults = viewer_axis_labels(viewer, layer)
    assert defaults == list(viewer.dims.axis_labels)  # napari's numbers: "-2", "-1"...
    names = axis_names(ndim, defaults)
    assert names == axis_names(ndim)
    assert names[-2:] == ("y", "x")
    assert len(set(names)) == ndim
    stream = io.StringIO()
    write_shift_rows(stream, np.zeros((1, ndim)))
    header = stream.getvalue().splitlines()[0].split(",")
    assert header[1 : ndim + 1] == [f"shift_{name}" for name in names]
    custom = ("t", "c", "z", "row", "col")[-ndim:]
    viewer.dims.axis_labels = custom
    assert axis_names(ndim, viewer_axis_labels(viewer, layer)) == custom
    assert axis_names(ndim, ["x", *defaults[1:]]) == names  # a repeated name: the defaults


def test_layer_arrays():
    viewer = ViewerModel()
    rgb = np.random.default_rng(0).random((6, 5, 3))
    layer = viewer.add_image(rgb, rgb=True)
    np.testing.assert_array_equal(layer_array(layer, channel="blue").data, rgb[..., 2])
    luminance = layer_array(layer, channel="luminance").data
    np.testing.assert_allclose(luminance, rgb @ [0.2125, 0.7154, 0.0721])
    with pytest.raises(ValueError, match="channel='alpha' is not one of"):
        rgb_to_channel(rgb, "alpha")
    (a, b), shape = crop_to_common([np.zeros((4, 6)), np.ones((5, 3))])
    assert shape == (4, 3)
    assert a.shape == b.shape == (4, 3)
    levels = [np.zeros((64, 64)), np.zeros((32, 32)), np.zeros((16, 16))]
    pyramid = viewer.add_image(levels, multiscale=True)
    chosen = layer_array(pyramid, pixel_budget=32 * 32)
    assert chosen.level == 1
    np.testing.assert_array_equal(chosen.factor, (2, 2))
