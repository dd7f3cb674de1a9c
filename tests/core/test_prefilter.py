"""The overlap mode's filter strength: its statistics, its rule, and what it buys.

The truths: the statistics of white noise are analytic; the rule's strength keeps
the modelled floor at the tolerance; a white signal loses shift information to any
filter (Cauchy-Schwarz) while a smooth one at low SNR gains from the full filter; at
moderate noise a weaker filter scatters less than the full one while the errors stay
calibrated (Monte Carlo on known shifts); a whole-pixel shift of one scene makes the
noise windows show the same pixels.
"""

import numpy as np
import pytest

from napari_imreg.core import Registrar, make_crop_pair, register
from napari_imreg.core._filter import filter_response, smoothing_kernels
from napari_imreg.core._prefilter import (
    FLOOR_DECAY,
    FLOOR_RESIDUE,
    FLOOR_SCALE,
    FLOOR_TOLERANCE,
    EdgeContent,
    PowerSpectrum,
    blend,
    edge_scale,
    filter_strength,
    floor_noise,
    least_variance_strength,
)
from napari_imreg.core._strength import NOISE_WINDOW, noise_windows

KERNELS = smoothing_kernels((200, 200))
#: Per unit variance of white noise, the variance the 5-tap kernel removes: |1 - H|**2
#: summed over its taps, (6/16)**2 + 2 (4/16)**2 + 2 (1/16)**2.
REMOVED = 70 / 256


def _white(shape, sigma, seed):
    return sigma * np.random.default_rng(seed).standard_normal(shape)


def test_statistics_of_white_noise():
    # The statistics read 64 lines per axis: about 1% scatter at this size.
    content = EdgeContent.measure(_white((400, 400), 0.5, 1), None, KERNELS)
    # Near-Nyquist power removed by the kernel, and the mean squared step 2 sigma**2.
    assert content.nyquist_power == pytest.approx(REMOVED * 0.25, rel=0.04)
    assert content.gradient_power == pytest.approx(2 * 0.25, rel=0.04)


def test_statistics_ignore_invalid_pixels():
    image = _white((400, 400), 0.5, 2)
    valid = np.ones(image.shape, dtype=bool)
    valid[:, 240:] = False
    valid[80:120, :] = False
    garbage = np.where(valid, image, 1e6)
    content = EdgeContent.measure(np.where(valid, garbage, 0.0), valid, KERNELS)
    assert content.nyquist_power == pytest.approx(REMOVED * 0.25, rel=0.06)
    assert content.gradient_power == pytest.approx(2 * 0.25, rel=0.06)


def test_noise_alone_needs_no_filter():
    # A reference of known noise and no structure: its statistics are the noise's.
    content = EdgeContent.measure(_white((200, 200), 0.5, 3), None, KERNELS)
    scale = edge_scale(content, (200, 200), 0.5**2 * 1.1, KERNELS)
    assert scale == 0.0
    assert filter_strength(scale, 2, 0.5**2) == 0.0
    assert floor_noise(scale, 2, 0.0) == 0.0


def test_edge_scale_follows_the_model():
    # P sqrt(N) / (n sqrt(G)): for a square image, P / sqrt(G), whatever its size.
    reference, _ = make_crop_pair(96, (0.0, 0.0), seed=4)
    content = EdgeContent.measure(reference, None, KERNELS)
    expected = content.nyquist_power / np.sqrt(content.gradient_power)
    assert edge_scale(content, (96, 96), 0.0, KERNELS) == pytest.approx(expected)
    # A 1-D spectrum of N pixels: P / (sqrt(N) sqrt(G)).
    kernels = smoothing_kernels((400,))
    assert edge_scale(content, (400,), 0.0, kernels) == pytest.approx(expected / 20)


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("noise", [1e-4, 1e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0])
def test_strength_keeps_the_floor_at_the_tolerance(ndim, noise):
    scale = 0.05
    strength = filter_strength(scale, ndim, noise**2)
    assert 0.0 <= strength <= 1.0
    unfiltered = FLOOR_SCALE[ndim] * scale
    assert unfiltered * (1 - strength) ** FLOOR_DECAY <= FLOOR_TOLERANCE * noise * (1 + 1e-9)
    # The least such multiple of the step: one step less lets the floor through.
    if strength > 0:
        assert unfiltered * (1 - (strength - 0.1)) ** FLOOR_DECAY > FLOOR_TOLERANCE * noise
    # What the filter leaves is what the errors get.
    assert floor_noise(scale, ndim, strength) == pytest.approx(
        max(unfiltered * (1 - strength) ** FLOOR_DECAY, FLOOR_RESIDUE[ndim] * scale)
    )


def test_unknown_dimensions_take_the_3d_model():
    assert floor_noise(0.05, 4, 0.5) == floor_noise(0.05, 3, 0.5)
    assert filter_strength(0.05, 4, 1e-4) == filter_strength(0.05, 3, 1e-4)


def test_blend_mixes_the_kernel_with_the_identity():
    assert blend(KERNELS, 0.0) is None
    np.testing.assert_array_equal(blend(KERNELS, 1.0)[0], KERNELS[0])
    half = blend(KERNELS, 0.5)[0]
    assert half.sum() == pytest.approx(1.0)
    # Response at Nyquist: 1 - strength (the kernel's is 0).
    nyquist = filter_response(np.array([0.5]), half)[0]
    assert nyquist == pytest.approx(0.5)


@pytest.mark.parametrize(("noise", "expected"), [(1e-3, 1.0), (1.0, 0.0)])
def test_strength_follows_the_noise(noise, expected):
    reference, moving = make_crop_pair(96, (1.3, -2.2), noise=noise, seed=5)
    assert register(reference, moving, error=noise).filter_strength == expected
    assert register(reference, moving).filter_strength == expected


@pytest.mark.parametrize("shape", [(96, 96), (256, 264)])
def test_estimated_noise_chooses_the_strength_of_the_known_noise(shape):
    # Small images measure the noise on a first registration, large ones on a
    # window: either way the strength is the one the true noise gives.
    reference, moving = make_crop_pair(shape, (3.4, -6.1), noise=0.1, seed=6)
    known = register(reference, moving, error=0.1).filter_strength
    estimated = register(reference, moving).filter_strength
    assert 0.0 < known < 1.0
    assert estimated == pytest.approx(known, abs=0.1 + 1e-9)


def test_fixed_strength_and_wrap():
    reference, moving = make_crop_pair(64, (1.3, -2.2), noise=0.1, seed=7)
    assert register(reference, moving, prefilter=0.5).filter_strength == 0.5
    assert register(reference, moving, prefilter=False).filter_strength == 0.0
    assert register(reference, moving, boundary="wrap").filter_strength is None


@pytest.mark.parametrize("value", [1.5, -0.1, float("nan")])
def test_prefilter_out_of_range(value):
    reference, moving = make_crop_pair(32, (1.0, 1.0), seed=8)
    with pytest.raises(ValueError, match="prefilter must be True, False or a strength"):
        register(reference, moving, prefilter=value)


@pytest.mark.parametrize("value", ["yes", None, [1.0]])
def test_prefilter_of_the_wrong_type(value):
    with pytest.raises(TypeError, match="prefilter must be True, False or a strength"):
        Registrar(np.ones((32, 32)), prefilter=value)


@pytest.mark.parametrize("error", ["none", "scalar"])
def test_moderate_noise_gets_a_weaker_filter_and_calibrated_errors(error):
    rng = np.random.default_rng(9)
    truths, adaptive, full = [], [], []
    for _ in range(40):
        truth = rng.uniform(-3, 3, size=2)
        reference, moving = make_crop_pair(96, truth, noise=0.3, seed=int(rng.integers(2**31)))
        kwargs = {"error": 0.3} if error == "scalar" else {}
        adaptive.append(register(reference, moving, **kwargs))
        full.append(register(reference, moving, prefilter=1.0, **kwargs))
        truths.append(truth)
    truths = np.array(truths)
    off = np.array([r.shift for r in adaptive]) - truths
    pulls = off / np.array([r.error for r in adaptive])
    assert np.sqrt(np.mean(pulls**2)) == pytest.approx(1.0, abs=0.3)
    assert abs(pulls.mean()) < 0.4
    full_off = np.array([r.shift for r in full]) - truths
    # 1.4-1.5x in the Monte Carlo of the accuracy benchmark.
    assert np.sqrt(np.mean(full_off**2)) > 1.2 * np.sqrt(np.mean(off**2))
    assert all(0.0 < r.filter_strength < 1.0 for r in adaptive)


def test_noise_windows_show_the_same_pixels():
    # A whole-pixel shift of one scene: the windows hold the very same values.
    truth = (-7, 12)
    reference, moving = make_crop_pair((150, 180), truth, seed=10)
    windows = noise_windows(reference.shape, np.array(truth))
    assert windows is not None
    np.testing.assert_allclose(reference[windows[0]], moving[windows[1]], atol=1e-9)
    assert reference[windows[0]].shape == (NOISE_WINDOW,) * 2
    # An overlap narrower than a short axis has no window.
    assert noise_windows((150, 40), np.array([0, 12])) is None
    # Volumes take windows of a short axis per side (32³ voxels: more than 64² pixels).
    volume = noise_windows((96, 80, 120), np.array([3, -5, 0]))
    assert [w.stop - w.start for w in volume[0]] == [32, 32, 32]
    assert [r.start - m.start for r, m in zip(*volume, strict=True)] == [3, -5, 0]


def test_registrar_keeps_its_own_reference():
    # Strengths other than the first are prepared later, from the Registrar's copy.
    reference, moving = make_crop_pair(96, (1.3, -2.2), noise=0.3, seed=11)
    expected = register(reference.copy(), moving, error=0.3)
    registrar = Registrar(reference)
    reference[:] = 0.0
    result = registrar.register(moving, error=0.3)
    assert 0.0 < result.filter_strength < 1.0
    np.testing.assert_array_equal(result.shift, expected.shift)


@pytest.mark.parametrize("shape", [(97, 97), (256, 256)])
@pytest.mark.parametrize("noise", [0.0, 1e-5])
def test_errors_cover_the_floor_at_very_high_signal_to_noise(shape, noise):
    # With (almost) no noise, the error left is the sub-pixel floor: the reported
    # errors must cover it, not shrink to the noise's (or, estimated, to ~1e-14 px).
    rng = np.random.default_rng(12)
    pulls = []
    for _ in range(20):
        truth = rng.uniform(-5, 5, size=2)
        seed = int(rng.integers(2**31))
        reference, moving = make_crop_pair(shape, truth, noise=noise, seed=seed)
        kwargs = {"error": noise} if noise else {}
        result = register(reference, moving, **kwargs)
        assert result.filter_strength == 1.0
        pulls.append((result.shift - truth) / result.error)
    pulls = np.array(pulls)
    assert np.sqrt(np.mean(pulls**2)) < 1.3
    assert np.abs(pulls).max() < 4.0


@pytest.mark.parametrize(("size", "noise"), [(64, 0.001), (97, 0.001), (97, 0.003)])
def test_estimated_noise_holds_at_high_signal_to_noise(size, noise):
    # There the residual of the chi2 surface nears its precision between pixels and
    # could collapse (pull rms 1.3-2.2 at these sizes and noises); the interior's
    # explicit residual keeps the estimate at or above the noise.
    rng = np.random.default_rng(13)
    pulls, estimates = [], []
    for _ in range(20):
        truth = rng.uniform(-5, 5, size=2)
        seed = int(rng.integers(2**31))
        for power in (2.0, 3.0):
            reference, moving = make_crop_pair(size, truth, noise=noise, power=power, seed=seed)
            result = register(reference, moving)
            pulls.append((result.shift - truth) / result.error)
            estimates.append(result.noise / noise)
    pulls = np.array(pulls)
    assert np.sqrt(np.mean(pulls**2)) < 1.2
    assert np.abs(pulls).max() < 4.0
    assert np.min(estimates) > 0.9


def test_power_spectrum_of_white_noise():
    # Hann-windowed tiles normalised by the window's power: white noise of variance
    # v gives v at every frequency, times the share of valid pixels.
    noise = _white((256, 256), 0.5, 8)
    spectrum = PowerSpectrum.measure(noise, None)
    assert spectrum.valid_share == pytest.approx(1.0)
    assert np.mean(spectrum.power) == pytest.approx(0.25, rel=0.05)
    valid = np.zeros(noise.shape, dtype=bool)
    valid[:, ::2] = True
    halved = PowerSpectrum.measure(np.where(valid, noise, 0.0), valid)
    assert halved.valid_share == pytest.approx(0.5, rel=0.02)
    assert np.mean(halved.power) == pytest.approx(0.125, rel=0.05)


def _signal_plus_noise(signal, noise_sigma, seed):
    return signal + _white(signal.shape, noise_sigma, seed)


def test_a_white_signal_is_registered_unfiltered():
    # Equal signal and noise at every frequency: any filter damps signal and noise
    # alike and loses the weight of the high frequencies, so the least variance is
    # unfiltered, at any noise level.
    for noise in (0.3, 3.0):
        reference = _signal_plus_noise(_white((128, 128), 1.0, 9), noise, 10)
        spectrum = PowerSpectrum.measure(reference, None)
        kernels = smoothing_kernels(reference.shape)
        variance = noise**2
        assert least_variance_strength(spectrum, kernels, (128, 128), 0.0, variance, variance) == 0
        unfiltered = spectrum.shift_variance(None, variance, variance)
        assert spectrum.shift_variance(blend(kernels, 1.0), variance, variance) > unfiltered


def test_a_smooth_signal_at_low_snr_is_filtered_fully():
    # No signal near Nyquist: the filter removes noise only.
    from scipy.ndimage import gaussian_filter

    smooth = gaussian_filter(_white((128, 128), 1.0, 11), 3.0)
    smooth /= smooth.std()
    reference = _signal_plus_noise(smooth, 1.0, 12)
    spectrum = PowerSpectrum.measure(reference, None)
    kernels = smoothing_kernels(reference.shape)
    assert least_variance_strength(spectrum, kernels, (128, 128), 0.0, 1.0, 1.0) == 1.0
    # Noiseless, there is nothing for the filter to remove.
    assert least_variance_strength(spectrum, kernels, (128, 128), 0.0, 0.0, 0.0) == 0.0
