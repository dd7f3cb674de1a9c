"""Issue 13 in the pipeline: a shift that is not a measurement says so."""

import numpy as np
import pytest

from napari_imreg.core import Registrar, RegistrationWarning, make_crop_pair, register
from napari_imreg.core._binned_pairs import load_scene, make_binned_pair
from napari_imreg.core._significance import match_significance

# Either warning: no significant match, or (checked first) no curvature at the minimum.
UNBOUNDED = "not significant|not curved"


@pytest.mark.parametrize("boundary", ["overlap", "wrap"])
def test_pure_noise_is_not_a_measurement(boundary):
    rng = np.random.default_rng(3)
    for _ in range(5):
        reference, moving = rng.normal(size=(2, 64, 64))
        with pytest.warns(RegistrationWarning, match=UNBOUNDED):
            result = register(reference, moving, boundary=boundary)
        assert not result.measured
        assert not result.significance.significant
        assert not result.significance.measured
        assert np.all(np.isinf(result.error))


def test_unrelated_scenes_are_not_a_measurement():
    rng = np.random.default_rng(4)
    one = make_binned_pair(load_scene("camera"), (48, 48), (0, 0), rng=rng, snr=30)
    other = make_binned_pair(load_scene("coins"), (48, 48), (0, 0), rng=rng, snr=30)
    with pytest.warns(RegistrationWarning, match=UNBOUNDED):
        result = register(one.reference, other.moving, max_shift=12)
    assert not result.measured


def test_a_real_pair_is_measured_without_warning():
    rng = np.random.default_rng(5)
    pair = make_binned_pair(load_scene("moon"), (64, 64), (9, -5), rng=rng, snr=3)
    result = register(pair.reference, pair.moving)  # a warning would fail (filterwarnings)
    assert result.measured
    assert result.significance.z > 5
    assert np.all(np.abs(result.shift - pair.shift) < 4 * result.error)


def test_a_match_beyond_max_shift_is_not_given_a_tight_error():
    # Issue 13: max_shift=1 on a (2.3, -1.7) pair gave 2.0 +- 0.007, 41 sigma off.
    reference, moving = make_crop_pair(64, (2.3, -1.7), noise=0.05, seed=0)
    with pytest.warns(RegistrationWarning, match="max_shift edge"):
        result = register(reference, moving, max_shift=1)
    assert not result.measured
    assert result.significance.on_boundary
    assert np.all(np.isinf(result.error))
    inside = register(reference, moving, max_shift=4)
    assert inside.measured
    assert np.all(np.abs(inside.shift - (2.3, -1.7)) < 4 * inside.error)


def test_registrar_and_stacks_carry_the_verdict():
    rng = np.random.default_rng(6)
    registrar = Registrar(rng.normal(size=(48, 48)))
    with pytest.warns(RegistrationWarning):
        result = registrar.register(rng.normal(size=(48, 48)))
    assert not result.measured


def test_significance_does_not_depend_on_units():
    rng = np.random.default_rng(7)
    pair = make_binned_pair(load_scene("retina"), (48, 48), (6, 3), rng=rng, snr=1)
    base = match_significance(pair.reference, pair.moving, max_shift=12, shift=pair.shift)
    for unit in (1e-30, 1e30):
        scaled = match_significance(
            pair.reference * unit, pair.moving * unit, max_shift=12, shift=pair.shift
        )
        assert scaled.z == pytest.approx(base.z, rel=1e-6)
        assert scaled.significant == base.significant
