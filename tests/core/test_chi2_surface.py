"""The chi2 surface's series: exact derivatives against finite differences, and
Newton's method on them against a known minimum."""

import numpy as np
import pytest
import scipy.ndimage

from napari_imreg.core import _chi2, make_extended
from napari_imreg.core._filter import smooth, smooth_to_edges, smoothing_kernels
from napari_imreg.core._prepare import PreparedImage, bin_blocks
from napari_imreg.core._surface_spectral import Spectra, profiled_from_spectra


def _correlation_series(shape, roll, seed=3):
    image = make_extended(shape, seed=seed)
    moved = np.roll(image, roll, axis=tuple(range(len(shape))))
    axes = tuple(range(len(shape)))
    spectrum = np.fft.rfftn(image, axes=axes) * np.conj(np.fft.rfftn(moved, axes=axes))
    return _chi2.Series(spectrum, shape)


@pytest.mark.parametrize("shape", [(64,), (64, 60), (16, 18, 14)])
def test_third_derivatives_match_finite_differences_of_the_hessian(shape):
    series = _correlation_series(shape, [1] * len(shape))
    point = np.linspace(-0.7, 0.4, len(shape))
    value, grad, hess, third = series.derivatives(point, third=True)
    # The same pass gives the same lower orders as the plain call.
    plain = series.derivatives(point)
    np.testing.assert_allclose(value, plain[0], rtol=1e-12)
    np.testing.assert_allclose(grad, plain[1], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(hess, plain[2], rtol=1e-12, atol=1e-9)
    h = 1e-4
    for axis in range(len(shape)):
        step = np.zeros(len(shape))
        step[axis] = h
        numeric = (series.derivatives(point + step)[2] - series.derivatives(point - step)[2]) / (
            2 * h
        )
        np.testing.assert_allclose(
            third[axis], numeric, rtol=1e-6, atol=1e-6 * np.abs(third).max()
        )


def test_newton_finds_a_known_maximum_of_the_correlation_to_machine_precision():
    # -corr of an image with its roll by k peaks at exactly -k (a whole pixel,
    # reached from a guess 0.3 px away).
    shape, roll = (48, 52), np.array([2, -3])
    series = _correlation_series(shape, roll)
    surface = _chi2.Surface(
        _chi2.Series(series.spectrum, shape, scale=-1.0),
        _chi2.Series(None, shape, constant=1.0),
        None,
        shape,
    )
    truth = -roll.astype(float)
    guess = truth + np.array([0.3, -0.2])
    point, _, _, positive = _chi2.refine_minimum(surface, truth, guess=guess)
    assert positive
    np.testing.assert_allclose(point, truth, rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [((500,), np.float64), ((300, 250), np.float32), ((40, 30, 64), np.int32), ((3, 260), float)],
)
def test_smooth_equals_the_separable_convolution(shape, dtype):
    # In blocks of rows, centred on the way: the same as filtering the centred
    # image axis by axis with zeros beyond the edges (axes shorter than their
    # kernel are left alone).
    rng = np.random.default_rng(5)
    values = (rng.normal(size=shape) * 100).astype(dtype)
    kernels = smoothing_kernels(shape)
    truth = values.astype(np.float64) - 3.25
    for axis, kernel in enumerate(kernels):
        if shape[axis] >= kernel.size:
            truth = scipy.ndimage.correlate1d(truth, kernel, axis=axis, mode="constant")
    before = values.copy()
    np.testing.assert_allclose(smooth(values, kernels, subtract=3.25), truth, atol=1e-10)
    np.testing.assert_array_equal(values, before)


@pytest.mark.parametrize("shape", [(40,), (30, 25), (12, 3, 40)])
def test_smooth_to_edges_is_smooth_inside_and_the_edge_extended_image_filtered(shape):
    # Where the kernel stays inside, ``smooth``; everywhere, the image padded with
    # its edge values, filtered with zeros beyond, and cropped back (axes shorter
    # than their kernel are left alone).
    values = np.random.default_rng(7).normal(size=shape)
    kernels = smoothing_kernels(shape)
    margins = [k.size // 2 if n >= k.size else 0 for n, k in zip(shape, kernels, strict=True)]
    padded = np.pad(values, [(m, m) for m in margins], mode="edge")
    crop = tuple(slice(m, m + n) for n, m in zip(shape, margins, strict=True))
    truth = smooth(padded, kernels, subtract=0.5)[crop]
    found = smooth_to_edges(values, kernels, subtract=0.5)
    np.testing.assert_allclose(found, truth, atol=1e-12)
    inside = tuple(slice(m, n - m) for n, m in zip(shape, margins, strict=True))
    np.testing.assert_allclose(found[inside], smooth(values, kernels, subtract=0.5)[inside])


@pytest.mark.parametrize(
    ("shape", "factors"), [((103,), (4,)), ((50, 37), (3, 2)), ((9, 20, 18), (1, 4, 3))]
)
def test_bin_takes_block_means(shape, factors):
    values = np.random.default_rng(6).normal(size=shape).astype(np.float32)
    crop = values[tuple(slice(0, n - n % f) for n, f in zip(shape, factors, strict=True))]
    blocks = [m for n, f in zip(crop.shape, factors, strict=True) for m in (n // f, f)]
    truth = crop.astype(np.float64).reshape(blocks).mean(axis=tuple(range(1, 2 * len(shape), 2)))
    np.testing.assert_allclose(bin_blocks(values, factors), truth, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("masked", [False, True])
def test_the_profiled_grid_of_a_volume_is_one_minus_rho_squared_at_every_shift(masked):
    """The whole-pixel search's score of a volume large enough to be scored a block of
    planes at a time: at shifts in every block, ``1 - rho**2`` of the weighted images,
    one circularly moved by ``np.roll`` (the gain held at zero or above)."""
    shape = (40, 64, 64)  # 16 planes a block: three blocks, the last one partial
    rng = np.random.default_rng(5)
    reference = make_extended(shape, seed=1) + 0.1 * rng.normal(size=shape)
    moving = np.roll(make_extended(shape, seed=1), (3, -5, 2), axis=(0, 1, 2))
    moving = moving + 0.1 * rng.normal(size=shape)
    weights = [None, None]
    if masked:
        weights = [(rng.uniform(size=shape) > 0.05).astype(np.float64) for _ in range(2)]
    spectra = [
        Spectra(PreparedImage(image, None, (0, 0, 0)), weight, shape, 1)
        for image, weight in zip((reference, moving), weights, strict=True)
    ]
    surface = profiled_from_spectra(*spectra, shape, "scale+offset").for_search()
    score, _ = surface.grid()
    assert score.shape == shape
    a, b = (np.ones(shape) if w is None else w for w in weights)
    shifts = [(-3, 5, -2), (0, 0, 0), (17, 1, -30), (39, 63, 5), (-2, 10, 0)]
    for shift in shifts:
        w = a * np.roll(b, shift, axis=(0, 1, 2))
        moved = np.roll(moving, shift, axis=(0, 1, 2))
        mean_r, mean_m = (np.sum(w * x) / np.sum(w) for x in (reference, moved))
        crr = np.sum(w * (reference - mean_r) ** 2)
        cmm = np.sum(w * (moved - mean_m) ** 2)
        crm = np.sum(w * (reference - mean_r) * (moved - mean_m))
        expected = 1.0 - max(crm, 0.0) ** 2 / (crr * cmm)
        index = tuple(s % n for s, n in zip(shift, shape, strict=True))
        assert score[index] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    # The match: the moving image moved back by the roll that made it.
    assert np.unravel_index(np.argmin(score), shape) == (40 - 3, 5, 64 - 2)
