"""The image-space stage, the binned real-scene pairs and the significance test (issue 13)."""

import warnings

import numpy as np
import pytest

from napari_imreg.core import register
from napari_imreg.core._binned_pairs import bin_image, load_scene, make_binned_pair
from napari_imreg.core._image_fit import fit_image_shift, sandwich_covariance, variance_model
from napari_imreg.core._significance import match_significance


def _register(reference, moving, **kwargs):
    """The pipeline's surface answer, which the stage starts from (``register`` runs the
    stage itself by default; these tests exercise the stage alone)."""
    kwargs.setdefault("errors", "fisher")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return register(reference, moving, **kwargs)


def test_binned_pair_has_the_shift_of_register_convention():
    # A linear ramp binned is the same ramp: moving(x - shift) = reference(x) exactly.
    y, x = np.mgrid[0:200, 0:200].astype(float)
    scene = 3.0 * y + 5.0 * x
    pair = make_binned_pair(scene, (10, 10), (6, -2), noise="none", start=(40, 40))
    assert pair.shift.tolist() == [1.5, -0.5]
    i, j = np.mgrid[0:10, 0:10].astype(float)
    # Bin centres of the windows starting at (40, 40) and (46, 38), full resolution.
    assert np.allclose(pair.reference, 3.0 * (41.5 + 4 * i) + 5.0 * (41.5 + 4 * j))
    assert np.allclose(pair.moving, 3.0 * (47.5 + 4 * i) + 5.0 * (39.5 + 4 * j))
    # moving(x - shift), evaluated on the (linear) ramp, is the reference.
    back = 3.0 * (47.5 + 4 * (i - 1.5)) + 5.0 * (39.5 + 4 * (j + 0.5))
    assert np.allclose(back, pair.reference)


def test_bin_image_means_blocks():
    image = np.arange(16.0).reshape(4, 4)
    assert np.allclose(bin_image(image, 2), [[2.5, 4.5], [10.5, 12.5]])


def test_binned_pair_noise_matches_its_variance():
    scene = load_scene("camera")
    pair = make_binned_pair(scene, (64, 64), (0, 0), rng=0, noise="poisson", counts=400.0)
    residual = (pair.reference - pair.reference_clean) / np.sqrt(pair.reference_variance)
    assert abs(residual.std() - 1.0) < 0.05


def test_sandwich_matches_the_analytic_covariance_of_a_line_fit():
    # y = a x + b with heteroscedastic noise: the robust covariance is
    # H^-1 (sum sigma_i^2 J_i J_i^T) H^-1, independent of the draw.
    rng = np.random.default_rng(3)
    x = np.linspace(-1, 1, 4000)
    sigma = 0.1 + 0.9 * np.abs(x)
    jac = np.stack([x, np.ones_like(x)], -1)
    hessian = jac.T @ jac
    inverse = np.linalg.inv(hessian)
    truth = inverse @ (jac.T * sigma**2) @ jac @ inverse
    residual = rng.normal(0, sigma)
    fit, _ = sandwich_covariance(
        jac, residual - jac @ (inverse @ jac.T @ residual), np.ones_like(x), block=1
    )
    assert np.allclose(np.diag(fit), np.diag(truth), rtol=0.1)


def test_sandwich_counts_correlated_residuals_by_blocks():
    # Residuals constant over runs of 8 pixels: blocks of 8 see the 8x larger variance.
    rng = np.random.default_rng(4)
    n = 8192
    jac = np.ones((n, 1))
    residual = np.repeat(rng.normal(size=n // 8), 8)
    per_pixel, _ = sandwich_covariance(jac, residual, np.ones(n), block=1)
    blocks, _ = sandwich_covariance(jac, residual, np.ones(n), block=8)
    assert 6.0 < blocks[0, 0] / per_pixel[0, 0] < 10.0


@pytest.mark.parametrize("scene", ["astronaut", "coins", "immunohistochemistry"])
def test_pulls_are_calibrated_on_held_out_real_scenes(scene):
    # Scenes not used while developing the stage; exact truth from crop and bin.
    rng = np.random.default_rng(11)
    image = load_scene(scene)
    pulls = []
    for snr in (3.0, 30.0):
        for _ in range(8):
            pair = make_binned_pair(image, (40, 40), rng.integers(-8, 9, 2), rng=rng, snr=snr)
            start = _register(pair.reference, pair.moving).shift
            fit = fit_image_shift(pair.reference, pair.moving, start)
            pulls.append((fit.shift - pair.shift) / fit.error)
    pulls = np.array(pulls)
    # 32 pulls: the rms of a calibrated sample is 1 +/- 0.13 (1 sigma).
    assert 0.6 < np.sqrt(np.mean(pulls**2)) < 1.5
    assert np.all(np.abs(pulls) < 4.5)


def test_data_derived_poisson_maps_no_longer_bias_the_shift():
    rng = np.random.default_rng(5)
    image = load_scene("moon")
    errors = []
    for _ in range(6):
        pair = make_binned_pair(
            image, (48, 48), rng.integers(-8, 9, 2), rng=rng, noise="poisson", counts=1e4
        )
        ref_map, mov_map = np.maximum(pair.reference, 1), np.maximum(pair.moving, 1)
        start = _register(pair.reference, pair.moving).shift
        ref_var, mov_var = variance_model(ref_map, mov_map, start)
        fit = fit_image_shift(
            pair.reference, pair.moving, start, reference_variance=ref_var, moving_variance=mov_var
        )
        errors.append((fit.shift - pair.shift) / fit.error)
    assert np.all(np.abs(errors) < 4)


def test_variance_model_keeps_each_images_level():
    ref = np.full((32, 32), 4.0)
    mov = np.full((32, 32), 9.0)
    ref_model, mov_model = variance_model(ref, mov, (1.5, -2.0))
    assert np.allclose(ref_model, 4.0)
    assert np.allclose(mov_model, 9.0)


def test_stage_does_not_depend_on_units():
    rng = np.random.default_rng(6)
    pair = make_binned_pair(load_scene("camera"), (40, 40), (5, -7), rng=rng, snr=20)
    start = _register(pair.reference, pair.moving).shift
    base = fit_image_shift(pair.reference, pair.moving, start)
    for factor in (1e-30, 1e30):
        fit = fit_image_shift(pair.reference * factor, pair.moving * factor, start)
        assert np.allclose(fit.shift, base.shift, atol=0.01 * base.error.min())
        assert np.allclose(fit.error, base.error, rtol=0.01)


def test_stage_down_weights_a_hot_pixel():
    rng = np.random.default_rng(7)
    pair = make_binned_pair(load_scene("camera"), (40, 40), (5, -7), rng=rng, snr=30)
    hot = pair.moving.copy()
    hot[20, 20] += 1e3 * pair.moving.std()
    start = _register(pair.reference, pair.moving).shift
    fit = fit_image_shift(pair.reference, hot, start, robust=True)
    assert fit.outliers >= 1
    assert np.all(np.abs(fit.shift - pair.shift) < 4 * fit.error)


def test_significance_rejects_pure_noise_and_accepts_a_real_pair():
    rng = np.random.default_rng(8)
    false_alarms = sum(
        match_significance(
            rng.normal(size=(48, 48)), rng.normal(size=(48, 48)), max_shift=12
        ).significant
        for _ in range(30)
    )
    # alpha = 1e-3: any false alarm in 30 is already a 3% event.
    assert false_alarms == 0
    pair = make_binned_pair(load_scene("coins"), (48, 48), (9, -5), rng=rng, snr=3)
    result = match_significance(pair.reference, pair.moving, max_shift=12)
    assert result.significant
    assert np.array_equal(result.peak, np.round(pair.shift))


def test_significance_flags_a_peak_on_the_search_edge():
    rng = np.random.default_rng(9)
    pair = make_binned_pair(load_scene("camera"), (48, 48), (12, 0), rng=rng, snr=30)
    result = match_significance(pair.reference, pair.moving, max_shift=2)
    assert result.on_boundary
    inside = match_significance(pair.reference, pair.moving, max_shift=8)
    assert not inside.on_boundary


@pytest.mark.parametrize("boundary", ["overlap", "wrap"])
@pytest.mark.parametrize("shift", [(0.3, -1.7), (-5.2, 3.9)])
def test_spline_model_matches_scipy_shift(boundary, shift):
    from scipy import ndimage

    from napari_imreg.core._spline_model import spline_model

    rng = np.random.default_rng(10)
    image = rng.normal(size=(20, 24))
    mode = "grid-wrap" if boundary == "wrap" else "mirror"
    coefficients = ndimage.spline_filter(image, order=3, mode=mode)
    value, gradients = spline_model(coefficients, np.array(shift), wrap=boundary == "wrap")
    expected = ndimage.shift(image, shift, order=3, mode=mode)
    inside = (slice(6, -6), slice(6, -6)) if boundary == "overlap" else (slice(None),) * 2
    assert np.allclose(value[inside], expected[inside], atol=1e-12)
    # The gradient against a central difference of the model in the shift.
    step = 1e-5
    for axis in range(2):
        moved = np.array(shift, dtype=float)
        moved[axis] += step
        plus, _ = spline_model(coefficients, moved, wrap=boundary == "wrap")
        moved[axis] -= 2 * step
        minus, _ = spline_model(coefficients, moved, wrap=boundary == "wrap")
        numeric = -(plus - minus) / (2 * step)
        assert np.allclose(gradients[axis][inside], numeric[inside], atol=1e-6)


@pytest.mark.parametrize("ndim", [1, 3])
def test_stage_and_significance_work_in_other_dimensions(ndim):
    from scipy import ndimage

    rng = np.random.default_rng(12)
    size = {1: 4096, 3: 96}[ndim]
    shape = {1: (256,), 3: (16, 16, 16)}[ndim]
    scene = ndimage.gaussian_filter(rng.normal(size=(size,) * ndim), 3.0)
    pulls = []
    for _ in range(6):
        offset = rng.integers(-6, 7, ndim)
        pair = make_binned_pair(scene, shape, offset, rng=rng, snr=20)
        start = _register(pair.reference, pair.moving).shift
        fit = fit_image_shift(pair.reference, pair.moving, start)
        assert fit.shift.shape == (ndim,)
        pulls.append((fit.shift - pair.shift) / fit.error)
        sig = match_significance(pair.reference, pair.moving, max_shift=4, shift=start)
        assert sig.measured
    assert np.all(np.abs(pulls) < 4)
