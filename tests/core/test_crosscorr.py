"""Cross-correlation registration: known shifts, sign, calibrated errors, validation."""

import numpy as np
import pytest

from napari_imreg.core import (
    fourier_shift,
    make_extended,
    make_shifted,
    register,
    register_dft,
    register_periodic,
    register_taylor,
)

SHAPES = [(64, 64), (65, 65), (64, 65), (31, 40)]
SHIFTS = [(1.3, -2.6), (-0.5, 0.5), (7.25, 3.75), (0.0, 0.0)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("shift", SHIFTS)
def test_taylor_recovers_known_shift(shape, shift):
    image = make_extended(shape, seed=1)
    moving = make_shifted(image, shift)
    result = register_taylor(image, moving)
    np.testing.assert_allclose(result.shift, shift, atol=1e-6)
    assert result.method == "taylor"
    assert result.boundary == "wrap"
    assert result.upsample_factor is None


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("shift", SHIFTS)
@pytest.mark.parametrize("factor", [1, 10, 100])
def test_dft_recovers_known_shift_on_its_grid(shape, shift, factor):
    image = make_extended(shape, seed=2)
    moving = make_shifted(image, shift)
    result = register_dft(image, moving, upsample_factor=factor)
    np.testing.assert_allclose(result.shift, shift, atol=0.5 / factor + 1e-9)
    np.testing.assert_allclose(result.shift * factor, np.round(result.shift * factor), atol=1e-9)
    # the rounding to the grid is part of the error: never below the grid's own spread
    assert np.all(result.error >= 1 / (np.sqrt(12) * factor) - 1e-12)


@pytest.mark.parametrize("method", [register_taylor, register_dft])
def test_sign_round_trip(method):
    """fourier_shift(moving, shift) reproduces the reference."""
    image = make_extended((48, 50), seed=3)
    moving = fourier_shift(image, (-2.4, 1.7))
    kwargs = {"upsample_factor": 50} if method is register_dft else {}
    result = method(image, moving, **kwargs)
    np.testing.assert_allclose(result.shift, (2.4, -1.7), atol=0.01)
    restored = fourier_shift(moving, result.shift)
    assert np.abs(restored - image).max() < 0.05


@pytest.mark.parametrize("ndim_shape", [(128,), (16, 18, 20)])
def test_other_dimensions(ndim_shape):
    image = make_extended(ndim_shape, seed=4)
    shift = tuple(np.linspace(-1.2, 2.3, len(ndim_shape)))
    moving = make_shifted(image, shift)
    np.testing.assert_allclose(register_taylor(image, moving).shift, shift, atol=1e-6)
    np.testing.assert_allclose(
        register_dft(image, moving, upsample_factor=20).shift, shift, atol=0.025
    )


@pytest.mark.parametrize("shape", [(48, 48), (49, 49)])
def test_errors_are_calibrated(shape):
    """Over repeated noise, the reported 1-sigma matches the scatter of the shifts."""
    image = make_extended(shape, seed=5)
    truth = np.array([0.37, -1.21])
    shifts, errors = [], []
    for k in range(150):
        moving = make_shifted(image, truth, noise=0.3, seed=100 + k)
        result = register_taylor(image, moving)
        shifts.append(result.shift)
        errors.append(result.error)
    shifts, errors = np.array(shifts), np.array(errors)
    ratio = shifts.std(axis=0) / errors.mean(axis=0)
    assert np.all((ratio > 0.8) & (ratio < 1.25)), ratio
    bias = np.abs(shifts.mean(axis=0) - truth)
    assert np.all(bias < 4 * shifts.std(axis=0) / np.sqrt(len(shifts)) + 1e-4), bias


def test_given_noise_is_used_and_not_estimated():
    image = make_extended(40, seed=6)
    moving = make_shifted(image, (1, 1), noise=0.1, seed=7)
    estimated = register_taylor(image, moving)
    given = register_taylor(image, moving, error=0.2)
    assert given.noise is None
    assert estimated.noise == pytest.approx(0.1, rel=0.1)
    np.testing.assert_allclose(given.error, estimated.error * 0.2 / estimated.noise, rtol=1e-6)
    both = register_taylor(image, moving, error=0.1, reference_error=np.full(image.shape, 0.1))
    np.testing.assert_allclose(both.error, given.error / np.sqrt(2), rtol=1e-6)


def test_max_shift_limits_the_search():
    image = make_extended(64, seed=8)
    moving = make_shifted(image, (12.0, 0.0))
    assert register_taylor(image, moving).shift[0] == pytest.approx(12.0, abs=1e-6)
    limited = register_taylor(image, moving, max_shift=3)
    assert np.all(np.abs(limited.shift) <= 4)
    limited_dft = register_dft(image, moving, max_shift=(3, 3), upsample_factor=4)
    assert np.all(np.abs(limited_dft.shift) <= 4)


def test_peak_at_the_array_edge():
    """A shift of half the array (the correlation peak on the edge) does not crash."""
    image = make_extended(32, seed=9)
    moving = make_shifted(image, (15.6, -15.6))
    result = register_taylor(image, moving)
    np.testing.assert_allclose(result.shift, (15.6, -15.6), atol=1e-6)


def test_nan_pixels_count_as_zero_and_inputs_are_untouched():
    image = make_extended(40, seed=10)
    moving = make_shifted(image, (0.5, 1.5))
    moving[3, 4] = np.nan
    for array in (image, moving):
        array.setflags(write=False)
    before = moving.copy()
    result = register_taylor(image, moving)
    np.testing.assert_allclose(result.shift, (0.5, 1.5), atol=0.02)
    np.testing.assert_array_equal(np.isnan(moving), np.isnan(before))


def test_float32_and_integer_inputs():
    image = make_extended(40, seed=11)
    moving = make_shifted(image, (2, -3))
    result = register_taylor(image.astype(np.float32), moving.astype(np.float32))
    np.testing.assert_allclose(result.shift, (2, -3), atol=1e-3)
    integers = register_dft((image * 100).astype(np.int32), (moving * 100).astype(np.int32))
    np.testing.assert_allclose(integers.shift, (2, -3))


def test_flat_image_warns_and_returns_no_error():
    flat = np.ones((16, 16))
    with pytest.warns(RuntimeWarning, match="not curved like a maximum"):
        result = register_taylor(flat, flat)
    assert result.error is None
    np.testing.assert_array_equal(result.shift, (0, 0))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"upsample_factor": "auto"}, ValueError, "integer upsample_factor"),
        ({"upsample_factor": 0}, ValueError, "upsample_factor"),
        ({"upsample_factor": 2.5}, ValueError, "upsample_factor"),
        ({"max_shift": -1}, ValueError, "max_shift"),
        ({"error": -1.0}, ValueError, "error must be a positive"),
        ({"error": np.ones((3, 3))}, ValueError, "error has shape"),
    ],
)
def test_dft_validation(kwargs, error, match):
    image = make_extended(16, seed=12)
    with pytest.raises(error, match=match):
        register_dft(image, image, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_iterations": 0}, ValueError, "max_iterations"),
        ({"max_iterations": 1.5}, TypeError, "max_iterations"),
        ({"tolerance": 0}, ValueError, "tolerance"),
        ({"reference_error": 0.0}, ValueError, "reference_error"),
    ],
)
def test_taylor_validation(kwargs, error, match):
    image = make_extended(16, seed=13)
    with pytest.raises(error, match=match):
        register_taylor(image, image, **kwargs)


@pytest.mark.parametrize("method", [register_taylor, register_dft])
def test_bad_images(method):
    with pytest.raises(ValueError, match="shape"):
        method(np.zeros((8, 8)), np.zeros((8, 9)))
    with pytest.raises(TypeError, match="complex"):
        method(np.zeros((8, 8), complex), np.zeros((8, 8)))
    with pytest.raises(ValueError, match="NaN everywhere"):
        method(np.full((8, 8), np.nan), np.zeros((8, 8)))


def test_errors_hold_the_seam_of_images_that_do_not_wrap():
    """Crops of real scenes do not wrap: the periodic peak is pulled by their seams.
    The curvature's error ("fisher") leaves that out; the default error holds it."""
    from napari_imreg.core._binned_pairs import load_scene, make_binned_pair

    rng = np.random.default_rng(11)
    pulls = {"residual": [], "fisher": []}
    for name in ("camera", "coins", "brick", "hubble_deep_field"):
        scene = load_scene(name)
        for _ in range(2):
            offset = rng.integers(-12, 13, 2)
            pair = make_binned_pair(scene, (64, 64), offset, bin_factor=4, rng=rng, snr=30)
            for errors, found in pulls.items():
                result = register_taylor(pair.reference, pair.moving, errors=errors)
                found.append(np.abs(result.shift - pair.shift) / result.error)
    assert np.max(pulls["residual"]) < 4, np.round(pulls["residual"], 1)
    assert np.mean(np.max(pulls["fisher"], axis=1) > 4) >= 0.5, np.round(pulls["fisher"], 1)


def test_errors_option_is_checked():
    image = make_extended(32, seed=1)
    with pytest.raises(ValueError, match="errors must be one of"):
        register_taylor(image, image, errors="sandwich")
    with pytest.raises(ValueError, match="errors must be one of"):
        register_dft(image, image, errors=None)


def test_register_periodic_widens_only_where_the_seams_pull():
    """Periodic images: exactly ``register(boundary="wrap")``. Crops of a real scene: the
    truth within 4 sigma, where the periodic model's own errors miss some by more."""
    from napari_imreg.core._binned_pairs import load_scene, make_binned_pair

    image = make_extended(64, seed=3)
    moved = make_shifted(image, (1.7, -2.4), noise=0.05, seed=4)
    periodic, plain = register_periodic(image, moved), register(image, moved, boundary="wrap")
    np.testing.assert_array_equal(periodic.shift, plain.shift)
    np.testing.assert_array_equal(periodic.error, plain.error)
    rng = np.random.default_rng(30)
    pulls = {"periodic": [], "wrap": []}
    for name in ("camera", "moon", "brick", "retina"):
        for _ in range(3):
            pair = make_binned_pair(load_scene(name), (64, 64), rng.integers(-8, 9, 2), rng=rng)
            for key, result in (
                ("periodic", register_periodic(pair.reference, pair.moving)),
                ("wrap", register(pair.reference, pair.moving, boundary="wrap")),
            ):
                pulls[key].append(np.abs(result.shift - pair.shift) / result.error)
    assert np.max(pulls["periodic"]) < 4, np.round(pulls["periodic"], 1)
    assert np.max(pulls["wrap"]) > 4, np.round(pulls["wrap"], 1)
