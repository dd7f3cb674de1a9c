"""Synthetic images: normalisation, reproducibility and the shifts built into them."""

import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from napari_imreg.core import make_crop_pair, make_extended, make_shifted


@pytest.mark.parametrize("shape", [64, (100,), (31, 40), (12, 13, 14)])
@pytest.mark.parametrize("power", [0.0, 2.0, 3.0])
def test_make_extended_is_normalised(shape, power):
    image = make_extended(shape, power=power, seed=0)
    expected_shape = (shape, shape) if isinstance(shape, int) else shape
    assert image.shape == expected_shape
    assert image.dtype == np.float64
    assert abs(image.mean()) < 1e-12
    assert abs(image.std() - 1.0) < 1e-12


def test_make_extended_is_reproducible_and_seed_dependent():
    np.testing.assert_array_equal(make_extended(32, seed=5), make_extended(32, seed=5))
    generator_a = np.random.default_rng(9)
    generator_b = np.random.default_rng(9)
    np.testing.assert_array_equal(
        make_extended(32, seed=generator_a), make_extended(32, seed=generator_b)
    )
    # Two unit-std fields from different seeds differ by order 1 somewhere.
    assert np.abs(make_extended(32, seed=5) - make_extended(32, seed=6)).max() > 0.5


@pytest.mark.parametrize("shape", [(32, 32), (16, 18, 20)])
def test_make_extended_has_no_nyquist_power_and_a_power_law(shape):
    image = make_extended(shape, power=2.0, seed=1)
    spectrum = np.fft.fftn(image)
    for axis, n in enumerate(shape):
        index = [slice(None)] * len(shape)
        index[axis] = n // 2
        assert np.abs(spectrum[tuple(index)]).max() < 1e-9 * np.abs(spectrum).max()
    # Steeper power puts less of the variance at high frequency.
    smooth = make_extended(shape, power=4.0, seed=1)
    assert np.abs(np.diff(smooth, axis=0)).std() < np.abs(np.diff(image, axis=0)).std()


@pytest.mark.parametrize("shift", [(2, -3), (-5, 0), (0, 7)])
def test_make_shifted_integer_shift_is_np_roll(shift):
    image = make_extended((24, 30), seed=2)
    moving = make_shifted(image, shift)
    # The moving image rolled by +shift gives the reference back.
    np.testing.assert_allclose(np.roll(moving, shift, axis=(0, 1)), image, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        moving, np.roll(image, tuple(-s for s in shift), axis=(0, 1)), rtol=0, atol=1e-12
    )


def test_make_shifted_subpixel_shift_of_a_sinusoid():
    n = 40
    x = np.arange(n)
    wave = np.cos(2 * np.pi * 3 * x / n)
    moving = make_shifted(wave, 0.35)
    # moving is the wave displaced by -shift: moving[x] = wave(x + shift).
    np.testing.assert_allclose(moving, np.cos(2 * np.pi * 3 * (x + 0.35) / n), rtol=0, atol=1e-12)


def test_make_shifted_noise():
    image = make_extended(128, seed=3)
    clean = make_shifted(image, (1.5, -0.5))
    noisy = make_shifted(image, (1.5, -0.5), noise=0.2, seed=4)
    residual = noisy - clean
    # The sample std of 128**2 Gaussian values is within a few 0.2 / sqrt(2 * 128**2).
    assert abs(residual.std() - 0.2) < 5 * 0.2 / np.sqrt(2 * residual.size)
    assert abs(residual.mean()) < 5 * 0.2 / np.sqrt(residual.size)
    np.testing.assert_array_equal(noisy, make_shifted(image, (1.5, -0.5), noise=0.2, seed=4))
    with pytest.raises(ValueError, match="noise must be >= 0, got -1"):
        make_shifted(image, 0, noise=-1)


@pytest.mark.parametrize("shape", [(40,), (24, 28), (10, 12, 14)])
def test_make_crop_pair_integer_shift_is_an_offset_crop(shape):
    shift = np.array([3, -2, 1][: len(shape)])
    reference, moving = make_crop_pair(shape, shift, seed=5)
    assert reference.shape == moving.shape == shape
    # moving[y] = reference[y + shift] wherever both exist.
    ref_window = tuple(slice(max(s, 0), n + min(s, 0)) for s, n in zip(shift, shape, strict=True))
    mov_window = tuple(slice(max(-s, 0), n - max(s, 0)) for s, n in zip(shift, shape, strict=True))
    np.testing.assert_allclose(moving[mov_window], reference[ref_window], rtol=0, atol=1e-12)
    # Crops of a larger scene: the edges do not wrap.
    rolled = np.roll(reference, tuple(-shift), axis=tuple(range(len(shape))))
    assert np.abs(moving - rolled).max() > 0.5


def test_make_crop_pair_noise_and_reproducibility():
    clean_ref, clean_mov = make_crop_pair(64, (1.25, -0.5), seed=6)
    ref, mov = make_crop_pair(64, (1.25, -0.5), noise=0.3, reference_noise=0.1, seed=6)
    tolerance = 5 / np.sqrt(2 * clean_ref.size)
    assert abs((mov - clean_mov).std() / 0.3 - 1) < tolerance
    assert abs((ref - clean_ref).std() / 0.1 - 1) < tolerance
    again = make_crop_pair(64, (1.25, -0.5), noise=0.3, reference_noise=0.1, seed=6)
    np.testing.assert_array_equal(again[0], ref)
    np.testing.assert_array_equal(again[1], mov)


def test_make_crop_pair_subpixel_shift_of_a_smooth_scene():
    # For a very smooth scene, cubic spline interpolation of the reference at y + shift
    # is far closer to the moving crop than at y - shift.
    shift = np.array([0.5, -1.5])
    reference, moving = make_crop_pair((48, 48), shift, power=6.0, seed=7)
    y, x = np.mgrid[8:40, 8:40]
    expected = map_coordinates(reference, [y + shift[0], x + shift[1]], order=3)
    wrong_sign = map_coordinates(reference, [y - shift[0], x - shift[1]], order=3)
    error = np.abs(moving[8:40, 8:40] - expected).max()
    assert error < 0.05 * np.abs(moving[8:40, 8:40] - wrong_sign).max()


@pytest.mark.parametrize("shape", [1, (4, 1), (), (0, 5)])
def test_bad_shapes(shape):
    with pytest.raises(ValueError, match="shape must have every length >= 2"):
        make_extended(shape)
