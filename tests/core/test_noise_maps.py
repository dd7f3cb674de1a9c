"""Per-pixel noise maps give the shifts the equivalent scalar errors give (issue 13, item 2).

The truth is exact: real scenes cut with crop windows a whole number of full-resolution
pixels apart and binned (``make_binned_pair``), and periodic synthetic intensities
shifted in Fourier space. Maps come from the data (Poisson: the square root of the
noisy counts), are exact, or differ between the two images.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from napari_imreg.core import Registrar, _refine, make_extended, make_shifted, register
from napari_imreg.core._binned_pairs import bin_image, load_scene, make_binned_pair
from napari_imreg.core._prepare import (
    FLAGGED,
    VARIANCE_SMOOTHING,
    materialize,
    modelled_error,
    unknown_pixels,
)
from napari_imreg.core._surface_spectral import noise_overlap

SCENES = ("moon", "camera", "cell", "gravel")


def _register(reference, moving, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return register(reference, moving, **kwargs)


def _stats(misses, errors):
    misses, errors = np.array(misses), np.array(errors)
    pulls = misses / errors
    return (
        float(np.sqrt(np.mean(misses**2))),
        float(np.sqrt(np.mean(pulls**2))),
        float(np.mean(np.abs(pulls) < 3)),
    )


# --- the model of the variance -------------------------------------------------------


@pytest.mark.parametrize("error", [None, 0.5])
def test_scalars_pass_through(error):
    assert modelled_error(error, wrap=False) == error


@pytest.mark.parametrize("wrap", [False, True])
def test_a_constant_map_stays_constant(wrap):
    error = np.full((24, 31), 0.7)
    np.testing.assert_allclose(modelled_error(error, wrap=wrap), 0.7, rtol=1e-12)


def test_own_fluctuation_shrinks_as_the_gaussian_predicts():
    # White fluctuations of the variance keep 1 / (2 sqrt(pi) sigma) of their std per axis.
    rng = np.random.default_rng(3)
    variance = 100.0 + rng.normal(0.0, 10.0, (256, 256))
    model = modelled_error(np.sqrt(variance), wrap=True) ** 2
    predicted = 10.0 / (2 * np.sqrt(np.pi) * VARIANCE_SMOOTHING)
    assert np.std(model) == pytest.approx(predicted, rel=0.15)
    assert np.mean(model) == pytest.approx(np.mean(variance), rel=1e-9)


def test_structure_stays_and_unknown_pixels_are_filled():
    # A noisier half keeps its level away from the step; NaN pixels get their
    # neighbours' variance, never NaN.
    error = np.ones((64, 64))
    error[:, 32:] = 3.0
    error[10, 10] = error[40, 50] = np.nan
    model = modelled_error(error, wrap=False)
    assert np.all(np.isfinite(model))
    np.testing.assert_allclose(model[:, :16], 1.0, rtol=1e-6)
    np.testing.assert_allclose(model[:, 48:], 3.0, rtol=1e-6)
    assert model[10, 10] == pytest.approx(1.0, rel=1e-6)
    assert model[40, 50] == pytest.approx(3.0, rel=1e-6)


# --- registration with maps ----------------------------------------------------------


@pytest.mark.parametrize("boundary", ["overlap", "wrap"])
def test_a_constant_map_is_the_scalar(boundary):
    pair = make_binned_pair(
        load_scene("camera"), (48, 48), (5, -7), noise="gaussian", snr=20, rng=0
    )
    scalar = _register(
        pair.reference, pair.moving, error=0.3, reference_error=0.2, boundary=boundary
    )
    maps = _register(
        pair.reference,
        pair.moving,
        error=np.full((48, 48), 0.3),
        reference_error=np.full((48, 48), 0.2),
        boundary=boundary,
    )
    np.testing.assert_allclose(maps.shift, scalar.shift, atol=1e-6)
    np.testing.assert_allclose(maps.error, scalar.error, rtol=1e-3)


def _poisson_pairs(snr, count, seed):
    rng = np.random.default_rng(seed)
    for trial in range(count):
        scene = load_scene(SCENES[trial % len(SCENES)])
        offset = rng.integers(-10, 11, 2)
        yield make_binned_pair(scene, (40, 40), offset, rng=rng, noise="poisson", snr=snr)


@pytest.mark.parametrize("snr", [10.0, 30.0])
def test_poisson_maps_from_the_data_are_as_accurate_as_scalars(snr):
    # Issue 13: maps sqrt(counts) made from the noisy data biased the shift.
    runs = {"scalar": ([], []), "data maps": ([], [])}
    for pair in _poisson_pairs(snr, 16, seed=1):
        ref, mov = pair.reference, pair.moving
        scalars = {"error": np.sqrt(mov.mean()), "reference_error": np.sqrt(ref.mean())}
        maps = {
            "error": np.sqrt(np.maximum(mov, 1.0)),
            "reference_error": np.sqrt(np.maximum(ref, 1.0)),
        }
        results = {
            "scalar": _register(ref, mov, max_shift=8, **scalars),
            "data maps": _register(ref, mov, max_shift=8, **maps),
        }
        assert results["scalar"].measured == results["data maps"].measured
        if not results["scalar"].measured:  # no significant match: flagged either way
            continue
        for key, result in results.items():
            runs[key][0].append(result.shift - pair.shift)
            runs[key][1].append(result.error)
    scalar_rms, scalar_pull, _ = _stats(*runs["scalar"])
    rms, pull, coverage = _stats(*runs["data maps"])
    assert rms <= 1.2 * scalar_rms
    assert np.max(np.abs(np.array(runs["data maps"][0]) / runs["data maps"][1])) < 4
    # Calibrated as the scalar errors are: 0.8-1.25, widened by the sampling spread
    # of an rms over ~32 pulls (about 12%).
    assert pull == pytest.approx(scalar_pull, rel=0.15)
    assert 0.75 <= pull <= 1.35
    assert coverage >= 0.95


def _large_poisson_pairs(rng):
    # Scenes large enough to bin 256² windows from: such pairs take the large-image
    # road (a binned search, the surface near it).
    for scene_name, factor in (("retina", 4), ("hubble_deep_field", 3), ("cell", 2)):
        scene = load_scene(scene_name)
        for _ in range(2):
            offset = rng.integers(-8, 9, 2)
            yield make_binned_pair(
                scene, (256, 256), offset, bin_factor=factor, rng=rng, noise="poisson", snr=30
            )


def _data_maps(pair):
    return {
        "error": np.sqrt(np.maximum(pair.moving, 1.0)),
        "reference_error": np.sqrt(np.maximum(pair.reference, 1.0)),
    }


def test_maps_on_the_large_image_road_cover_the_truth():
    for pair in _large_poisson_pairs(np.random.default_rng(4)):
        result = _register(pair.reference, pair.moving, **_data_maps(pair))
        assert result.measured
        assert np.all(np.abs(result.shift - pair.shift) < 4 * result.error)


def test_maps_on_the_large_image_road_give_the_full_surface_answer(monkeypatch):
    # The surface near the binned estimate, padded only as far as that shift needs,
    # against every shift's surface at the full padding: the same minimum, but for the
    # period of the interpolant between pixels (a small fraction of the error).
    pairs = list(_large_poisson_pairs(np.random.default_rng(5)))[::2]
    near = [_register(p.reference, p.moving, **_data_maps(p)) for p in pairs]
    monkeypatch.setattr(_refine, "binned_road", lambda engine: False)
    full = [_register(p.reference, p.moving, **_data_maps(p)) for p in pairs]
    for a, b in zip(near, full, strict=True):
        assert np.all(np.abs(a.shift - b.shift) < 0.05 * b.error)
        np.testing.assert_allclose(a.error, b.error, rtol=0.01)


@pytest.mark.parametrize("masked", [False, True])
def test_the_noise_overlap_is_the_correlation_of_the_geometric_weights(masked):
    # corr(a, b)(s) = sum_x a(x) b(x - s), summed here pixel by pixel at whole shifts.
    rng = np.random.default_rng(0)
    reference, moving = rng.normal(size=(2, 40, 48))
    mask = np.zeros((40, 48), bool)
    if masked:
        mask[10:14, 20:30] = True
    engine = Registrar(reference, reference_mask=mask if masked else None)._engine(1.0)
    image = engine._prepare(moving, None, None)
    padded = engine._padded
    term = noise_overlap(engine, image, padded)
    a = materialize(engine._base_weight(engine._reference), engine.shape)
    b = materialize(engine._base_weight(image), engine.shape)
    for shift in ((0, 0), (3, -5), (-7, 2)):
        moved = np.zeros_like(b)
        dy, dx = shift
        moved[max(dy, 0) : 40 + min(dy, 0), max(dx, 0) : 48 + min(dx, 0)] = b[
            max(-dy, 0) : 40 + min(-dy, 0), max(-dx, 0) : 48 + min(-dx, 0)
        ]
        expected = float(np.sum(a * moved))
        value = float(term.derivatives(np.array(shift, dtype=float))[0])
        assert value == pytest.approx(expected, rel=1e-9)


def test_fisher_errors_with_a_map_that_jumps_match_the_scatter():
    # A retina crop whose dark surround (a fifth of a count: a map of 1 there, as
    # sqrt(max(counts, 1)) makes it) meets the fundus (up to 1000 counts): the
    # weights jump by hundreds. The score's covariance read from the weighted cross
    # term's curvature took in that jump: errors 3.7-4.1x the shifts' scatter over
    # noise draws. The truth here is that scatter.
    scene = load_scene("retina")
    low, high = scene.min(), scene.max()
    rates = [
        1000
        * (bin_image(scene[y : y + 288, x : x + 288], 3) - low + 2e-4 * (high - low))
        / (high - low)
        for y, x in ((34, 901), (37, 906))
    ]
    rng = np.random.default_rng(1)
    shifts, errors = [], []
    for _ in range(12):
        ref, mov = (rng.poisson(rate) * 1.0 for rate in rates)
        result = _register(
            ref,
            mov,
            error=np.sqrt(np.maximum(mov, 1.0)),
            reference_error=np.sqrt(np.maximum(ref, 1.0)),
            errors="fisher",
            outliers=False,
        )
        shifts.append(result.shift)
        errors.append(result.error)
    ratio = np.median(errors, axis=0) / np.std(shifts, axis=0, ddof=1)
    assert np.all((ratio > 0.6) & (ratio < 1.6))


def _periodic_poisson(rng):
    g = make_extended(64, seed=int(rng.integers(2**31)))
    g = (g - g.mean()) / g.std()
    shift = rng.uniform(-3, 3, 2)
    rate_ref = 1000 * np.exp(0.8 * g)
    rate_mov = np.maximum(make_shifted(rate_ref, shift), 1e-3)
    return rng.poisson(rate_ref) * 1.0, rng.poisson(rate_mov) * 1.0, rate_ref, rate_mov, shift


def test_periodic_poisson_maps_in_wrap_mode():
    # Issue 13's synthetic case: exact maps gave pull rms 207, and with the two maps
    # weighing both sides the search could land tens of pixels away.
    rng = np.random.default_rng(11)
    misses = {"scalar": [], "exact": [], "data": []}
    for _ in range(12):
        ref, mov, rate_ref, rate_mov, truth = _periodic_poisson(rng)
        for key, kwargs in (
            ("scalar", {"error": np.sqrt(mov.mean()), "reference_error": np.sqrt(ref.mean())}),
            ("exact", {"error": np.sqrt(rate_mov), "reference_error": np.sqrt(rate_ref)}),
            ("data", {"error": np.sqrt(np.maximum(mov, 1)), "reference_error": np.sqrt(ref)}),
        ):
            result = _register(ref, mov, boundary="wrap", **kwargs)
            misses[key].append(result.shift - truth)
    # 40 pairs measure 1.15x the scalar scatter (the weights' remaining structure);
    # 12 pairs spread by ~20% about it.
    scalar = np.sqrt(np.mean(np.square(misses["scalar"])))
    for key in ("exact", "data"):
        assert np.sqrt(np.mean(np.square(misses[key]))) <= 1.35 * scalar
        assert np.abs(misses[key]).max() < 0.01


def _noisy(clean, variance, rng):
    return clean + rng.normal(size=clean.shape) * np.sqrt(variance)


@pytest.mark.parametrize("given", ["both", "reference", "moving"])
def test_maps_that_differ_between_the_images(given):
    # The reference is noisier to the right, the moving image in a band across it:
    # the noise is drawn from the maps, passed exactly.
    rng = np.random.default_rng({"both": 1, "reference": 2, "moving": 3}[given])
    shape = (40, 40)
    ramp = np.linspace(1.0, 4.0, shape[1])[None, :] * np.ones(shape)
    band = np.ones(shape)
    band[12:24] = 3.0
    runs = {"scalar": ([], []), "maps": ([], [])}
    for trial in range(12):
        scene = load_scene(SCENES[trial % len(SCENES)])
        offset = rng.integers(-10, 11, 2)
        pair = make_binned_pair(scene, shape, offset, rng=rng, noise="none")
        level = (pair.reference.std() / 20) ** 2
        ref_var = level * (ramp if given in ("both", "reference") else np.ones(shape))
        mov_var = level * (band if given in ("both", "moving") else np.ones(shape))
        ref = _noisy(pair.reference, ref_var, rng)
        mov = _noisy(pair.moving, mov_var, rng)
        maps = {
            "error": np.sqrt(mov_var) if given != "reference" else np.sqrt(level),
            "reference_error": np.sqrt(ref_var) if given != "moving" else np.sqrt(level),
        }
        scalars = {"error": np.sqrt(mov_var.mean()), "reference_error": np.sqrt(ref_var.mean())}
        for key, kwargs in (("scalar", scalars), ("maps", maps)):
            result = _register(ref, mov, max_shift=8, **kwargs)
            runs[key][0].append(result.shift - pair.shift)
            runs[key][1].append(result.error)
    scalar_rms, _, _ = _stats(*runs["scalar"])
    rms, pull, coverage = _stats(*runs["maps"])
    assert rms <= 1.2 * scalar_rms
    assert 0.7 <= pull <= 1.3
    assert coverage >= 0.95


@pytest.mark.parametrize("boundary", ["overlap", "wrap"])
def test_chi2_per_degree_of_freedom_is_one_with_maps_that_vary(boundary):
    # Noise drawn from a map whose left half is twenty times quieter than its right,
    # passed exactly: each pixel's weighted term then has unit expectation, so chi2
    # per degree of freedom is 1 (within its sampling spread), as with scalars. A
    # count of the weights times the mean variance took it to 0.1.
    rng = np.random.default_rng(11)
    shape = (48, 48)
    variance = np.ones(shape)
    variance[:, shape[1] // 2 :] = 20.0
    ratios = []
    for trial in range(6):
        if boundary == "wrap":
            clean = make_extended(shape[0], seed=trial)
            moving_clean = make_shifted(clean, (1.3, -0.6))
        else:
            pair = make_binned_pair(
                load_scene(SCENES[trial % len(SCENES)]),
                shape,
                rng.integers(-8, 9, 2),
                rng=rng,
                noise="none",
            )
            clean, moving_clean = pair.reference, pair.moving
        level = (clean.std() / 3) ** 2
        ref = _noisy(clean, level * variance, rng)
        mov = _noisy(moving_clean, level * variance, rng)
        error = np.sqrt(level * variance)
        result = _register(ref, mov, error=error, reference_error=error, boundary=boundary)
        ratios.append(result.chi2_min / result.dof)
    assert 0.85 <= float(np.mean(ratios)) <= 1.2


def _with_unknown(error, rng):
    error = error.copy()
    error[rng.random(error.shape) < 0.05] = np.nan
    return error


def test_unknown_pixels_in_a_map_are_ignored():
    # NaN marks pixels whose noise is unknown: they are left out, and the shift holds.
    rng = np.random.default_rng(5)
    pair = make_binned_pair(
        load_scene("moon"), (48, 48), (6, -3), rng=rng, noise="poisson", snr=30
    )
    ref_err = _with_unknown(np.sqrt(np.maximum(pair.reference, 1.0)), rng)
    mov_err = _with_unknown(np.sqrt(np.maximum(pair.moving, 1.0)), rng)
    hot = pair.moving.copy()
    hot[np.isnan(mov_err)] = 1e6  # what the unknown pixels hold does not matter
    result = _register(pair.reference, hot, error=mov_err, reference_error=ref_err)
    assert result.measured
    np.testing.assert_allclose(result.shift, pair.shift, atol=4 * float(result.error.max()))


def test_unknown_pixels_in_a_map_are_ignored_in_wrap_mode():
    # 5% of the pixels unknown in each image: holes in the periodic weights, which
    # cost a few hundredths of a pixel with scalar errors and the same masks too.
    rng = np.random.default_rng(6)
    ref, mov, _, _, truth = _periodic_poisson(rng)
    ref_err = _with_unknown(np.sqrt(np.maximum(ref, 1.0)), rng)
    mov_err = _with_unknown(np.sqrt(np.maximum(mov, 1.0)), rng)
    result = _register(ref, mov, error=mov_err, reference_error=ref_err, boundary="wrap")
    assert result.measured
    np.testing.assert_allclose(result.shift, truth, atol=0.05)


@pytest.mark.parametrize("bad", [0.0, np.inf, -1.0])
def test_zero_infinite_or_negative_map_values_are_refused(bad):
    reference = make_extended(32, seed=1)
    error = np.ones((32, 32))
    error[3, 4] = bad
    with pytest.raises(ValueError, match=r"error must be positive where finite.*NaN or a mask"):
        register(reference, reference, error=error)


@pytest.mark.parametrize("scene", ["moon", "camera"])
def test_pixels_flagged_by_huge_errors_are_ignored(scene):
    # A block of garbage in each image, flagged by errors a million times the noise:
    # ignored as NaN is, so the result is that of the same pixels masked (a
    # smoothed variance would spread the flag over their neighbours, and the
    # garbage would still move through the interpolated surface).
    rng = np.random.default_rng(0)
    pair = make_binned_pair(
        load_scene(scene), (64, 64), (7, -5), rng=rng, noise="gaussian", snr=30
    )
    spread = pair.reference.std()
    sigma = spread / 30
    ref, mov = pair.reference.copy(), pair.moving.copy()
    ref_err, mov_err = np.full(ref.shape, sigma), np.full(mov.shape, sigma)
    mov[20:36, 20:36] = rng.normal(size=(16, 16)) * 100 * spread
    mov_err[20:36, 20:36] = 1e6 * spread
    ref[40:50, 5:15] = 1e3 * spread
    ref_err[40:50, 5:15] = 1e7 * spread
    masks = (ref_err > FLAGGED * sigma, mov_err > FLAGGED * sigma)
    masked = _register(ref, mov, error=sigma, reference_error=sigma, mask=masks)
    result = _register(ref, mov, error=mov_err, reference_error=ref_err)
    assert result.measured
    np.testing.assert_allclose(result.shift, pair.shift, atol=3 * float(result.error.max()))
    assert np.all(result.error < 2 * masked.error)


def test_a_flag_is_far_above_the_map():
    error = np.full((16, 16), 2.0)
    error[3, 3] = 2.0 * FLAGGED * 1.01
    error[4, 4] = 2.0 * FLAGGED * 0.99  # a noisy pixel, not a flag
    error[5, 5] = np.nan
    expected = np.zeros((16, 16), bool)
    expected[3, 3] = expected[5, 5] = True
    np.testing.assert_array_equal(unknown_pixels(error), expected)
