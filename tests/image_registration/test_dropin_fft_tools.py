"""The drop-in's Fourier and filtering tools against their mathematical definitions."""

import warnings

import numpy as np
import pytest

from napari_imreg.image_registration import fft_tools
from napari_imreg.image_registration.fft_tools import (
    convolve_nd,
    correlate2d,
    downsample,
    scale,
    smooth_tools,
    upsample,
    zoom,
)


def band_limited(shape, seed=0):
    """A random real array without a Nyquist term (its interpolant is unambiguous)."""
    spectrum = np.fft.fftn(np.random.default_rng(seed).normal(size=shape))
    for axis, n in enumerate(shape):
        if n % 2 == 0:
            index = [slice(None)] * len(shape)
            index[axis] = n // 2
            spectrum[tuple(index)] = 0
    return np.fft.ifftn(spectrum).real


def interpolant(data, positions):
    """Direct sum: sum_k F[k] exp(2 pi i k x / n) / n on a separable grid (definition)."""
    out = np.fft.fftn(data)
    for axis, (n, x) in enumerate(zip(data.shape, positions, strict=True)):
        k = np.fft.fftfreq(n, 1.0 / n)
        kernel = np.exp(2j * np.pi * np.outer(np.asarray(x, float), k) / n) / n
        out = np.moveaxis(np.tensordot(kernel, np.moveaxis(out, axis, 0), axes=(1, 0)), 0, axis)
    return out


@pytest.mark.parametrize("shape", [(8, 8), (9, 7), (16,), (6, 5, 4)])
def test_shiftnd_integer_is_roll(shape):
    data = np.random.default_rng(1).normal(size=shape)
    offset = tuple(range(1, len(shape) + 1))
    np.testing.assert_allclose(
        fft_tools.shiftnd(data, offset), np.roll(data, offset, range(len(shape))), atol=1e-12
    )


@pytest.mark.parametrize("shape", [(12, 12), (11, 13)])
def test_shiftnd_subpixel_matches_the_interpolant(shape):
    data = band_limited(shape, seed=2)
    offset = (0.3, -1.45)
    expected = interpolant(
        data, [np.arange(n) - o for n, o in zip(shape, offset, strict=True)]
    ).real
    np.testing.assert_allclose(fft_tools.shiftnd(data, offset), expected, atol=1e-12)
    np.testing.assert_allclose(fft_tools.shift2d(data, offset[1], offset[0]), expected, atol=1e-12)


def test_shiftnd_outputs_and_phase():
    data = band_limited((8, 8), seed=3)
    complex_out = fft_tools.shiftnd(data, (0.5, 0.5), phase=np.pi / 3, return_real=False)
    np.testing.assert_allclose(
        complex_out, fft_tools.shiftnd(data, (0.5, 0.5)) * np.exp(-1j * np.pi / 3), atol=1e-12
    )
    magnitude = fft_tools.shiftnd(data, (0.5, 0.5), return_real=False, return_abs=True)
    np.testing.assert_allclose(magnitude, np.abs(complex_out), atol=1e-12)
    with_nan = data.copy()
    with_nan[0, 0] = np.nan
    assert np.isfinite(fft_tools.shiftnd(with_nan, (1, 1))).all()


@pytest.mark.parametrize("shape", [(5, 7), (9, 9)])
@pytest.mark.parametrize(("usfac", "roff", "coff"), [(1, 0, 0), (3, 2, -1), (10, 4.5, 7)])
def test_dftups_is_the_definition_and_matches_the_reference_on_odd_sizes(shape, usfac, roff, coff):
    rng = np.random.default_rng(4)
    inp = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    nr, nc = shape
    rows = np.fft.fftfreq(nr, 1.0 / nr)
    cols = np.fft.fftfreq(nc, 1.0 / nc)
    k = np.arange(6)[:, None]
    ll = np.arange(4)[:, None]
    kern_r = np.exp(-2j * np.pi * (k - roff) * rows[None, :] / (nr * usfac))
    kern_c = np.exp(-2j * np.pi * (ll - coff) * cols[None, :] / (nc * usfac))
    expected = kern_r @ inp @ kern_c.T
    out = fft_tools.dftups(inp, 6, 4, usfac, roff, coff)
    np.testing.assert_allclose(out, expected, atol=1e-10)
    np.testing.assert_allclose(
        upsample.odddftups(inp, 6, 4, usfac, roff, coff), expected, atol=1e-10
    )
    reference = pytest.importorskip("image_registration.fft_tools.upsample")
    np.testing.assert_allclose(out, reference.dftups(inp, 6, 4, usfac, roff, coff), atol=1e-10)


def test_dftups1d_definition():
    inp = np.random.default_rng(5).normal(size=9)
    x, out = upsample.dftups1d(inp, usfac=4, outsize=6, offset=2, return_xouts=True)
    np.testing.assert_allclose(x, (np.arange(6) + 2) / 4)
    k = np.fft.fftfreq(9, 1 / 9)
    np.testing.assert_allclose(out, np.exp(-2j * np.pi * np.outer(x, k) / 9) @ inp, atol=1e-12)


@pytest.mark.parametrize("shape", [(6, 6), (7, 5)])
def test_upsample_image_samples_the_interpolant(shape):
    image = band_limited(shape, seed=6)
    out = fft_tools.upsample_image(
        image, upsample_factor=3, output_size=(4, 5), xshift=1, yshift=-2
    )
    expected = interpolant(image, [(np.arange(4) + 2) / 3, (np.arange(5) - 1) / 3]).real
    np.testing.assert_allclose(out, expected, atol=1e-12)
    assert fft_tools.upsample_image(image, upsample_factor=2).shape == (2 * shape[0], 2 * shape[1])


def test_zoom_tools_sample_the_interpolant():
    data = band_limited((10,), seed=7)
    x, out = zoom.zoom1d(data, usfac=4, outsize=7, offset=1.2, return_xouts=True)
    np.testing.assert_allclose(x, 4.5 + 1.2 + (np.arange(7) - 3) / 4)
    np.testing.assert_allclose(out, interpolant(data, [x]).real, atol=1e-12)
    assert np.iscomplexobj(zoom.zoom1d(data, usfac=2, return_real=False))
    image = band_limited((9, 10), seed=8)
    xouts, out = zoom.zoom_on_pixel(image, (3.2, 6.1), usfac=5, outshape=(4, 6), return_xouts=True)
    assert xouts.shape == (2, 4, 6)
    np.testing.assert_allclose(
        out, interpolant(image, [xouts[0][:, 0], xouts[1][0, :]]).real, atol=1e-12
    )
    xouts, out = zoom.zoomnd(
        image,
        offsets=(1, -1),
        middle_convention=np.floor,
        usfac=2,
        outshape=(3, 3),
        return_xouts=True,
    )
    np.testing.assert_allclose(xouts[0][:, 0], 4 + 1 + np.array([-0.5, 0, 0.5]))
    np.testing.assert_allclose(xouts[1][0, :], 4 - 1 + np.array([-0.5, 0, 0.5]))
    with pytest.raises(ValueError, match="offsets must have one value per axis"):
        zoom.zoomnd(image, offsets=(1,))


def test_fourier_interpolation():
    data = band_limited((12,), seed=9)
    out_x = np.array([0.25, 3.5, 11.9, -2.0])
    np.testing.assert_allclose(
        scale.fourier_interp1d(data, out_x), interpolant(data, [out_x]).real, atol=1e-12
    )
    data_x = np.arange(12) * 2.0
    np.testing.assert_allclose(
        scale.fourier_interp1d(data, out_x[:2] * 2, data_x=data_x),
        interpolant(data, [out_x[:2]]).real,
        atol=1e-12,
    )
    image = band_limited((6, 7), seed=10)
    grid = ([0.5, 2.25], [1.0, 3.5, 6.5])
    expected = interpolant(image, grid).real
    np.testing.assert_allclose(scale.fourier_interp2d(image, grid), expected, atol=1e-12)
    indices = np.array(np.meshgrid(*grid, indexing="ij"))
    np.testing.assert_allclose(scale.fourier_interpnd(image, indices), expected, atol=1e-12)
    cube = band_limited((4, 5, 6), seed=11)
    np.testing.assert_allclose(
        scale.fourier_interpnd(cube, np.indices(cube.shape)), cube, atol=1e-12
    )
    with pytest.raises(ValueError, match="out_x must be a 1-D"):
        scale.fourier_interp1d(data, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="data_x has shape"):
        scale.fourier_interp1d(data, out_x, data_x=np.arange(3))
    with pytest.raises(ValueError, match="one coordinate array per axis"):
        scale.fourier_interpnd(image, ([1.0],))


@pytest.mark.parametrize("shape", [(8, 8), (9, 11)])
@pytest.mark.parametrize("boundary", ["wrap", "fill"])
def test_correlate2d_matches_the_reference(shape, boundary):
    rng = np.random.default_rng(12)
    a, b = rng.normal(size=shape), rng.normal(size=shape)
    out = correlate2d(a, b, boundary=boundary)
    reference = pytest.importorskip("image_registration.fft_tools")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(out, reference.correlate2d(a, b, boundary=boundary), atol=1e-10)
    with pytest.raises(TypeError, match="unexpected keyword"):
        correlate2d(a, b, pad=True)


def test_get_ffts_backends():
    data = np.random.default_rng(13).normal(size=(6, 10))
    for use_numpy in (True, False):
        fftn, ifftn = fft_tools.get_ffts(nthreads=2, use_numpy_fft=use_numpy)
        np.testing.assert_allclose(fftn(data), np.fft.fftn(data), atol=1e-10)
        np.testing.assert_allclose(ifftn(fftn(data)).real, data, atol=1e-12)


def test_convolve_refusals():
    with pytest.raises(ValueError, match="crop=False"):
        convolve_nd.convolvend([1.0, 2.0], [1.0], crop=False)
    with pytest.raises(ValueError, match="return_fft"):
        convolve_nd.convolvend([1.0, 2.0], [1.0], return_fft=True)
    with pytest.raises(ValueError, match="boundary must be"):
        convolve_nd.convolvend([1.0, 2.0], [1.0], boundary="extend")
    np.testing.assert_allclose(
        convolve_nd.convolvend([1.0, 2.0, 3.0], [1.0, 1.0, 0.0], boundary="wrap"), [3.0, 5.0, 4.0]
    )


@pytest.mark.parametrize("kerneltype", ["gaussian", "boxcar", "tophat"])
def test_smooth_keeps_flux_and_position(kerneltype):
    image = np.zeros((32, 32))
    image[16, 15] = 1.0
    out, kernel = fft_tools.smooth(image, kernelwidth=3, kerneltype=kerneltype, return_kernel=True)
    assert out.sum() == pytest.approx(1.0, abs=1e-5)
    assert kernel.shape == (32, 32)
    yy, xx = np.indices(out.shape)
    assert (np.sum(out * yy), np.sum(out * xx)) == (pytest.approx(16), pytest.approx(15))
    assert fft_tools.smooth(image, kernelwidth=2, downsample=True).shape == (16, 16)


def test_smooth_nan_handling_and_options():
    image = np.ones((16, 16))
    image[5, 5] = np.nan
    kept = fft_tools.smooth(image, kernelwidth=1)
    assert np.isnan(kept[5, 5])
    filled = fft_tools.smooth(image, kernelwidth=1, interp_nan=True, ignore_edge_zeros=True)
    assert filled[5, 5] == pytest.approx(1.0)
    assert filled[0, 0] == pytest.approx(1.0)
    small = fft_tools.smooth(
        np.ones((8, 8)),
        kernelwidth=3,
        nwidths=2,
        psf_pad=False,
        kerneltype="trapezoid",
        trapshlope=0.5,
    )
    np.testing.assert_allclose(small, 1.0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        fft_tools.smooth(image, kernel_width=2)
    assert smooth_tools.make_kernel((5, 5), force_odd=True).shape == (5, 5)
    assert smooth_tools.make_kernel((6, 6), force_odd=True).shape == (5, 5)


def test_downsample_family():
    array = np.arange(36.0).reshape(6, 6)
    np.testing.assert_allclose(
        downsample.downsample(array, 3), array.reshape(2, 3, 2, 3).mean(axis=(1, 3))
    )
    np.testing.assert_allclose(downsample.downsample_1d(np.arange(6.0), 2), [0.5, 2.5, 4.5])
    np.testing.assert_allclose(
        downsample.downsample_axis(array, 4, 1, truncate=True),
        array[:, :4].reshape(6, 1, 4).mean(2),
    )
    assert downsample.downsample_cube(np.ones((4, 6, 6)), 3, ignoredim=0).shape == (4, 2, 2)
    assert downsample.downsample(np.ones((5, 5)), 2, estimator=np.nansum)[0, 0] == 4
    with pytest.raises(ValueError, match="1-D"):
        downsample.downsample_1d(array, 2)
    with pytest.raises(ValueError, match="3-D"):
        downsample.downsample_cube(array, 2)


def test_float32_stays_float32():
    image = np.random.default_rng(14).normal(size=(16, 16)).astype(np.float32)
    assert fft_tools.smooth(image, kernelwidth=1).dtype == np.float32
    assert convolve_nd.convolvend(image, np.ones((3, 3), np.float32) / 9).dtype == np.float32
    assert fft_tools.shiftnd(image, (0.5, 0.5)).dtype == np.float32
