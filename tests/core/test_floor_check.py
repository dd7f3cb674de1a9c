"""The floor check: the full-strength answer replaces the chosen strength's when they
disagree (real scenes that alias more than the floor model says), and only then."""

import warnings

import numpy as np
import pytest

from napari_imreg.core import make_crop_pair, register
from napari_imreg.core._binned_pairs import load_scene, make_binned_pair
from napari_imreg.core._prefilter import FLOOR_CHECK_SIGMA, floor_checked
from napari_imreg.core._result import RegistrationResult


def _pairs(scenes, count, size, seed):
    rng = np.random.default_rng(seed)
    for index in range(count):
        scene = load_scene(scenes[index % len(scenes)])
        offset = rng.integers(-10, 11, 2)
        snr = float(rng.choice([10.0, 30.0, 100.0]))
        yield make_binned_pair(scene, (size, size), offset, rng=rng, snr=snr)


def _register_both(pair):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checked = register(pair.reference, pair.moving)
        # errors="fisher" skips the check: the chosen strength's answer.
        unchecked = register(pair.reference, pair.moving, errors="fisher")
    return checked, unchecked


def test_real_scenes_that_alias_take_the_full_strength_and_gain():
    scenes = ("brick", "grass", "gravel", "astronaut", "camera", "moon", "retina", "coffee")
    checked_off, unchecked_off, switched = [], [], 0
    for pair in _pairs(scenes, 32, 96, seed=20261206):
        checked, unchecked = _register_both(pair)
        if not checked.measured:
            continue
        checked_off.append(checked.shift - pair.shift)
        unchecked_off.append(unchecked.shift - pair.shift)
        switched += checked.filter_strength == 1.0 and unchecked.filter_strength < 1.0
    checked_off, unchecked_off = np.array(checked_off), np.array(unchecked_off)
    assert switched >= 2
    assert np.sqrt(np.mean(checked_off**2)) < 0.95 * np.sqrt(np.mean(unchecked_off**2))


@pytest.mark.parametrize("noise", [0.1, 1.0])
def test_band_limited_crops_keep_the_chosen_strength(noise):
    rng = np.random.default_rng(5)
    kept = 0
    for _ in range(12):
        truth = rng.uniform(-3, 3, 2)
        reference, moving = make_crop_pair(97, truth, noise=noise, seed=int(rng.integers(2**31)))
        checked = register(reference, moving)
        unchecked = register(reference, moving, errors="fisher")
        kept += bool(np.array_equal(checked.shift, unchecked.shift))
    assert kept >= 11


def _result(shift, error, measured=True):
    return RegistrationResult(
        shift=np.array(shift, dtype=float),
        error=np.array(error, dtype=float),
        measured=measured,
    )


def test_the_rule_is_a_hausman_test_at_the_threshold():
    chosen = _result([0.0, 0.0], [0.03, 0.03])
    # The difference's spread is sqrt(0.05**2 - 0.03**2) = 0.04 on each axis.
    near = _result([0.0, FLOOR_CHECK_SIGMA * 0.04 * 0.99], [0.05, 0.05])
    far = _result([0.0, FLOOR_CHECK_SIGMA * 0.04 * 1.01], [0.05, 0.05])
    assert floor_checked(chosen, lambda: near) is chosen
    assert floor_checked(chosen, lambda: far) is far
    assert floor_checked(chosen, lambda: _result([5.0, 5.0], [0.05, 0.05], False)) is chosen
    unmeasured = _result([0.0, 0.0], [np.inf, np.inf], False)
    assert floor_checked(unmeasured, lambda: far) is unmeasured


def test_the_rule_reads_the_noise_errors_not_the_model_terms():
    # The residual stage's errors hold the models' misfit, which is the bias the
    # check looks for: the test of the two answers' difference uses the noise alone.
    def result(shift, noise):
        return RegistrationResult(
            shift=np.array(shift, dtype=float),
            error=np.array([0.5, 0.5]),  # model terms far above the noise
            noise_error=np.array(noise, dtype=float),
        )

    chosen = result([0.0, 0.0], [0.03, 0.03])
    far = result([0.0, FLOOR_CHECK_SIGMA * 0.04 * 1.01], [0.05, 0.05])
    near = result([0.0, FLOOR_CHECK_SIGMA * 0.04 * 0.99], [0.05, 0.05])
    assert floor_checked(chosen, lambda: far) is far
    assert floor_checked(chosen, lambda: near) is chosen


def test_the_check_finds_the_aliasing_of_small_real_crops():
    # 64 px crops binned 4x4 at SNR 30-100, noise estimated, Gaussian and Poisson:
    # exact truth from crop and bin. With the model terms in the test's spread the
    # check rarely switched (rms 0.89 of the unchecked answer's); with the noise
    # alone 0.47.
    rng = np.random.default_rng(64)
    scenes = ("grass", "gravel", "chelsea", "cat", "immunohistochemistry", "hubble_deep_field")
    checked_off, unchecked_off = [], []
    for index in range(24):
        pair = make_binned_pair(
            load_scene(scenes[index % len(scenes)]),
            (64, 64),
            rng.integers(-12, 13, 2),
            rng=rng,
            snr=(30.0, 100.0)[index % 2],
            noise=("gaussian", "poisson")[(index // 2) % 2],
        )
        checked, unchecked = _register_both(pair)
        if checked.measured:
            checked_off.append(checked.shift - pair.shift)
            unchecked_off.append(unchecked.shift - pair.shift)
    assert len(checked_off) >= 22
    rms = np.sqrt(np.mean(np.square(checked_off)))
    assert rms < 0.7 * np.sqrt(np.mean(np.square(unchecked_off)))
