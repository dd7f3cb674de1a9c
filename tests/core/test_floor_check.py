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


def _deferred(quick, full=None):
    """A full-strength measurement as ``floor_checked`` takes it: the result without
    the residual stage, and the stage (counted)."""
    runs = []

    def finish():
        runs.append(1)
        return quick if full is None else full

    return (lambda: (quick, finish)), runs


def test_the_rule_is_a_hausman_test_at_the_threshold():
    chosen = _result([0.0, 0.0], [0.03, 0.03])
    # The difference's spread is sqrt(0.05**2 - 0.03**2) = 0.04 on each axis.
    near = _result([0.0, FLOOR_CHECK_SIGMA * 0.04 * 0.99], [0.05, 0.05])
    far = _result([0.0, FLOOR_CHECK_SIGMA * 0.04 * 1.01], [0.05, 0.05])
    assert floor_checked(chosen, _deferred(near)[0]) is chosen
    assert floor_checked(chosen, _deferred(far)[0]) is far
    assert floor_checked(chosen, _deferred(_result([5.0, 5.0], [0.05, 0.05], False))[0]) is chosen
    unmeasured = _result([0.0, 0.0], [np.inf, np.inf], False)
    assert floor_checked(unmeasured, _deferred(far)[0]) is unmeasured


def test_the_stage_runs_only_when_the_errors_without_it_cannot_decide():
    chosen = _result([0.0, 0.0], [0.03, 0.03])
    shift = [0.0, FLOOR_CHECK_SIGMA * 0.04 * 1.01]
    # Beyond the threshold at the lower bound: the stage's larger errors keep the chosen.
    probe, runs = _deferred(_result(shift, [0.05, 0.05]), _result(shift, [0.06, 0.06]))
    assert floor_checked(chosen, probe) is chosen
    assert runs == [1]
    # Within it at the lower bound: within it at any larger error, no stage.
    near = _result([0.0, FLOOR_CHECK_SIGMA * 0.04 * 0.99], [0.05, 0.05])
    probe, runs = _deferred(near, _result(shift, [9.0, 9.0]))
    assert floor_checked(chosen, probe) is chosen
    assert runs == []
    # A lower bound below the chosen error certifies nothing: the stage decides.
    probe, runs = _deferred(_result([0.0, 0.0], [0.02, 0.02]), far := _result(shift, [0.05, 0.05]))
    assert floor_checked(chosen, probe) is far
    assert runs == [1]


def test_the_check_decides_as_it_did_with_the_stage_always_run(monkeypatch):
    """Every decision and result is the one the stage run at full strength gives."""
    import napari_imreg.core._register as registration

    def always_staged(result, full_strength):
        full = full_strength()[1]()
        return floor_checked(result, lambda: (full, lambda: full))

    scenes = ("brick", "moon", "cell", "coffee")
    pairs = list(_pairs(scenes, 8, 64, seed=7))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checked = [register(p.reference, p.moving) for p in pairs]
        monkeypatch.setattr(registration, "floor_checked", always_staged)
        staged = [register(p.reference, p.moving) for p in pairs]
    for a, b in zip(checked, staged, strict=True):
        assert np.array_equal(a.shift, b.shift)
        assert np.array_equal(a.error, b.error)
        assert a.filter_strength == b.filter_strength
