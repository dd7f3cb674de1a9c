"""The bias bound with the noise given: a witness whenever another strength exists,
and a Fourier model's clear fit that the two strengths' disagreement overrules."""

import warnings

import numpy as np
import pytest

from napari_imreg.core import register
from napari_imreg.core._binned_pairs import load_scene, make_binned_pair
from napari_imreg.core._pipeline_residual import ComparedImages, Witness, pipeline_terms

# The seed of benchmarks/real_accuracy.py, whose Gaussian SNR 100 trial 36 is the text pair.
BENCHMARK_SEED = 20261206


def _moon_pair():
    """A moon pair at Gaussian SNR 100 whose two filter strengths share a 0.01 px bias."""
    rng = np.random.default_rng([11, 0])
    offset = rng.integers(-12, 13, 2)
    return make_binned_pair(load_scene("moon"), (64, 64), offset, rng=rng, snr=100.0)


def _text_pair():
    """The benchmark's text pair (37² binned, shifted by -2.75 px) at Gaussian SNR 100,
    where the floor bound asks for the full strength when the noise is given."""
    rng = np.random.default_rng([BENCHMARK_SEED, 0, 1000, 36])
    offset = rng.integers(-12, 13, 2)
    return make_binned_pair(load_scene("text"), (37, 37), offset, rng=rng, snr=100.0)


@pytest.mark.parametrize("make_pair", [_moon_pair, _text_pair])
@pytest.mark.parametrize("maps", [False, True])
def test_given_noise_errors_cover_the_bias_both_strengths_share(make_pair, maps):
    # Before the witness rule these pairs missed by 6.4 and 4.9 sigma with the
    # noise given, scalar or maps alike; the truth is exact (whole full-res pixels).
    pair = make_pair()
    errors = pair.given_noise(maps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = register(pair.reference, pair.moving, **errors)
    assert result.measured
    pull = (result.shift - pair.shift) / result.error
    assert np.all(np.abs(pull) < 4.0), pull


def _terms(witness_difference, noise=2.5e-3):
    """``pipeline_terms`` on a smooth periodic pair at its true shift, the residuals
    preferring the Fourier model clearly, with a witness ``witness_difference`` away;
    the reference's ``noise`` (the noise term says 1e-3 px per axis, as the least
    squares' curvature does at a noise of 2.5e-3: 0.7e-3 and 0.9e-3)."""
    y, x = np.mgrid[0:32, 0:32].astype(float)
    shift = np.array([0.4, -0.3])

    def scene(dy, dx):
        phase = 2 * np.pi * (3 * (y - dy) + 2 * (x - dx)) / 32
        return np.sin(phase) + 0.3 * np.cos(2 * np.pi * (x - dx) / 16)

    rng = np.random.default_rng(3)
    reference = scene(*shift) + rng.normal(0.0, noise, y.shape)
    compared = ComparedImages(reference, scene(0.0, 0.0))
    covariance = np.eye(2) * 1e-6
    # The witness noisier: Hausman's noise of the difference is 1e-3 px per axis.
    witness_covariance = np.eye(2) * 2e-6
    witness = Witness.of(shift, covariance, shift + witness_difference, witness_covariance)
    return pipeline_terms(
        compared,
        shift,
        variance=noise**2,
        basis=[np.ones_like(reference)],
        wrap=True,
        block=8,
        spline_grid=lambda: np.zeros((4, 4, 2)),
        difference=np.zeros(2),
        covariance=covariance,
        clear=True,
        witness=witness,
    )[:3]


def test_a_clear_fourier_fit_stands_while_the_strengths_agree_within_the_floor_check():
    # 3.5 noise sigmas apart on one axis: within the floor check's 4, the verdict
    # stands, no sandwich, and the witness counts beyond the noise's largest share
    # (3e-6 per axis): 3.5e-3 px squared less it on that axis, nothing on the other.
    difference = np.array([3.5e-3, -1e-3])
    _, sandwich, model = _terms(difference)
    np.testing.assert_array_equal(sandwich, 0.0)
    np.testing.assert_allclose(np.diag(model), [3.5e-3**2 - 3e-6, 0.0])


def test_a_clear_fourier_fit_keeps_a_sandwich_broader_than_its_noise_term():
    # The same pair ten times noisier than the noise term says (on a sparse field
    # under photon noise the few bright features carry the shift and a misfit and a
    # noise of their own, which the one-level term does not hold): the pipeline's
    # bias-reduced sandwich is broader beyond its sampling error, and counts.
    _, sandwich, _ = _terms(np.array([3.5e-3, -1e-3]), noise=2.5e-2)
    assert np.all(np.diag(sandwich) > 1e-6)


def test_strengths_apart_beyond_the_floor_check_overrule_a_clear_fourier_fit():
    # 0.01 px apart, 10 noise sigmas: the data are not band-limited after all, so
    # the residual's sandwich counts too, with the same witness bound.
    difference = np.array([0.01, 0.0])
    _, sandwich, model = _terms(difference)
    assert np.all(np.diag(sandwich) > 0.0)
    np.testing.assert_allclose(np.diag(model), [0.01**2 - 3e-6, 0.0])
