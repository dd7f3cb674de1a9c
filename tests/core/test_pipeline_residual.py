"""The pipeline's own residual: the Fourier jet, per-block influences and the bias term."""

import numpy as np
import pytest
import scipy.integrate
import scipy.stats
from scipy import ndimage

from napari_imreg.core._pipeline_residual import (
    ComparedImages,
    Witness,
    broader_than_modelled,
    fourier_jet,
    fourier_shifted,
    influence_grid,
    largest_block_covariance,
    least_squares,
    odd_fast_length,
    pipeline_influences,
)


def _wave(shape, shift):
    """A periodic sum of two plane waves moved by ``shift``, and its gradient."""
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    ky, kx = 3 / shape[0], 5 / shape[1]
    phase = 2 * np.pi * (ky * (y - shift[0]) + kx * (x - shift[1]))
    value = np.sin(phase) + 0.5 * np.cos(2 * phase)
    slope = np.cos(phase) - np.sin(2 * phase)
    return value, [2 * np.pi * ky * slope, 2 * np.pi * kx * slope]


@pytest.mark.parametrize("shift", [(0.3, -0.7), (1.25, 2.5)])
def test_fourier_jet_moves_a_periodic_image_and_differentiates_it(shift):
    image, _ = _wave((32, 40), (0.0, 0.0))
    value, gradients = fourier_jet(image, np.array(shift), wrap=True)
    truth, truth_gradients = _wave((32, 40), shift)
    np.testing.assert_allclose(value, truth, atol=1e-10)
    for gradient, expected in zip(gradients, truth_gradients, strict=True):
        np.testing.assert_allclose(gradient, expected, atol=1e-10)


@pytest.mark.parametrize("shape", [(120, 8), (120, 7), (31, 40)])
def test_the_fourier_model_does_not_depend_on_the_orientation(shape):
    # A transposed image moved by the transposed shift is the transposed result. An
    # even padded axis has a Nyquist term, which the real transform's last axis and
    # the complex axes shifted differently: 3x the noise apart on an 8 x 120 real pair.
    image = np.random.default_rng(7).normal(size=shape)
    shift = np.array([0.3, -1.48])
    moved = fourier_shifted(image, shift, wrap=False)
    transposed = fourier_shifted(image.T, shift[::-1], wrap=False).T
    np.testing.assert_allclose(moved, transposed, atol=1e-12)


def test_the_padded_length_is_the_smallest_odd_fast_one():
    # Odd (no Nyquist term) and of factors 3, 5, 7 and 11 only: a prime length such as
    # 163, where the margins of a 128-pixel window came to, cost ten times 165.
    def smooth(n):
        return all(p in (3, 5, 7, 11) for p in range(2, n + 1) if n % p == 0 and _prime(p))

    for least in range(1, 400):
        size = odd_fast_length(least)
        assert size >= least
        assert size % 2 == 1
        assert smooth(size)
        assert not any(smooth(n) for n in range(least + 1 - least % 2, size, 2))


def _prime(n):
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))


@pytest.mark.parametrize("shape", [(100, 100), (120, 97), (128, 128)])
def test_a_blob_inside_the_image_moves_to_its_analytic_place(shape):
    # A Gaussian blob far from the edges and from their mirror images in the margins
    # (where the periodic seam's jump rings) moved by a sub-pixel shift is the blob at
    # the moved centre, whatever length the margins round the axes up to.
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    centre, sigma, shift = np.array(shape) / 2, 2.0, np.array([0.3, -1.48])

    def blob(at):
        return np.exp(-((y - at[0]) ** 2 + (x - at[1]) ** 2) / (2 * sigma**2))

    moved = fourier_shifted(blob(centre), shift, wrap=False)
    np.testing.assert_allclose(moved, blob(centre + shift), atol=1e-7)


def test_fourier_jet_curvatures_are_the_second_derivatives():
    # d2/dx_k dx_m of sin(phase) + 0.5 cos(2 phase) is -(w_k w_m)(sin(phase) + 2 cos(2 phase)).
    shape, shift = (32, 40), np.array([0.3, -0.7])
    image, _ = _wave(shape, (0.0, 0.0))
    *_, curvatures = fourier_jet(image, shift, wrap=True, curvatures=True)
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    rates = [2 * np.pi * 3 / shape[0], 2 * np.pi * 5 / shape[1]]
    phase = rates[0] * (y - shift[0]) + rates[1] * (x - shift[1])
    bend = -(np.sin(phase) + 2 * np.cos(2 * phase))
    assert sorted(curvatures) == [(0, 0), (0, 1), (1, 1)]
    for (k, m), second in curvatures.items():
        np.testing.assert_allclose(second, rates[k] * rates[m] * bend, atol=1e-9)


def _smooth_scene(shape, shift):
    """A periodic sum of plane waves of fixed phases, moved by ``shift``."""
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    waves = [(1, 2, 0.3), (3, -1, 1.9), (2, 3, 4.0), (4, 1, 2.2), (-2, 5, 5.1)]
    return sum(
        np.cos(2 * np.pi * (ky * (y - shift[0]) / shape[0] + kx * (x - shift[1]) / shape[1]) + p)
        for ky, kx, p in waves
    )


def _least_squares_shift(reference, moving, start):
    """The shift of ``gain * moving(x - s) + offset`` that fits ``reference`` best
    (Gauss-Newton under the Fourier model)."""
    shift, ones = np.array(start, dtype=np.float64), np.ones_like(reference)
    for _ in range(8):
        value, gradients = fourier_jet(moving, shift, wrap=True)
        gain, offset = least_squares([value, ones], reference, ones)
        columns = [-gain * g for g in gradients] + [value, ones]
        shift += least_squares(columns, reference - gain * value - offset, ones)[:2]
    return shift


def test_observed_sandwich_holds_the_noise_that_gauss_newton_counts_as_signal():
    # Two filtered images of one smooth scene, both noisy at a signal-to-noise near 1,
    # as the pipeline compares them. The spread of the least-squares shift over many
    # pairs is the truth: the sandwich through the observed Hessian matches it, the
    # Gauss-Newton one (the moving image's noise read as curvature) falls short.
    rng = np.random.default_rng(11)
    shape, truth, sigma = (48, 48), np.array([0.3, -0.4]), 1.5
    shifts, observed, gauss_newton = [], [], []
    for _ in range(120):
        pair = [
            ndimage.gaussian_filter(
                _smooth_scene(shape, s) + rng.normal(0, sigma, shape), 0.7, mode="wrap"
            )
            for s in (truth, (0.0, 0.0))
        ]
        shift = _least_squares_shift(*pair, truth)
        shifts.append(shift)
        compared = ComparedImages(*pair)
        kwargs = {"variance": 1.0, "basis": [np.ones(shape)], "wrap": True, "block": 4}
        grids = pipeline_influences(compared, shift, **kwargs)
        for grid, out in zip(grids, (gauss_newton, observed), strict=True):
            out.append(np.trace(largest_block_covariance(grid)))
    spread = np.trace(np.cov(np.array(shifts).T))
    # 120 pairs: the spread's own relative error is about 0.13.
    assert 0.7 < np.mean(observed) / spread < 1.5
    assert np.mean(gauss_newton) / spread < 0.5


def test_the_observed_sandwich_counts_only_beyond_both_models_and_its_noise():
    # Influences of 256 blocks whose total variance is the modelled one, or 1.5x it,
    # or 4x: the limit is 4 sampling errors of the blocks the estimate was summed over
    # (at most 1.46x the modelled variance, at 16 blocks), so only 4x counts.
    rng = np.random.default_rng(9)
    modelled = np.diag([1e-4, 1e-4])
    sandwich = np.diag([0.5e-4, 1e-4])
    for factor, raised in ((1.0, False), (1.5, False), (4.0, True)):
        grid = rng.standard_normal((16, 16, 2)) * np.sqrt(factor * 1e-4 / 256)
        result = broader_than_modelled(sandwich, grid, modelled)
        if raised:
            assert np.all(np.diag(result) > 2.5e-4)
        else:
            np.testing.assert_array_equal(result, sandwich)
    np.testing.assert_array_equal(broader_than_modelled(sandwich, None, modelled), sandwich)


def test_influences_sum_to_the_least_squares_step():
    # A linear model: the influences of all blocks add up to H^-1 J^T W r, the
    # Gauss-Newton step that lstsq finds on the same weighted problem.
    rng = np.random.default_rng(5)
    shape = (24, 20)
    jacobian = rng.standard_normal((*shape, 3))
    residual = rng.standard_normal(shape)
    weight = rng.uniform(0.5, 2.0, shape)
    hessian = (jacobian * weight[..., None]).reshape(-1, 3).T @ jacobian.reshape(-1, 3)
    grid = influence_grid(jacobian, residual, weight, hessian, 8)
    root = np.sqrt(weight).ravel()
    step = np.linalg.lstsq(jacobian.reshape(-1, 3) * root[:, None], residual.ravel() * root)[0]
    assert grid.shape == (3, 3, 2)
    np.testing.assert_allclose(grid.reshape(-1, 2).sum(axis=0), step[:2], atol=1e-12)


def test_block_covariance_of_independent_influences_is_their_total_variance():
    # Independent blocks of known variance: G/(G-1) sum i i^T estimates G sigma^2 at
    # every block size (merging blocks adds their variances), with G - 1 = 255, 63
    # and 15 degrees of freedom at the three sizes. The estimate of largest trace is
    # kept: on the axis that dominates the trace its mean is that of the largest of
    # three scaled chi-squares, at most their mean if they were independent (nested
    # sums are correlated, which only lowers it), and at least 1.
    rng = np.random.default_rng(6)
    sigma = np.array([0.02, 0.05])
    ratios = []
    for _ in range(1000):
        grid = rng.standard_normal((16, 16, 2)) * sigma
        ratios.append(np.diag(largest_block_covariance(grid)) / (256 * sigma**2))
    ratios = np.array(ratios)
    mean, standard_error = ratios.mean(axis=0), ratios.std(axis=0) / np.sqrt(len(ratios))
    dofs = (255, 63, 15)
    largest_of_independent = scipy.integrate.quad(
        lambda x: 1 - np.prod([scipy.stats.chi2.cdf(x * dof, dof) for dof in dofs]), 0, np.inf
    )[0]
    assert np.all(mean > 1 - 4 * standard_error), mean
    assert np.all(mean < largest_of_independent + 4 * standard_error), mean


@pytest.mark.parametrize("independent", [False, True])
def test_witness_bias_is_the_difference_of_biases_beyond_the_noise(independent):
    # Two estimates of one shift, the witness noisier (its noise holds the first's:
    # Hausman's nested case). Without a bias the allowance is a fraction of the
    # noise's variance; with a bias of 0.05 px on one axis it is that bias squared,
    # to within the noise, and nothing on the other axis.
    rng = np.random.default_rng(8)
    first, extra = 1e-4, 3e-4
    covariance, witness_covariance = np.eye(2) * first, np.eye(2) * (first + extra)
    bias = np.array([0.0, 0.05])
    clean, biased = [], []
    for _ in range(2000):
        shift = rng.normal(0.0, np.sqrt(first), 2)
        witness = shift + rng.normal(0.0, np.sqrt(extra), 2)
        clean_witness = Witness.of(shift, covariance, witness, witness_covariance)
        clean.append(np.diag(clean_witness.bias(independent=independent)))
        moved = Witness.of(shift, covariance, witness + bias, witness_covariance)
        biased.append(np.diag(moved.bias(independent=independent)))
    assert np.all(np.mean(clean, axis=0) < 0.5 * extra)
    assert np.mean(biased, axis=0)[0] < 0.5 * extra
    # Less the noise's share: Hausman's the noise's own variance, the bound twice it.
    share = extra if not independent else extra + 2 * first
    np.testing.assert_allclose(np.mean(biased, axis=0)[1], 0.05**2, atol=1.5 * share)
