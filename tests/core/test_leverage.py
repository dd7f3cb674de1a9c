"""The bias-reduced block sandwich, its spread under the noise model, and the noise level."""

import numpy as np
import pytest

from napari_imreg.core._leverage import adjusted_sandwich, noise_level, sandwich_beyond_noise
from napari_imreg.core._pipeline_residual import (
    gauss_newton_hessian,
    influence_grid,
    largest_block_covariance,
)

SIDE = 32


def _star_jacobian(width=1.2):
    """A linear model of five stars of falling flux on a flat sky: the columns of a
    shift (the stars' gradients), the gain (the image) and an offset; and the image."""
    y, x = np.mgrid[0:SIDE, 0:SIDE].astype(float)
    image = np.ones((SIDE, SIDE))
    slopes = [np.zeros((SIDE, SIDE)), np.zeros((SIDE, SIDE))]
    for cy, cx, flux in [(8.3, 9.1, 400.0), (22.6, 12.4, 150.0), (14.2, 25.7, 60.0),
                         (27.1, 27.9, 20.0), (5.5, 24.2, 10.0)]:  # fmt: skip
        star = flux * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * width**2))
        image += star
        slopes[0] += star * (y - cy) / width**2
        slopes[1] += star * (x - cx) / width**2
    return np.stack([*slopes, image, np.ones((SIDE, SIDE))], -1), image


def _draws(variance, trials, seed):
    """Least-squares fits (unit weights) of pure noise of ``variance`` under the star
    model: the exact covariance of the fitted shift (H^-1 J^T V J H^-1), the noise
    term at the mean variance, and per draw the bias-reduced sandwich, its effective
    blocks and the plain (CR1) block sandwich."""
    jacobian, _ = _star_jacobian()
    weight = np.ones((SIDE, SIDE))
    hessian = gauss_newton_hessian(jacobian, weight)
    inverse = np.linalg.inv(hessian)
    flat = jacobian.reshape(-1, 4)
    exact = inverse @ (flat.T * variance.ravel()) @ flat @ inverse
    rng = np.random.default_rng(seed)
    adjusted, effective, plain = [], [], []
    for _ in range(trials):
        noise = rng.normal(size=variance.shape) * np.sqrt(variance)
        residual = noise - jacobian @ (inverse @ (flat.T @ noise.ravel()))
        sandwich, blocks = adjusted_sandwich(jacobian, residual, weight, 4)
        adjusted.append(sandwich)
        effective.append(blocks)
        grid = influence_grid(jacobian, residual, weight, hessian, 4)
        plain.append(largest_block_covariance(grid))
    term = inverse[:2, :2] * variance.mean()
    return exact[:2, :2], term, np.array(adjusted), np.array(effective), np.array(plain)


@pytest.mark.parametrize("photon", [False, True])
def test_the_adjusted_sandwich_holds_the_scatter_that_leverage_hides(photon):
    # A few bright stars carry the shift: at the fitted shift their residual is pulled
    # towards the model and the plain block sandwich falls to half the exact
    # variance, with white noise (the working model) or photon noise alike. Undoing
    # each block's leverage restores it (the largest of three block sizes: a little
    # above it where it is unbiased at each).
    _, image = _star_jacobian()
    variance = image if photon else np.ones((SIDE, SIDE))
    exact, _, adjusted, _, plain = _draws(variance, 300, seed=4)
    ratio = np.diagonal(adjusted.mean(axis=0)) / np.diag(exact)
    assert np.all((ratio > 0.8) & (ratio < 1.6)), ratio
    assert np.all(np.diagonal(plain.mean(axis=0)) / np.diag(exact) < 0.75)


def test_the_sandwich_counts_only_beyond_its_chi_squared_spread():
    # Two or three effective blocks: the sandwich is spread as a chi-squared of as
    # many degrees of freedom. Under the noise model it stays inside the limit;
    # photon noise, 24 times the noise term that puts every pixel at the mean
    # variance, goes beyond it in most draws.
    _, image = _star_jacobian()
    for variance, most in ((np.ones((SIDE, SIDE)), False), (image, True)):
        exact, term, adjusted, effective, _ = _draws(variance, 200, seed=5)
        assert np.all(effective < 4.0)
        counted = [
            np.any(sandwich_beyond_noise(sandwich, blocks, term) != 0)
            for sandwich, blocks in zip(adjusted, effective, strict=True)
        ]
        if most:
            assert np.all(np.diag(exact) > 20 * np.diag(term))
            assert np.mean(counted) > 0.7
        else:
            assert np.mean(counted) < 0.02


def test_effective_blocks_count_the_blocks_that_carry_the_information():
    # Information spread evenly over 64 blocks, or all of it in one star.
    rng = np.random.default_rng(6)
    even = rng.normal(size=(SIDE, SIDE, 3))
    residual = rng.normal(size=(SIDE, SIDE))
    weight = np.ones((SIDE, SIDE))
    _, blocks = adjusted_sandwich(even, residual, weight, 4)
    assert np.all(blocks > 8)  # the largest of three sizes: 64, 16 or 4 blocks
    jacobian, _ = _star_jacobian()
    _, blocks = adjusted_sandwich(jacobian, residual, weight, 4)
    assert np.all(blocks < 4)


def test_the_noise_level_is_the_typical_blocks_not_the_features():
    # Noise twice the variance stated, in every pixel: a level of 2 (the median of a
    # chi-squared of 16 degrees of freedom over 16: within 10%). A misfit a hundred
    # times that on three blocks leaves it; a filter that halves the noise's
    # variance is divided out.
    rng = np.random.default_rng(7)
    base = np.ones((SIDE, SIDE))
    weight = base / 0.25
    residual = rng.normal(0.0, np.sqrt(2 * 0.25), (SIDE, SIDE))
    assert noise_level(residual, weight, base, 4, 1.0) == pytest.approx(2.0, rel=0.1)
    residual[:4, :12] *= 10.0
    assert noise_level(residual, weight, base, 4, 1.0) == pytest.approx(2.0, rel=0.1)
    assert noise_level(residual, weight, base, 4, 0.5) == pytest.approx(4.0, rel=0.1)
