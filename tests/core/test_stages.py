"""Each stage of the pipeline on its own, against a truth built without it: a known
whole-pixel shift, an analytic covariance, a quadratic map, a hand-made mean."""

from types import SimpleNamespace

import numpy as np
import pytest
import scipy.ndimage

from napari_imreg.core import Registrar, make_crop_pair, make_extended, register
from napari_imreg.core._binned_pairs import make_binned_pair
from napari_imreg.core._deltachi2 import MAP_HALF_WIDTH, delta_chi2_map
from napari_imreg.core._errors import measure_errors
from napari_imreg.core._prepare import PreparedImage, box_eroded
from napari_imreg.core._refine import Fit
from napari_imreg.core._significance import _test_binning, match_significance
from napari_imreg.core._surface_binned import binned_estimate, binning_factors, masked_surface
from napari_imreg.core._surface_spectral import spectral_surface


@pytest.mark.parametrize("whole", [(0, 0), (3, -5), (-7, 2)])
def test_whole_pixel_stage_finds_a_known_integer_shift(whole):
    # np.roll moves a periodic image by whole pixels exactly.
    reference = make_extended((48, 40), seed=7)
    moving = np.roll(reference, tuple(-k for k in whole), axis=(0, 1))
    engine = Registrar(reference, boundary="wrap")._engine(0.0)
    image = engine._prepare(moving, None, None)
    _, start, guess, _ = spectral_surface(engine, image, 0.0, 0.0, split_noise=False)
    np.testing.assert_array_equal(start, whole)
    np.testing.assert_allclose(guess, whole, atol=1e-6)


def test_binned_stage_lands_within_a_binned_pixel():
    truth = np.array([7.3, -12.6])
    reference, moving = make_crop_pair((512, 512), truth, noise=0.05, seed=8)
    engine = Registrar(reference)._engine(1.0, prepare=False)
    assert engine._binning == (4, 4)
    estimate = binned_estimate(engine, moving)
    assert np.all(np.abs(estimate - truth) <= 2.0)


def test_volumes_are_binned_by_voxel_count():
    # Images bin an axis once per 128 px; volumes as if their voxels were an image's pixels.
    assert binning_factors((512, 512)) == (4, 4)
    assert binning_factors((200, 1000)) == (1, 4)
    assert binning_factors((1000,)) == (4,)
    assert binning_factors((96, 96, 96)) == (3, 3, 3)
    assert binning_factors((32, 32, 256)) == (1, 1, 4)
    assert binning_factors((24, 24, 24)) == (1, 1, 1)


def test_binned_volume_registers_to_an_exact_crop_shift():
    # A 3-D scene that is not band-limited, cut twice and binned: the truth is exact.
    rng = np.random.default_rng(4)
    scene = scipy.ndimage.gaussian_filter(rng.normal(size=(144, 144, 144)), 2.0)
    pair = make_binned_pair(scene, (64, 64, 64), (5, -7, 3), bin_factor=2, rng=5, snr=20)
    engine = Registrar(pair.reference)._engine(1.0, prepare=False)
    assert engine._binning == (2, 2, 2)
    assert np.all(np.abs(binned_estimate(engine, pair.moving) - pair.shift) <= 2.0)
    result = register(pair.reference, pair.moving, errors="fisher", outliers=False)
    assert result.measured
    assert np.all(np.abs(result.shift - pair.shift) < 5 * result.error)
    assert np.all(np.abs(result.shift - pair.shift) < 0.01)


def test_significance_bins_volumes_by_voxel_count_and_keeps_few_planes_sharp():
    # A cube bins like an image of as many pixels; a few planes of 512² keep 128² each.
    assert _test_binning((96, 96, 96)).tolist() == [3, 3, 3]
    assert _test_binning((4, 512, 512)).tolist() == [1, 4, 4]
    assert _test_binning((2048, 2048)).tolist() == [16, 16]
    reference, moving = make_crop_pair((4, 256, 256), (0.0, 2.5, -3.5), noise=0.05, seed=9)
    shifted = match_significance(reference, moving, max_shift=(1, 64, 64))
    assert shifted.significant
    # Binned by 4 on the long axes: the peak to within a binned pixel.
    assert np.all(np.abs(shifted.peak - (0.0, 2.5, -3.5)) <= (0.0, 2.0, 2.0))
    noise = np.random.default_rng(9).normal(size=(2, 4, 256, 256))
    assert not match_significance(noise[0], noise[1], max_shift=(1, 64, 64)).significant


def _quadratic_fit(hessian, scale):
    # A surface whose score has the white-noise covariance 2 H (no taper, no filter).
    surface = SimpleNamespace(filtered_cross=None)
    return Fit(surface, np.zeros(2), 0.0, hessian, True, 1.0, 100.0, None, scale, 1.0)


def test_errors_stage_gives_the_analytic_covariance_of_a_quadratic():
    hessian = np.array([[4.0, 1.0], [1.0, 2.0]])
    scale = 2.5
    engine = SimpleNamespace(
        _reference_error=None, shape=(32, 32), strength=0.0, _variance_factor=1.0, _tapers=None
    )
    errors = measure_errors(
        engine, None, 0.1, _quadratic_fit(hessian, scale), noise_var=0.01, floor_var=0.0
    )
    analytic = 2.0 * np.linalg.inv(scale * hessian)
    np.testing.assert_allclose(errors.covariance, analytic, rtol=1e-12)
    np.testing.assert_allclose(errors.sigma, np.sqrt(np.diag(analytic)), rtol=1e-12)
    assert errors.calibration == pytest.approx(1.0)
    # A floor of the noise's own variance doubles the covariance.
    floored = measure_errors(
        engine, None, 0.1, _quadratic_fit(hessian, scale), noise_var=0.01, floor_var=0.01
    )
    np.testing.assert_allclose(floored.covariance, 2.0 * analytic, rtol=1e-12)


def test_delta_chi2_stage_samples_the_quadratic_around_the_minimum():
    curvature = np.array([3.0, 0.5])
    shift = np.array([1.25, -0.5])

    def values(coords):
        grids = np.meshgrid(*coords, indexing="ij")
        return 10.0 + sum(
            c * (g - s) ** 2 for c, g, s in zip(curvature, grids, shift, strict=True)
        )

    surface = SimpleNamespace(values=values)
    factor, coords, delta = delta_chi2_map(surface, shift, 10.0, 2.0, np.array([0.1, 0.2]), 4)
    assert factor == 4
    expected = (np.arange(2 * MAP_HALF_WIDTH + 1) - MAP_HALF_WIDTH) / 4
    for axis in range(2):
        np.testing.assert_allclose(coords[axis], shift[axis] + expected)
    grids = np.meshgrid(expected, expected, indexing="ij")
    np.testing.assert_allclose(delta, 2.0 * (3.0 * grids[0] ** 2 + 0.5 * grids[1] ** 2))
    # "auto" samples the 3-sigma region of the widest axis across the map.
    auto = delta_chi2_map(surface, shift, 10.0, 2.0, np.array([0.1, 0.2]), "auto")[0]
    assert auto == int(np.ceil(MAP_HALF_WIDTH / (3 * 0.2)))


@pytest.mark.parametrize("shape", [(40, 37), (9, 3, 12), (2, 50), (3,)])
def test_the_filters_box_erosion_is_scipys_erosion_with_an_invalid_border(shape):
    # The prepare stage's valid pixels: those whose whole filter footprint is valid.
    rng = np.random.default_rng(len(shape))
    for sizes in ([5] * len(shape), [3, 5, 1][: len(shape)], [7] * len(shape)):
        valid = rng.random(shape) > 0.1
        given = valid.copy()
        expected = scipy.ndimage.binary_erosion(valid, np.ones(sizes, bool), border_value=0)
        np.testing.assert_array_equal(box_eroded(valid, sizes), expected)
        np.testing.assert_array_equal(valid, given)  # the input is not touched


def test_prepare_stage_zeroes_invalid_pixels_and_centres_the_valid_ones():
    image = np.arange(30.0).reshape(5, 6)
    image[1, 2] = np.nan
    mask = np.zeros((5, 6), dtype=bool)
    mask[3, 4] = True
    prepared = PreparedImage.prepare(image, mask, zero_mean=True, kernels=None, name="moving")
    valid = np.isfinite(image) & ~mask
    np.testing.assert_array_equal(prepared.valid, valid)
    np.testing.assert_allclose(prepared.data[valid], image[valid] - image[valid].mean())
    assert np.all(prepared.data[~valid] == 0.0)
    assert np.isnan(image[1, 2])  # the input is not touched


def _holed_crop_pair(truth, seed):
    """A 512² crop pair with holes in both images, garbage under them: the pair, the
    reference's mask and the moving image's."""
    reference, moving = make_crop_pair((512, 512), truth, noise=0.05, seed=seed)
    rng = np.random.default_rng(seed)
    masks = []
    for image in (reference, moving):
        mask = np.zeros(image.shape, bool)
        mask[rng.integers(0, 400) :][:90, 50:200] = True  # a block
        mask[:, rng.integers(0, 500) :][:, :6] = True  # a column stripe
        mask.flat[rng.choice(mask.size, 2000, replace=False)] = True  # scattered pixels
        image[mask] = rng.normal(0.0, 20.0 * image.std(), mask.sum())
        masks.append(mask)
    return reference, moving, masks


def test_masked_binned_stage_lands_within_a_binned_pixel():
    # A binned pixel is the mean of its block's valid pixels: the garbage under the
    # masks never reaches the binned images.
    truth = np.array([7.3, -12.6])
    reference, moving, (reference_mask, moving_mask) = _holed_crop_pair(truth, seed=9)
    registrar = Registrar(reference, reference_mask=reference_mask)
    engine = registrar._engine(1.0)
    assert engine._binning == (4, 4)
    assert not engine._reference_complete
    image = engine._prepare(moving, None, moving_mask)
    estimate = binned_estimate(engine, moving, image.valid)
    assert np.all(np.abs(estimate - truth) <= 2.0)


def test_the_masked_surface_near_the_binned_shift_is_the_whole_range_one_at_whole_pixels():
    # The short padding near the estimate is exact for every term: at whole-pixel
    # shifts the surface equals the one from spectra padded for every allowed shift.
    truth = np.array([-21.4, 9.8])
    reference, moving, (reference_mask, moving_mask) = _holed_crop_pair(truth, seed=10)
    engine = Registrar(reference, reference_mask=reference_mask)._engine(1.0)
    image = engine._prepare(moving, None, moving_mask)
    estimate = binned_estimate(engine, moving, image.valid)
    near, start, guess, power = masked_surface(engine, image, estimate, 0.0, 0.0, split_noise=True)
    whole, whole_start, _, whole_power = spectral_surface(
        engine, image, 0.0, 0.0, split_noise=True
    )
    assert near.shape != whole.shape  # a shorter transform...
    np.testing.assert_array_equal(start, whole_start)  # ...the same whole-pixel minimum
    assert np.all(np.abs(guess - truth) <= 0.5)
    window = [np.arange(c - 4, c + 5) for c in start]
    np.testing.assert_allclose(near.values(window), whole.values(window), rtol=1e-9)
    assert power == pytest.approx(whole_power, rel=1e-12)


@pytest.mark.parametrize("shape", [(4, 2000), (1500, 8)])
def test_a_thin_images_surface_near_the_binned_shift_is_the_full_ones_across_it(shape):
    # A thin image bins its long axis only, and its short axis keeps the full
    # road's period: at whole pixels of the long axis the surface equals the one
    # padded for every allowed shift, at any fraction of a pixel across.
    rng = np.random.default_rng(sum(shape))
    scene = scipy.ndimage.gaussian_filter(rng.normal(size=[2 * n + 24 for n in shape]), 2.0)
    short = int(np.argmin(shape))
    offset = np.array([-9, -9])
    offset[short] = 1
    pair = make_binned_pair(scene, shape, offset, bin_factor=2, rng=1, snr=20)
    engine = Registrar(pair.reference)._engine(1.0)
    assert engine._binning[short] == 1
    assert engine._binning[1 - short] > 1
    image = engine._prepare(pair.moving, None, None)
    estimate = binned_estimate(engine, pair.moving)
    assert np.all(np.abs(estimate - pair.shift) <= 2.0)
    near, start, _, power = masked_surface(engine, image, estimate, 0.0, 0.0, split_noise=True)
    whole, whole_start, _, whole_power = spectral_surface(
        engine, image, 0.0, 0.0, split_noise=True
    )
    assert near.shape[1 - short] < whole.shape[1 - short]  # a shorter transform...
    assert near.shape[short] == whole.shape[short]  # ...but not across
    np.testing.assert_array_equal(start, whole_start)
    window = [np.arange(c - 3, c + 4, dtype=np.float64) for c in start]
    window[short] = start[short] + np.linspace(-1.0, 1.0, 9)
    np.testing.assert_allclose(near.values(window), whole.values(window), rtol=1e-9)
    assert power == pytest.approx(whole_power, rel=1e-12)
