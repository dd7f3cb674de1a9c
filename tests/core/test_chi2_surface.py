"""The chi2 surface's series: exact derivatives against finite differences, and
Newton's method on them against a known minimum."""

import numpy as np
import pytest
import scipy.ndimage

from napari_imreg.core import _chi2, make_extended
from napari_imreg.core._filter import smooth, smoothing_kernels
from napari_imreg.core._prepare import bin_blocks


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


@pytest.mark.parametrize(
    ("shape", "factors"), [((103,), (4,)), ((50, 37), (3, 2)), ((9, 20, 18), (1, 4, 3))]
)
def test_bin_takes_block_means(shape, factors):
    values = np.random.default_rng(6).normal(size=shape).astype(np.float32)
    crop = values[tuple(slice(0, n - n % f) for n, f in zip(shape, factors, strict=True))]
    blocks = [m for n, f in zip(crop.shape, factors, strict=True) for m in (n // f, f)]
    truth = crop.astype(np.float64).reshape(blocks).mean(axis=tuple(range(1, 2 * len(shape), 2)))
    np.testing.assert_allclose(bin_blocks(values, factors), truth, rtol=1e-12, atol=1e-12)
