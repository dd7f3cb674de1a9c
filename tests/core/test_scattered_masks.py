"""Scattered invalid pixels (a cosmic-ray or bad-pixel mask, bad columns): the overlap
mode's filter needs every pixel of its 5 x 5 box, so a mask hitting one pixel in ten or
more left almost nothing (an exception, or a few hundred pixels and pulls of 10-20).
The invalid pixels are filled from their neighbours before filtering instead."""

import warnings

import numpy as np
import pytest

from napari_imreg.core import RegistrationWarning, register
from napari_imreg.core._binned_pairs import load_scene, make_binned_pair
from napari_imreg.core._prepare import filled_from_neighbours

SCENES = ("camera", "moon", "astronaut", "brick", "retina", "coffee")


def _masked_pairs(kind: str, seed: int = 5):
    rng = np.random.default_rng(seed)
    for name in SCENES:
        offset = rng.integers(-8, 9, size=2)
        pair = make_binned_pair(load_scene(name), (64, 64), offset, rng=rng, snr=30)
        shape = pair.moving.shape
        if kind == "random":  # 15% of the pixels of each image, drawn independently
            reference_bad, moving_bad = rng.random(shape) < 0.15, rng.random(shape) < 0.15
        else:  # every third column of the moving image's detector is dead
            reference_bad = np.zeros(shape, bool)
            moving_bad = np.zeros(shape, bool)
            moving_bad[:, ::3] = True
        reference = np.where(reference_bad, np.nan, pair.reference)
        moving = np.where(moving_bad, np.nan, pair.moving)
        yield reference, moving, pair


@pytest.mark.parametrize("kind", ["random", "columns"])
@pytest.mark.parametrize("given", [False, True])
def test_scattered_masks_register_within_their_errors(kind, given):
    measured = 0
    for reference, moving, pair in _masked_pairs(kind):
        errors = {}
        if given:
            errors = {
                "error": np.sqrt(pair.moving_variance),
                "reference_error": np.sqrt(pair.reference_variance),
            }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RegistrationWarning)
            result = register(reference, moving, **errors)
        if result.measured:
            measured += 1
            pull = (result.shift - pair.shift) / result.error
            assert np.all(np.abs(pull) < 4), (pull, result)
    assert measured >= len(SCENES) - 1


def test_filling_keeps_valid_pixels_and_fills_holes_from_their_rims():
    yy, xx = np.indices((20, 20)).astype(float)
    plane = 3.0 + 0.5 * yy - 0.25 * xx
    valid = np.ones(plane.shape, bool)
    valid[5:9, 5:9] = False  # a 4 x 4 hole: two passes reach its centre
    valid[15, ::2] = False
    data = np.where(valid, plane, 0.0)
    filled, known = filled_from_neighbours(data, valid)
    assert known.all()
    np.testing.assert_array_equal(filled[valid], plane[valid])
    # Inside the image a plane is its neighbours' mean; a hole filled from its rim is off
    # by less than the plane changes over the hole's half width (2 rows of 0.5).
    np.testing.assert_allclose(filled[15, 2::2], plane[15, 2::2], atol=1e-12)
    assert np.max(np.abs(filled - plane)) < 2 * 0.5
    assert data[6, 6] == 0.0  # the input is not modified
