"""N-D FFT convolution, kernels and block reduction against their definitions."""

import numpy as np
import pytest
import scipy.ndimage as ndi

from napari_imreg.core._filters import (
    block_reduce,
    convolve_fft,
    correlate_fft,
    fill_invalid,
    make_kernel,
)


@pytest.mark.parametrize("shape", [(17, 20), (16, 16), (9,), (6, 7, 8)])
@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4])
@pytest.mark.parametrize(("boundary", "mode"), [("fill", "constant"), ("wrap", "wrap")])
def test_convolution_matches_scipy(shape, kernel_size, boundary, mode):
    rng = np.random.default_rng(0)
    array = rng.normal(size=shape)
    kernel = rng.normal(size=(kernel_size,) * len(shape))
    expected = ndi.convolve(array, kernel, mode=mode)
    np.testing.assert_allclose(
        convolve_fft(array, kernel, boundary=boundary), expected, atol=1e-12
    )


def test_fill_value_and_dtype():
    array = np.zeros(5, np.float32)
    out = convolve_fft(array, np.ones(3, np.float32), fill_value=1.0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [1, 0, 0, 0, 1], atol=1e-6)


def test_nan_interpolation_renormalises():
    array = np.array([1.0, np.nan, 3.0, 4.0])
    kernel = np.ones(3) / 3
    out = convolve_fft(array, kernel, nan_treatment="interpolate")
    # middle pixel: mean of its valid neighbours; the edges see the zero padding
    assert out[1] == pytest.approx(2.0)
    assert out[2] == pytest.approx((3.0 + 4.0) / 2)
    edge = convolve_fft(array, kernel, nan_treatment="interpolate", ignore_edge=True)
    assert edge[3] == pytest.approx(3.5)


def test_correlation_layout():
    rng = np.random.default_rng(1)
    first, second = rng.normal(size=(6, 7)), rng.normal(size=(6, 7))
    out = correlate_fft(first, second)
    center = (2, 3)
    for s in [(0, 0), (1, -2), (-2, 3)]:
        expected = np.sum(np.roll(first, (-s[0], -s[1]), axis=(0, 1)) * second)
        assert out[center[0] + s[0], center[1] + s[1]] == pytest.approx(expected)


@pytest.mark.parametrize("kind", ["gaussian", "boxcar", "tophat", "airy", "trapezoid"])
@pytest.mark.parametrize("shape", [(8, 8), (9, 9), (10, 6, 4)])
def test_kernels_are_normalised_and_centred(kind, shape):
    kernel = make_kernel(shape, width=3.0, kind=kind, slope=0.25)
    assert kernel.sum() == pytest.approx(1.0)
    centre = tuple(n // 2 for n in shape)
    assert kernel[centre] == pytest.approx(kernel.max())
    # symmetric about the centre, where the mirrored index exists
    inner = tuple(slice(1, None) if n % 2 == 0 else slice(None) for n in shape)
    core = kernel[inner]
    np.testing.assert_allclose(core, core[(slice(None, None, -1),) * len(shape)], atol=1e-12)


def test_gaussian_width_is_sigma():
    kernel = make_kernel((101,), width=4.0)
    x = np.arange(101) - 50
    assert np.sqrt(np.sum(kernel * x**2)) == pytest.approx(4.0, rel=1e-6)


def test_smoothing_keeps_a_point_in_place():
    image = np.zeros((16, 16))
    image[5, 9] = 1
    out = convolve_fft(image, make_kernel((16, 16), width=1.5))
    assert np.unravel_index(out.argmax(), out.shape) == (5, 9)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"kind": "disc"}, "kind"), ({"width": 0}, "width"), ({"kind": "trapezoid"}, "slope")],
)
def test_kernel_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_kernel((5, 5), **kwargs)


def test_block_reduce_definitions():
    array = np.arange(24.0).reshape(4, 6)
    expected = array.reshape(2, 2, 3, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(block_reduce(array, 2), expected)
    np.testing.assert_allclose(block_reduce(array, (2, 3), func=np.sum), [[24, 42], [96, 114]])
    np.testing.assert_allclose(block_reduce(np.arange(5.0), 2, pad=True), [0.5, 2.5, 4.0])
    np.testing.assert_allclose(block_reduce(np.arange(5.0), 2), [0.5, 2.5])
    np.testing.assert_allclose(block_reduce(array, 2, axes=[1]), array.reshape(4, 3, 2).mean(2))


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((np.ones(4), 0), {}, ValueError, "factor"),
        ((np.ones(4), 1.5), {}, ValueError, "factor"),
        ((np.ones(4), 2), {"axes": [3]}, ValueError, "axes"),
        ((np.float64(1.0), 2), {}, ValueError, "dimension"),
    ],
)
def test_block_reduce_validation(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        block_reduce(*args, **kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((np.ones(4), np.ones((2, 2))), {}, ValueError, "dimensions"),
        ((np.ones(4), np.ones(2)), {"boundary": "extend"}, ValueError, "boundary"),
        ((np.ones(4), np.ones(2)), {"nan_treatment": "drop"}, ValueError, "nan_treatment"),
        ((np.ones(4, complex), np.ones(2)), {}, TypeError, "real"),
        ((3.0, np.ones(2)), {}, ValueError, "dimension"),
    ],
)
def test_convolve_validation(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        convolve_fft(*args, **kwargs)


@pytest.mark.parametrize("hole", [(slice(30, 33), slice(30, 33)), (slice(5, 60), slice(10, 50))])
def test_fill_invalid_continues_a_plane_and_keeps_the_valid_pixels(hole):
    # Averages of a constant are that constant at every level (the wide hole needs
    # several); of a plane, within its range, and in a small hole closer to it than
    # the nearest valid pixel (0.5 away along y).
    y, x = np.indices((64, 64), dtype=np.float64)
    valid = np.ones(y.shape, dtype=bool)
    valid[hole] = False
    constant = np.full(y.shape, 3.0)
    np.testing.assert_allclose(fill_invalid(np.where(valid, constant, np.nan), valid), 3.0)
    ramp = 0.5 * y - 0.25 * x
    filled = fill_invalid(np.where(valid, ramp, np.nan), valid)
    assert np.array_equal(filled[valid], ramp[valid])
    assert filled.min() >= ramp.min()
    assert filled.max() <= ramp.max()
    if hole[0].stop - hole[0].start == 3:  # closer to the plane than a neighbour is
        assert np.abs(filled - ramp).max() < 0.5


def test_fill_invalid_leaves_complete_images_alone_and_fills_from_one_pixel():
    image = np.arange(12.0).reshape(3, 4)
    assert fill_invalid(image, np.ones((3, 4), dtype=bool)) is image
    valid = np.zeros((3, 4), dtype=bool)
    valid[1, 2] = True
    np.testing.assert_allclose(fill_invalid(image, valid), 6.0)
