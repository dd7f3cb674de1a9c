"""Scattered invalid pixels (a cosmic-ray or bad-pixel mask, bad columns): the overlap
mode's filter needs every pixel of its 5 x 5 box, so a mask hitting one pixel in ten or
more left almost nothing (an exception, or a few hundred pixels and pulls of 10-20).
The invalid pixels are filled from their neighbours before filtering instead."""

import warnings

import numpy as np
import pytest

from napari_imreg.core import RegistrationWarning, register
from napari_imreg.core._binned_pairs import load_scene, make_binned_pair

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
        errors = pair.given_noise() if given else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RegistrationWarning)
            result = register(reference, moving, **errors)
        if result.measured:
            measured += 1
            pull = (result.shift - pair.shift) / result.error
            assert np.all(np.abs(pull) < 4), (pull, result)
    assert measured >= len(SCENES) - 1


@pytest.mark.parametrize(
    ("scene", "seed", "share"),
    [("moon", 35, 0.3), ("retina", 37, 0.3), ("retina", 1, 0.3), ("moon", 3, 0.5)],
)
def test_a_fit_with_no_score_left_has_an_infinite_error_not_nan(scene, seed, share):
    """30-50% of both images masked, with noise maps. The residual stage's spline left
    out every pixel within 2 of a hole: 4 of 2899 (errors NaN, no warning). And the
    profiled fit can keep no gain, the sandwich no score (its covariance 0 or negative:
    errors NaN, or a ZeroDivisionError drawing the map): no error is known, infinite."""
    rng = np.random.default_rng(seed)
    pair = make_binned_pair(
        load_scene(scene), (64, 64), rng.integers(-8, 9, size=2), rng=rng, snr=30
    )
    bad = rng.random(pair.moving.shape) < share
    reference = np.where(np.roll(bad, 3, 1), np.nan, pair.reference)
    moving = np.where(bad, np.nan, pair.moving)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = register(
            reference,
            moving,
            error=np.sqrt(pair.moving_variance),
            reference_error=np.sqrt(pair.reference_variance),
        )
    assert not np.any(np.isnan(result.error))
    assert not any(issubclass(w.category, RuntimeWarning) for w in caught)
    if result.measured:
        assert np.all(np.abs(result.shift - pair.shift) < 4 * result.error)
    else:
        assert any(issubclass(w.category, RegistrationWarning) for w in caught)
