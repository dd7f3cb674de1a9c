"""The overlap mode's taper terms: correlations with a separable taper, summed in image space.

The truth is the zero-padded correlation summed pixel by pixel (at whole-pixel
shifts) and finite differences of the terms themselves (at sub-pixel shifts).
"""

import itertools

import numpy as np
import pytest

from napari_imreg.core._taper import Marginals, Taper, TaperCorrelation, TaperOverlap


def _tapers(shape, width=8, margin=2):
    return [Taper.for_axis(n, width, margin) for n in shape]


def _moved(weight, offsets):
    """``weight(x - offsets)``, zero where that falls outside the array."""
    out = np.zeros_like(weight)
    src, dst = [], []
    for n, k in zip(weight.shape, offsets, strict=True):
        src.append(slice(max(0, -k), min(n, n - k)))
        dst.append(slice(max(0, k), min(n, n + k)))
    out[tuple(dst)] = weight[tuple(src)]
    return out


def _weight(tapers):
    out = tapers[0].samples()
    for taper in tapers[1:]:
        out = np.multiply.outer(out, taper.samples())
    return out


def test_taper_profile():
    taper = Taper.for_axis(40, 8, 2)
    profile = taper.samples()
    assert np.all(profile[:2] == 0)
    assert np.all(profile[-2:] == 0)
    assert np.all(profile[8:32] == 1)
    np.testing.assert_allclose(profile, profile[::-1], atol=1e-15)
    np.testing.assert_allclose(profile[2:8], 0.5 * (1 - np.cos(np.pi * (np.arange(6) + 0.5) / 6)))
    # The ramp is never longer than a quarter of the axis.
    assert Taper.for_axis(12, 8, 1).width == 3


@pytest.mark.parametrize("order", [1, 2, 3])
def test_taper_derivatives_match_finite_differences(order):
    taper = Taper.for_axis(30, 6, 2)
    u = np.linspace(-3, 33, 301)
    h = 1e-5
    ahead, behind = taper.complement(u + h, (order - 1,)), taper.complement(u - h, (order - 1,))
    numeric = (ahead[0] - behind[0]) / (2 * h)
    np.testing.assert_allclose(taper.complement(u, (order,))[0], numeric, atol=1e-6 * 2.0**order)


@pytest.mark.parametrize("shape", [(37,), (40, 37), (14, 17, 15), (40, 14, 15)])
@pytest.mark.parametrize("power", [1, 2])
@pytest.mark.parametrize("sign", [1, -1])
def test_taper_correlation_equals_the_padded_correlation(shape, power, sign):
    rng = np.random.default_rng(len(shape) + power)
    data = rng.normal(size=shape)
    tapers = _tapers(shape, width=4 if len(shape) == 3 else 8, margin=1)
    weight = _weight(tapers)
    reach = [(-5, 6)] * len(shape)
    term = TaperCorrelation(Marginals.of(data, power, tapers), tapers, sign=sign, reach=reach)
    for shift in itertools.islice(itertools.product(range(-5, 7, 3), repeat=len(shape)), 20):
        truth = np.sum(weight * data**power * _moved(weight, [sign * s for s in shift]))
        value = term.tensor([[s] for s in shift], [(0,)] * len(shape)).item()
        np.testing.assert_allclose(value, truth, rtol=1e-12, atol=1e-12 * np.sum(np.abs(data)))


@pytest.mark.parametrize("sign", [1, -1])
def test_taper_correlation_derivatives_match_finite_differences(sign):
    rng = np.random.default_rng(7)
    data = rng.normal(size=(33, 29))
    tapers = _tapers(data.shape)
    term = TaperCorrelation(
        Marginals.of(data, 2, tapers), tapers, sign=sign, reach=[(-4, 4), (-4, 4)], scale=0.5
    )
    point, h = np.array([1.3, -2.6]), 1e-5
    _, grad, hess = term.derivatives(point)
    for axis in range(2):
        step = np.eye(2)[axis] * h
        ahead, behind = term.derivatives(point + step), term.derivatives(point - step)
        np.testing.assert_allclose(grad[axis], (ahead[0] - behind[0]) / (2 * h), rtol=1e-6)
        np.testing.assert_allclose(hess[axis], (ahead[1] - behind[1]) / (2 * h), rtol=1e-5)


def test_taper_correlation_refuses_shifts_beyond_its_reach():
    data = np.ones((20, 20))
    tapers = _tapers(data.shape)
    term = TaperCorrelation(Marginals.of(data, 1, tapers), tapers, sign=1, reach=[(-2, 2)] * 2)
    with pytest.raises(RuntimeError, match="beyond the reach"):
        term.tensor([[3.0], [0.0]], [(0,), (0,)])


def test_taper_overlap_equals_the_summed_weights():
    shape = (31, 26)
    tapers = _tapers(shape)
    weight = _weight(tapers)
    overlap = TaperOverlap(tapers)
    for shift in [(0, 0), (3, -4), (-7, 9)]:
        truth = np.sum(weight * _moved(weight, shift))
        value = overlap.tensor([[s] for s in shift], [(0,), (0,)]).item()
        np.testing.assert_allclose(value, truth, rtol=1e-13)


@pytest.mark.parametrize("shape", [(37,), (40, 37), (14, 17, 15), (40, 14, 15)])
def test_marginals_from_the_spectrum_equal_the_direct_sums(shape):
    rng = np.random.default_rng(11)
    data = rng.normal(size=shape)
    tapers = _tapers(shape, width=4, margin=1)
    padded = [n + 9 for n in shape]
    spectrum = np.fft.rfftn(data * _weight(tapers), s=padded, axes=tuple(range(len(shape))))
    direct = Marginals.of(data, 1, tapers).sums
    read = Marginals.from_spectrum(data, spectrum, padded).sums
    assert read.keys() == direct.keys()
    for axes, values in direct.items():
        np.testing.assert_allclose(read[axes], values, atol=1e-12 * np.sum(np.abs(data)))


@pytest.mark.parametrize("shape", [(300, 250), (70, 40, 30), (70000,)])
def test_marginals_over_several_blocks_of_rows_equal_the_direct_sums(shape):
    # Large enough that the sums of squares are made block by block.
    data = np.random.default_rng(12).normal(size=shape)
    tapers = _tapers(shape, width=6, margin=2)
    weighted = _weight(tapers) * data**2
    sums = Marginals.of(data, 2, tapers).sums
    assert len(sums) == 2 ** len(shape) - 1
    for axes, values in sums.items():
        summed = tuple(a for a in range(len(shape)) if a not in axes)
        np.testing.assert_allclose(values, weighted.sum(axis=summed), rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("period", [50, 51])
def test_a_taper_with_a_period_is_the_interpolant_of_its_samples(period):
    analytic = Taper(40, 6, 2)
    taper = Taper(40, 6, 2, period=period)
    samples = analytic.samples()
    np.testing.assert_array_equal(taper.samples(), samples)
    # The real trigonometric interpolant of the samples zero-padded to the period,
    # summed term by term (the Nyquist term of an even period split in two).
    spectrum = np.fft.fft(samples, n=period)
    k = np.fft.fftfreq(period, 1 / period)

    def interpolant(u):
        phases = np.exp(2j * np.pi * np.outer(u, k) / period)
        if period % 2 == 0:
            phases[:, period // 2] = np.cos(np.pi * u)
        return (phases @ spectrum).real / period

    u = np.arange(-6, 47) + 0.37
    value, slope = taper.complement(u, (0, 1))
    np.testing.assert_allclose(value, 1 - interpolant(u), atol=1e-12)
    h = 1e-6
    numeric = -(interpolant(u + h) - interpolant(u - h)) / (2 * h)
    np.testing.assert_allclose(slope, numeric, atol=1e-7)
    # At whole pixels it is the samples, and past the ramp it ripples a little.
    np.testing.assert_allclose(taper.complement(np.arange(40.0))[0], 1 - samples, atol=1e-12)
    assert 0 < np.max(np.abs(value - analytic.complement(u)[0])) < 0.05


@pytest.mark.parametrize("period", [44, 45])
def test_taper_overlap_with_a_period_sums_the_interpolated_taper(period):
    # sum_x t(x) I[t](x - s): the samples against the interpolant, term by term.
    tapers = [Taper(40, 6, 2, period=period), Taper(31, 4, 1, period=period)]
    overlap = TaperOverlap(tapers)
    point, h = np.array([1.3, -2.45]), 1e-5

    def summed(s):
        out = 1.0
        for taper, shift in zip(tapers, s, strict=True):
            moved = 1.0 - taper.complement(np.arange(taper.n) - shift)[0]
            out *= float(taper.samples() @ moved)
        return out

    value = overlap.tensor([[x] for x in point], [(0, 1)] * 2)
    assert value[0, 0] == pytest.approx(summed(point), rel=1e-12)
    step = np.array([h, 0.0])
    slope = (summed(point + step) - summed(point - step)) / (2 * h)
    assert value[1, 0] == pytest.approx(slope, rel=1e-6)


def test_taper_overlap_after_a_series_at_the_same_shift_is_the_interpolated_sum():
    # The overlap reads its axes' kernels from the cache the cross term's series
    # fill (the last axis's are the same): a series evaluated first, at the same
    # shift given as numpy floats, leaves the overlap what it is on its own.
    from napari_imreg.core._chi2 import Series, series_kernels
    from napari_imreg.core._taper import _interpolated_overlap

    period = (47, 44)
    tapers = [Taper(40, 6, 2, period=period[0]), Taper(31, 4, 1, period=period[1])]
    point = np.array([0.61, -1.27])
    orders = [(0, 1, 2)] * 2
    series_kernels.cache_clear()
    _interpolated_overlap.cache_clear()
    alone = TaperOverlap(tapers).tensor([[x] for x in point], orders)
    series_kernels.cache_clear()
    _interpolated_overlap.cache_clear()
    spectrum = np.fft.rfftn(np.random.default_rng(3).normal(size=period))
    Series(spectrum, period).tensor([[x] for x in point], orders)
    after = TaperOverlap(tapers).tensor([[x] for x in point], orders)
    np.testing.assert_array_equal(after, alone)

    def summed(s):  # sum_x t(x) I[t](x - s), term by term
        out = 1.0
        for taper, shift in zip(tapers, s, strict=True):
            moved = 1.0 - taper.complement(np.arange(taper.n) - shift)[0]
            out *= float(taper.samples() @ moved)
        return out

    assert after[0, 0] == pytest.approx(summed(point), rel=1e-12)
