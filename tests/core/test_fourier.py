"""Fourier tools against their mathematical definitions."""

import numpy as np
import pytest

from napari_imreg.core import fourier_shift, fourier_zoom, make_extended, upsampled_dft
from napari_imreg.core._fourier import (
    _contracted,
    axis_kernel,
    axis_kernels,
    evaluate_series,
    fourier_interpolate,
)

TOL64 = 1e-10
TOL32 = 1e-4


@pytest.mark.parametrize("shape", [(8,), (9,), (6, 7), (8, 8), (4, 5, 6), (5, 5, 5)])
@pytest.mark.parametrize("sign", [1, -1])
def test_integer_shift_is_np_roll(shape, sign):
    rng = np.random.default_rng(0)
    image = rng.standard_normal(shape)  # white noise: power up to the Nyquist frequency
    shift = sign * np.array([2, 3, 7][: len(shape)])
    out = fourier_shift(image, shift)
    expected = np.roll(image, tuple(shift), axis=tuple(range(len(shape))))
    np.testing.assert_allclose(out, expected, rtol=0, atol=TOL64)


def test_integer_shift_of_complex_input():
    rng = np.random.default_rng(1)
    complex_image = rng.standard_normal((6, 7)) + 1j * rng.standard_normal((6, 7))
    out = fourier_shift(complex_image, (1, -2))
    assert np.iscomplexobj(out)
    expected = np.roll(complex_image, (1, -2), axis=(0, 1))
    np.testing.assert_allclose(out, expected, rtol=0, atol=TOL64)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_subpixel_shift_of_a_complex_exponential(dtype):
    n = 20
    x = np.arange(n)
    wave = np.exp(2j * np.pi * 3 * x / n).astype(dtype)
    out = fourier_shift(wave, 0.4)
    assert out.dtype == dtype
    expected = np.exp(2j * np.pi * 3 * (x - 0.4) / n)
    tolerance = TOL32 if dtype == np.complex64 else TOL64
    np.testing.assert_allclose(out, expected, rtol=0, atol=tolerance)


def test_integer_shift_of_integer_input():
    ints = np.arange(20).reshape(4, 5)
    out = fourier_shift(ints, (1, 2))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, np.roll(ints, (1, 2), axis=(0, 1)), rtol=0, atol=TOL64)


@pytest.mark.parametrize("shape", [(9,), (7, 11), (5, 7, 9)])
def test_shifts_compose_odd_lengths(shape):
    # Odd lengths have no Nyquist term: shifting by a then b is shifting by a + b
    # for any signal.
    rng = np.random.default_rng(2)
    image = rng.standard_normal(shape)
    a = rng.uniform(-3, 3, len(shape))
    b = rng.uniform(-3, 3, len(shape))
    twice = fourier_shift(fourier_shift(image, a), b)
    np.testing.assert_allclose(twice, fourier_shift(image, a + b), rtol=0, atol=TOL64)


@pytest.mark.parametrize("shape", [(16,), (8, 12), (6, 8, 10)])
def test_shifts_compose_even_lengths_without_nyquist_power(shape):
    # A real signal cannot keep a sub-pixel shifted Nyquist term, so composition
    # holds for band-limited signals (make_extended has no Nyquist power).
    rng = np.random.default_rng(3)
    image = make_extended(shape, seed=4)
    a = rng.uniform(-3, 3, len(shape))
    b = rng.uniform(-3, 3, len(shape))
    twice = fourier_shift(fourier_shift(image, a), b)
    np.testing.assert_allclose(twice, fourier_shift(image, a + b), rtol=0, atol=TOL64)


@pytest.mark.parametrize("n", [32, 33])
@pytest.mark.parametrize("shift", [0.3, -1.75, 4.5])
def test_sinusoid_shifts_analytically(n, shift):
    x = np.arange(n)
    wave = np.cos(2 * np.pi * 3 * x / n + 0.4)
    expected = np.cos(2 * np.pi * 3 * (x - shift) / n + 0.4)  # out[x] = image[x - shift]
    np.testing.assert_allclose(fourier_shift(wave, shift), expected, rtol=0, atol=TOL64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plane_wave_shift_2d_keeps_dtype(dtype):
    y, x = np.mgrid[:24, :27]
    phase = 2 * np.pi * (2 * y / 24 - 3 * x / 27)
    wave = np.sin(phase).astype(dtype)
    shift = (0.6, -1.3)
    out = fourier_shift(wave, shift)
    assert out.dtype == dtype
    expected = np.sin(2 * np.pi * (2 * (y - shift[0]) / 24 - 3 * (x - shift[1]) / 27))
    np.testing.assert_allclose(out, expected, rtol=0, atol=TOL32 if dtype == np.float32 else TOL64)


def test_fourier_shift_validates():
    with pytest.raises(ValueError, match=r"shift must have one value per axis \(2\)"):
        fourier_shift(np.ones((4, 4)), (1, 2, 3))
    with pytest.raises(TypeError, match="image must be a numeric array, got the string"):
        fourier_shift("image", 1)
    with pytest.raises(ValueError, match="shift must be finite"):
        fourier_shift(np.ones(4), np.nan)


def _direct_dft_1d(spectrum, positions):
    """(1/n) sum_k F[k] exp(2 pi i k x / n), the Nyquist term of an even n split in two."""
    n = spectrum.size
    out = np.zeros(len(positions), dtype=complex)
    for j, x in enumerate(positions):
        total = 0j
        for index in range(n):
            k = index if index <= (n - 1) // 2 else index - n
            if n % 2 == 0 and index == n // 2:
                term = (
                    0.5
                    * spectrum[index]
                    * (
                        np.exp(2j * np.pi * (n / 2) * x / n)
                        + np.exp(-2j * np.pi * (n / 2) * x / n)
                    )
                )
            else:
                term = spectrum[index] * np.exp(2j * np.pi * k * x / n)
            total += term
        out[j] = total / n
    return out


@pytest.mark.parametrize("n", [10, 11])
def test_upsampled_dft_is_the_direct_sum_1d(n):
    rng = np.random.default_rng(5)
    spectrum = np.fft.fft(rng.standard_normal(n) + 1j * rng.standard_normal(n))
    factor, count, offset = 3, 7, -1.4
    out = upsampled_dft(spectrum, upsample_factor=factor, output_shape=count, offset=offset)
    positions = offset + np.arange(count) / factor
    np.testing.assert_allclose(out, _direct_dft_1d(spectrum, positions), rtol=0, atol=TOL64)


def test_upsampled_dft_is_the_direct_sum_2d():
    rng = np.random.default_rng(6)
    shape = (6, 7)
    spectrum = np.fft.fft2(rng.standard_normal(shape))
    factor, out_shape, offset = 4, (5, 3), (0.5, -2.0)
    out = upsampled_dft(spectrum, upsample_factor=factor, output_shape=out_shape, offset=offset)
    assert out.shape == out_shape
    ys = offset[0] + np.arange(out_shape[0]) / factor
    xs = offset[1] + np.arange(out_shape[1]) / factor
    # The 2-D sum is separable: transform the rows, then the columns, by direct sums.
    rows = np.array([_direct_dft_1d(spectrum[:, kx], ys) for kx in range(shape[1])]).T
    expected = np.array([_direct_dft_1d(rows[j], xs) for j in range(out_shape[0])])
    np.testing.assert_allclose(out, expected, rtol=0, atol=TOL64)


@pytest.mark.parametrize("shape", [(12,), (9, 10)])
def test_upsampled_dft_equals_zero_padded_fft_samples(shape):
    rng = np.random.default_rng(7)
    signal = rng.standard_normal(shape)
    spectrum = np.fft.fftn(signal)
    factor = 4
    padded = np.zeros([n * factor for n in shape], dtype=complex)
    # Place each frequency at the same signed frequency of the finer grid; split
    # the Nyquist term of even axes between +n/2 and -n/2.
    for index in np.ndindex(*shape):
        weight = 1.0
        targets = [[]]
        for axis, i in enumerate(index):
            n = shape[axis]
            k = i if i <= (n - 1) // 2 else i - n
            if n % 2 == 0 and i == n // 2:
                options = [n // 2, -(n // 2)]
                weight *= 0.5
            else:
                options = [k]
            targets = [[*t, o] for t in targets for o in options]
        for target in targets:
            padded[tuple(t % (n * factor) for t, n in zip(target, shape, strict=True))] += (
                weight * spectrum[index]
            )
    fine = np.fft.ifftn(padded) * factor ** len(shape)
    out_shape = tuple(3 * factor for _ in shape)
    offset = [1.0] * len(shape)
    out = upsampled_dft(spectrum, upsample_factor=factor, output_shape=out_shape, offset=offset)
    window = tuple(slice(factor, factor + m) for m in out_shape)
    np.testing.assert_allclose(out, fine[window], rtol=0, atol=TOL64)
    # At the original samples it gives back the signal.
    coarse = upsampled_dft(spectrum, upsample_factor=1)
    np.testing.assert_allclose(coarse, signal, rtol=0, atol=TOL64)


def test_upsampled_dft_validates():
    with pytest.raises(ValueError, match="spectrum must be a non-empty array"):
        upsampled_dft(np.zeros(0))
    with pytest.raises(ValueError, match="upsample_factor must be positive"):
        upsampled_dft(np.ones(4), upsample_factor=0)
    with pytest.raises(ValueError, match="upsample_factor must be positive"):
        upsampled_dft(np.ones(4), upsample_factor=True)


@pytest.mark.parametrize("n", [32, 31])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fourier_zoom_of_a_sinusoid(n, dtype):
    x = np.arange(n)
    wave = np.sin(2 * np.pi * 3 * x / n + 0.2).astype(dtype)
    zoom, center, m = 5.0, 11.3, 9
    out = fourier_zoom(wave, zoom, center=[center], output_shape=m)
    assert out.dtype == dtype
    assert out.shape == (m,)
    positions = center + (np.arange(m) - (m - 1) / 2) / zoom
    expected = np.sin(2 * np.pi * 3 * positions / n + 0.2)
    np.testing.assert_allclose(out, expected, rtol=0, atol=TOL32 if dtype == np.float32 else TOL64)


def test_fourier_zoom_2d_plane_wave_default_centre_and_shape():
    shape = (20, 15)
    y, x = np.mgrid[: shape[0], : shape[1]]
    wave = np.cos(2 * np.pi * (y / 20 + 2 * x / 15))
    out = fourier_zoom(wave, (2.0, 3.0))
    assert out.shape == shape
    centre = (np.array(shape) - 1) / 2
    ys = centre[0] + (np.arange(shape[0]) - (shape[0] - 1) / 2) / 2.0
    xs = centre[1] + (np.arange(shape[1]) - (shape[1] - 1) / 2) / 3.0
    expected = np.cos(2 * np.pi * (ys[:, None] / 20 + 2 * xs[None, :] / 15))
    np.testing.assert_allclose(out, expected, rtol=0, atol=TOL64)


def test_fourier_zoom_of_complex_input_stays_complex():
    n = 16
    x = np.arange(n)
    wave = np.exp(2j * np.pi * 2 * x / n)
    out = fourier_zoom(wave, 2, center=[4.0], output_shape=5)
    positions = 4.0 + (np.arange(5) - 2) / 2
    np.testing.assert_allclose(out, np.exp(2j * np.pi * 2 * positions / n), rtol=0, atol=TOL64)


def test_fourier_zoom_and_upsampled_dft_3d_plane_wave():
    shape = (6, 7, 8)
    frequencies = (1, -2, 3)
    grids = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")

    def wave(coords):
        return np.cos(
            2 * np.pi * sum(f * c / n for f, c, n in zip(frequencies, coords, shape, strict=True))
        )

    image = wave(grids)
    centre, zoom, out_shape = (2.3, 3.1, 4.7), (2.0, 3.0, 4.0), (3, 4, 5)
    axes = [
        c + (np.arange(m) - (m - 1) / 2) / z
        for c, z, m in zip(centre, zoom, out_shape, strict=True)
    ]
    expected = wave(np.meshgrid(*axes, indexing="ij"))
    out = fourier_zoom(image, zoom, center=centre, output_shape=out_shape)
    np.testing.assert_allclose(out, expected, rtol=0, atol=TOL64)
    offset = (0.5, -1.0, 2.25)
    fine = upsampled_dft(np.fft.fftn(image), upsample_factor=4, output_shape=3, offset=offset)
    axes = [o + np.arange(3) / 4 for o in offset]
    np.testing.assert_allclose(
        fine.real, wave(np.meshgrid(*axes, indexing="ij")), rtol=0, atol=TOL64
    )
    np.testing.assert_allclose(fine.imag, 0, rtol=0, atol=TOL64)


def test_fourier_zoom_validates():
    with pytest.raises(ValueError, match="zoom must be positive"):
        fourier_zoom(np.ones((4, 4)), 0)
    with pytest.raises(ValueError, match=r"center must have one value per axis \(2\)"):
        fourier_zoom(np.ones((4, 4)), 2, center=[1.0])


def test_fourier_tools_do_not_modify_inputs():
    image = make_extended((12, 10), seed=8)
    image.setflags(write=False)
    original = image.copy()
    fourier_shift(image, (0.5, -0.25))
    fourier_zoom(image, 2)
    spectrum = np.fft.fft2(original)
    spectrum.setflags(write=False)
    spectrum_copy = spectrum.copy()
    upsampled_dft(spectrum, upsample_factor=3, output_shape=4, offset=0.5)
    np.testing.assert_array_equal(image, original)
    np.testing.assert_array_equal(spectrum, spectrum_copy)


@pytest.mark.parametrize("n", [16, 15])
@pytest.mark.parametrize("half", [False, True])
def test_stacked_derivative_kernels_differentiate_the_interpolant(n, half):
    signal = np.random.default_rng(n).standard_normal(n)
    spectrum = np.fft.rfft(signal) if half else np.fft.fft(signal)
    points = np.array([0.3, 4.75, -2.2])
    stacked = axis_kernels(n, points, half=half, orders=(0, 1, 2))
    # The stack is the single-order kernels one after the other.
    for index, order in enumerate((0, 1, 2)):
        block = stacked[index * points.size : (index + 1) * points.size]
        np.testing.assert_allclose(block, axis_kernel(n, points, half=half, order=order))

    def values(x, order=0):
        return (axis_kernel(n, x, half=half, order=order) @ spectrum).real

    np.testing.assert_allclose(values(np.arange(n)), signal, atol=1e-12)  # it interpolates
    h = 1e-5
    first = (values(points + h) - values(points - h)) / (2 * h)
    second = (values(points + h) - 2 * values(points) + values(points - h)) / h**2
    np.testing.assert_allclose(values(points, 1), first, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(values(points, 2), second, rtol=1e-3, atol=1e-3)


def test_fourier_interpolate_reproduces_samples_and_shifts():
    image = make_extended((12, 10, 8), seed=4)
    grid = [np.arange(n, dtype=float) for n in image.shape]
    np.testing.assert_allclose(fourier_interpolate(image, grid).real, image, atol=1e-12)
    # Sampling at x - s is the Fourier shift by s.
    shift = (0.3, -1.25, 2.5)
    moved = [g - s for g, s in zip(grid, shift, strict=True)]
    np.testing.assert_allclose(
        fourier_interpolate(image, moved).real, fourier_shift(image, shift), atol=1e-10
    )
    with pytest.raises(ValueError, match="one coordinate array per axis"):
        fourier_interpolate(image, grid[:2])


@pytest.mark.parametrize("shape", [(4, 1000), (1000, 4), (3, 5, 400), (6, 6)])
def test_series_on_thin_shapes_reproduces_the_samples_and_shifts(shape):
    # Whatever order the axes are contracted in (a thin image's long axis first,
    # when few of its points are asked for), the series of an rfftn spectrum is
    # the image at whole pixels and its Fourier shift between them.
    image = np.random.default_rng(len(shape)).standard_normal(shape)
    spectrum = np.fft.rfftn(image)
    last = len(shape) - 1
    grid = [np.arange(0, n, 50 if n > 100 else 1, dtype=float) for n in shape]
    shift = [0.4 * (a + 1) for a in range(len(shape))]
    for offsets, expected in (([0.0] * len(shape), image), (shift, fourier_shift(image, shift))):
        kernels = [
            axis_kernel(n, g - s, half=a == last)
            for a, (n, g, s) in enumerate(zip(shape, grid, offsets, strict=True))
        ]
        picked = expected[np.ix_(*[g.astype(int) for g in grid])]
        np.testing.assert_allclose(
            evaluate_series(spectrum, kernels, real=True), picked, atol=1e-10
        )


@pytest.mark.parametrize(
    ("shape", "rows", "position"),
    [
        ((512, 257), 3, 0),
        ((54, 28), 5, 0),
        ((54, 28), 1, 1),
        ((12, 10, 6), 4, 1),
        ((7, 9, 5), 2, 2),
    ],
)
@pytest.mark.parametrize("transposed", [False, True])
def test_a_contraction_is_numpys_tensordot(shape, rows, position, transposed):
    rng = np.random.default_rng(rows)
    array = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    if transposed:  # a view whose axes are not in memory order
        array = np.ascontiguousarray(array.T).T
    kernel = rng.standard_normal((rows, shape[position])) + 1j * rng.standard_normal(
        (rows, shape[position])
    )
    expected = np.tensordot(kernel, array, axes=([1], [position]))
    out = _contracted(kernel, array, position)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-13 * np.abs(expected).max())
