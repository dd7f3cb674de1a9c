"""A phase error that grows with the frequency (an aliased scene drawn on the pixel
grid): the errors with the noise given must hold the bias every strength shares."""

import warnings

import numpy as np
import pytest

from napari_imreg.core import register
from napari_imreg.core._binned_pairs import load_scene, make_binned_pair
from napari_imreg.core._dispersion import dispersion_bias
from napari_imreg.core._pipeline_residual import (
    fourier_jet,
    fourier_third,
    least_squares,
)

SIDE = 48


def _dispersed_pair(cubic, seed=4):
    """A smooth periodic scene and its copy moved by ``SHIFT`` with a phase error
    ``2 pi cubic k**3`` along each axis (a band-limited scene: no other misfit)."""
    rng = np.random.default_rng(seed)
    k = np.fft.fftfreq(SIDE)
    envelope = np.exp(-((k[:, None] ** 2 + k[None, :] ** 2) / 0.02))
    spectrum = np.fft.fft2(rng.normal(size=(SIDE, SIDE))) * envelope
    shift = np.array([0.3, -0.45])
    phase = sum(
        2 * np.pi * (kk * s + cubic * kk**3)
        for kk, s in ((k[:, None], shift[0]), (k[None, :], shift[1]))
    )
    reference = np.fft.ifft2(spectrum * np.exp(-1j * phase)).real
    return reference, np.fft.ifft2(spectrum).real, shift


def _translation_fit(reference, moving):
    """The least-squares shift, gain and offset of ``moving`` onto ``reference`` (Fourier
    shifts, periodic), by Gauss-Newton from no shift: the shift, Jacobian, residual."""
    shift = np.zeros(2)
    weight = np.ones_like(reference)
    for _ in range(8):
        value, gradients = fourier_jet(moving, shift, wrap=True)
        columns = [value, np.ones_like(value)]
        gain, offset = least_squares(columns, reference, weight)
        residual = reference - gain * value - offset
        jacobian = np.stack([-gain * g for g in gradients] + columns, -1)
        flat = jacobian.reshape(-1, 4)
        shift = shift + np.linalg.solve(flat.T @ flat, flat.T @ residual.ravel())[:2]
    return shift, jacobian, residual


def test_a_phase_error_of_the_third_order_is_counted_as_the_bias_it_puts_on_the_shift():
    reference, moving, truth = _dispersed_pair(cubic=2.0)
    shift, jacobian, residual = _translation_fit(reference, moving)
    bias = shift - truth
    assert np.all(np.abs(bias) > 1e-3)  # the translation takes part of it for the shift
    third = fourier_third(moving, shift, wrap=True)
    term = np.sqrt(np.diag(dispersion_bias(jacobian, residual, np.ones_like(residual), third, 4)))
    np.testing.assert_allclose(term, np.abs(bias), rtol=0.1)


def _fired_on_noise(draws: int, block: int) -> int:
    """How many of ``draws`` noisy copies of a pair with no phase error the term fires on."""
    reference, moving, _ = _dispersed_pair(cubic=0.0)
    rng = np.random.default_rng(5)
    fired = 0
    for _ in range(draws):
        noisy = reference + rng.normal(0.0, 0.01 * reference.std(), reference.shape)
        shift, jacobian, residual = _translation_fit(noisy, moving)
        third = fourier_third(moving, shift, wrap=True)
        weight = np.ones_like(noisy)
        fired += bool(np.any(dispersion_bias(jacobian, residual, weight, third, block)))
    return fired


def test_no_phase_error_adds_nothing():
    assert _fired_on_noise(10, block=4) <= 1


def test_noise_alone_does_not_fire_on_a_spread_from_few_blocks():
    # Blocks of 12 px on 48²: the largest covariance is read from 16 blocks (15 degrees
    # of freedom). At a normal 4 sigma the move fired on 2 of these 100 noise draws
    # (its rate should be about 1e-4); at Student's t on the blocks' count, on none.
    assert _fired_on_noise(100, block=12) == 0


def _page_pair(snr, trial):
    """A binned 3x3 page of text, 48² (the glyphs' edges all at one phase of the grid)."""
    rng = np.random.default_rng([7, int(snr), trial])
    offset = rng.integers(-9, 10, 2)
    return make_binned_pair(
        load_scene("page"), (SIDE, SIDE), offset, bin_factor=3, rng=rng, snr=snr
    )


@pytest.mark.parametrize("maps", [False, True])
def test_given_noise_errors_hold_the_bias_of_binned_text(maps):
    # Every strength and the spline shared a 0.09 px bias here; before the dispersion
    # term the pair missed by 8 sigma with the noise given, scalar or maps alike.
    pair = _page_pair(30.0, 2)
    errors = pair.given_noise(maps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = register(pair.reference, pair.moving, **errors)
    assert result.measured
    pull = (result.shift - pair.shift) / result.error
    assert np.all(np.abs(pull) < 4.0), pull
