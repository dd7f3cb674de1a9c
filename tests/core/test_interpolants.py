"""The spline's better fit as evidence that the Fourier answer is biased (undersampled text)."""

import warnings

import numpy as np
import pytest

from napari_imreg.core import register
from napari_imreg.core._binned_pairs import load_scene, make_binned_pair
from napari_imreg.core._interpolants import InterpolantFits


def _page_pair():
    """Scanned text binned 3x3 (48², Gaussian SNR 30): the filter strengths lean alike
    (0.08-0.14 px), the spline's residual is the lower, and main reported (-0.043,
    -0.126) px off with errors (0.028, 0.023): a pull of -5.5."""
    rng = np.random.default_rng([77, 3, 30, 3, 0, 4])
    offset = rng.integers(-9, 10, 2)
    return make_binned_pair(load_scene("page"), (48, 48), offset, bin_factor=3, rng=rng, snr=30.0)


def test_given_noise_error_covers_the_bias_the_spline_shows_on_undersampled_text():
    pair = _page_pair()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = register(
            pair.reference,
            pair.moving,
            error=float(np.sqrt(np.mean(pair.moving_variance))),
            reference_error=float(np.sqrt(np.mean(pair.reference_variance))),
        )
    assert result.measured
    pull = (result.shift - pair.shift) / result.error
    assert np.all(np.abs(pull) < 4.0), pull


def test_fourier_share_follows_the_square_roots_of_the_misfits():
    # Misfits beyond the noise of 16 and 1 (chi2 units): biases in the ratio 4 : 1.
    fits = InterpolantFits(116.0, 101.0, 10.0, 100.0, True)
    assert fits.fourier_share() == pytest.approx(0.8)
    # A Fourier model that fits to the noise takes no share.
    assert InterpolantFits(99.0, 90.0, 5.0, 100.0, True).fourier_share() == 0.0


@pytest.mark.parametrize(
    ("fits", "excess", "shows"),
    [
        (InterpolantFits(116.0, 101.0, 10.0, 100.0, True), 1.2, True),
        (InterpolantFits(116.0, 101.0, 10.0, 100.0, False), 1.2, False),  # noise estimated
        (InterpolantFits(116.0, 101.0, 10.0, 100.0, True), 1.0, False),  # no misfit shown
        (InterpolantFits(116.0, 101.0, 20.0, 100.0, True), 1.2, False),  # within the margin
    ],
)
def test_bias_is_shown_only_with_the_noise_given_a_misfit_and_the_spline_better(
    fits, excess, shows
):
    assert fits.shows_bias(excess) is shows


def test_fourier_bias_is_the_share_of_the_difference_beyond_its_noise():
    fits = InterpolantFits(116.0, 101.0, 10.0, 100.0, True)
    difference = np.array([0.05, 0.01])
    random = np.diag([0.03**2, 0.02**2])
    bias = fits.fourier_bias(difference, random)
    expected = [(0.05**2 - 0.03**2) * 0.8**2, 0.0]
    np.testing.assert_allclose(np.diag(bias), expected)
    assert bias[0, 1] == 0.0
