"""The widgets' headless models, on napari's ViewerModel (no canvas needed): what scripts use."""

import numpy as np
import pytest
from napari.components import ViewerModel

from napari_imreg._widgets._layers import crop_to_common, layer_array, rgb_to_channel
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
    pyramid = model_viewer.add_image([np.zeros((3, 64, 64)), np.zeros((3, 32, 32))])
    with pytest.raises(ValueError, match="multiscale"):
        model.plan(pyramid)
    short = model_viewer.add_image(np.zeros((2, 8, 8)), name="short")
    with pytest.raises(ValueError, match="fewer than the 3 shifts"):
        model.shifted_layer_data(short, np.zeros((3, 2)))


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
