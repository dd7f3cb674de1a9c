"""A linear background fitted between the images: brightness="scale+offset+tilt" (issue 14).

The truths are independent of the code: a weighted least-squares fit by numpy, a ramp of
known slopes added to real crops whose shift is exact (``hostile_pairs``), and periodic
images moved by a known Fourier shift.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage

from napari_imreg.core import _register, fourier_shift, register, register_stack
from napari_imreg.core._background import _keys_on_lattice, slopes_p_value, tilt_p_value
from napari_imreg.core._brightness import (
    Jet,
    OverlapSums,
    TiltSums,
    background_fit,
    fitted_count,
    profiled_residual,
    tilt_coordinates,
)
from napari_imreg.core._image_fit import fit_image_shift
from napari_imreg.core._spline_model import keys_shift

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import hostile_pairs

SCENES = ("astronaut", "camera", "coins", "hubble_deep_field", "moon", "immunohistochemistry")
TILT = "scale+offset+tilt"


@pytest.fixture
def gain_and_offset_alone(monkeypatch):
    """The default brightness fit never escalated to the tilt (the test of need's
    false-alarm rate set to zero): the default before the escalation."""
    monkeypatch.setattr(_register, "ALPHA", 0.0)


def _ramp(shape, slopes):
    """``slopes . x`` with ``x`` each axis's pixel index."""
    grids = np.indices(shape, dtype=np.float64)
    return sum(s * g for s, g in zip(slopes, grids, strict=True))


def _sums(w, ref, mov, coords, *, cast=float):
    pairs = [(i, j) for i in range(len(coords)) for j in range(i, len(coords))]
    tilt = TiltSums(
        tuple(cast((w * c).sum()) for c in coords),
        tuple(cast((w * coords[i] * coords[j]).sum()) for i, j in pairs),
        tuple(cast((w * ref * c).sum()) for c in coords),
        tuple(cast((w * mov * c).sum()) for c in coords),
    )
    return OverlapSums(
        cast(w.sum()),
        cast((w * ref).sum()),
        cast((w * mov).sum()),
        cast((w * ref**2).sum()),
        cast((w * mov**2).sum()),
        cast((w * ref * mov).sum()),
        tilt=tilt,
    )


def _pair(name, seed, slopes=None, *, on_moving=True):
    """A clean real pair, and (with ``slopes``, per pixel in scene stds over the image)
    the same pair with a ramp added to one image."""
    pair = hostile_pairs.make_pair(name, "clean", rng=np.random.default_rng([seed, 3]))
    if slopes is None:
        return pair, pair.reference, pair.moving
    std = float(pair.reference.std())
    n = pair.reference.shape[0]
    ramp = _ramp(pair.reference.shape, np.asarray(slopes) * std / n)
    if on_moving:
        return pair, pair.reference, pair.moving + ramp
    return pair, pair.reference + ramp, pair.moving


# ---------------------------------------------------------------- the closed form


def test_the_profiled_tilt_is_the_weighted_least_squares_minimum():
    rng = np.random.default_rng(0)
    shape = (12, 15)
    w = rng.uniform(0.2, 1.0, shape)
    mov = rng.normal(size=shape)
    slopes = np.array([0.3, -0.2])
    ref = 2.5 * mov + 4.0 + _ramp(shape, slopes) + rng.normal(scale=0.3, size=shape)
    coords = [
        np.broadcast_to(c.reshape([-1 if a == axis else 1 for a in range(2)]), shape)
        for axis, c in enumerate(tilt_coordinates(shape))
    ]
    design = np.stack([mov, np.ones(shape), *coords], -1).reshape(-1, 4)
    root = np.sqrt(w).ravel()
    beta = np.linalg.lstsq(design * root[:, None], ref.ravel() * root, rcond=None)[0]
    expected = float(np.sum(w.ravel() * (ref.ravel() - design @ beta) ** 2))

    sums = _sums(w, ref, mov, coords)
    fit = profiled_residual(sums, TILT)
    assert fit.residual == pytest.approx(expected, rel=1e-9)
    assert fit.scale == pytest.approx(beta[0], rel=1e-9)
    offset, tilt = background_fit(sums, fit.scale)
    assert (offset, *tilt) == pytest.approx(tuple(beta[1:]), rel=1e-9)
    # The slopes are per pixel: the ramp's, to within the noise.
    np.testing.assert_allclose(tilt, slopes, atol=0.02)
    assert fitted_count(TILT, 2) == 4


def test_the_tilted_profile_carries_derivatives_through_the_elimination():
    """Jets through the Gram elimination: the gradient is that of finite differences
    of the residual as the moving image moves along a smooth family."""
    rng = np.random.default_rng(1)
    shape = (10, 11)
    w = rng.uniform(0.2, 1.0, shape)
    ref = rng.normal(size=shape)
    base, direction = rng.normal(size=shape), rng.normal(size=shape)
    coords = [
        np.broadcast_to(c.reshape([-1 if a == axis else 1 for a in range(2)]), shape)
        for axis, c in enumerate(tilt_coordinates(shape))
    ]

    def residual(t):
        return profiled_residual(_sums(w, ref, base + t * direction, coords), TILT).residual

    def jet(values):  # a value with its derivative in t, from the sums' polynomials in t
        return Jet(values[0], [values[1]], [[2 * values[2]]])

    # Each sum is a polynomial of degree <= 2 in t: its coefficients by exact fits.
    ts = np.array([-1.0, 0.0, 1.0])
    tables = [_sums(w, ref, base + t * direction, coords).terms() for t in ts]
    coefficients = np.polynomial.polynomial.polyfit(ts, np.array(tables), 2)
    jets = _sums(w, ref, base, coords).like([jet(c) for c in coefficients.T])
    value = profiled_residual(jets, TILT).residual
    h = 1e-5
    assert value.value == pytest.approx(residual(0.0), rel=1e-10)
    slope = (residual(h) - residual(-h)) / (2 * h)
    assert value.grad[0] == pytest.approx(slope, rel=1e-5)
    curvature = (residual(h) - 2 * residual(0.0) + residual(-h)) / h**2
    assert value.hess[0, 0] == pytest.approx(curvature, rel=1e-3)


# ------------------------------------------------------------------ real pairs


@pytest.mark.parametrize("on_moving", [True, False])
def test_a_ramp_on_real_pairs_keeps_the_clean_accuracy(on_moving):
    """A ramp of about one scene std across either image: the tilt absorbs it. The
    accuracy is the clean pair's (rms within 1.5x + 0.005 px), the truth within 4 sigma,
    and the reported slopes are the ramp's (reference ~ scale * moving + ... + tilt . x)."""
    clean, tilted, pulls = [], [], []
    for k, name in enumerate(SCENES):
        angle = 2 * np.pi * k / len(SCENES)
        slopes = 0.8 * np.array([np.cos(angle), np.sin(angle)])
        pair, ref, mov = _pair(name, k)
        clean.append(register(ref, mov).shift - pair.shift)
        _, ref, mov = _pair(name, k, slopes, on_moving=on_moving)
        result = register(ref, mov, brightness=TILT)
        tilted.append(result.shift - pair.shift)
        pulls.append(np.abs(tilted[-1]) / result.error)
        expected = slopes * float(pair.reference.std()) / pair.reference.shape[0]
        expected = -result.scale * expected if on_moving else expected
        np.testing.assert_allclose(result.tilt, expected, atol=0.05 * np.abs(expected).max())
        assert result.brightness == TILT
    clean_rms = float(np.sqrt(np.mean(np.square(clean))))
    rms = float(np.sqrt(np.mean(np.square(tilted))))
    assert rms <= 1.5 * clean_rms + 0.005, (rms, clean_rms)
    assert np.max(pulls) < 4.0


def test_without_a_tilt_the_ramp_pulls_the_answer(gain_and_offset_alone):
    """The check above can fail: the same ramps with the gain and offset alone."""
    plain, tilted = [], []
    for k, name in enumerate(SCENES[:3]):
        pair, ref, mov = _pair(name, k, [0.8, 0.6])
        plain.append(register(ref, mov).shift - pair.shift)
        tilted.append(register(ref, mov, brightness=TILT).shift - pair.shift)
    assert np.sqrt(np.mean(np.square(plain))) > 2 * np.sqrt(np.mean(np.square(tilted)))


def test_a_ramp_with_noise_maps(gain_and_offset_alone):
    """Error maps weigh every sum: the tilt is profiled out of the weighted chi2, which
    is then the clean pair's (the same maps, no ramp), and the truth within 4 sigma."""
    for k, name in enumerate(SCENES[:3]):
        pair, ref, mov = _pair(name, k, [-0.7, 0.7])
        rng = np.random.default_rng(k)
        # Maps that vary across the image; their rms is the pair's true noise.
        factor = rng.uniform(0.7, 1.3, ref.shape)
        error = pair.noise * factor / np.sqrt(np.mean(factor**2))
        options = {"error": error, "reference_error": error}
        result = register(ref, mov, brightness=TILT, **options)
        clean = register(pair.reference, pair.moving, **options)
        assert np.all(np.abs(result.shift - pair.shift) < 4 * result.error)
        assert result.tilt is not None
        assert result.chi2_min == pytest.approx(clean.chi2_min, rel=0.1)
        ramped = register(ref, mov, **options)
        assert ramped.chi2_min > 1.2 * result.chi2_min


def test_wrap_mode_fits_the_tilt_of_a_periodic_pair(gain_and_offset_alone):
    """A periodic scene moved by a known sub-pixel shift, a ramp added to the
    reference, a gain to the moving image: the tilt is fitted in wrap mode too."""
    rng = np.random.default_rng(4)
    scene = scipy.ndimage.gaussian_filter(rng.normal(size=(64, 80)), 2.0, mode="wrap")
    shift = np.array([2.3, -1.6])
    slopes = np.array([0.02, -0.015]) * scene.std()
    reference = scene + _ramp(scene.shape, slopes) + rng.normal(0, 0.01 * scene.std(), scene.shape)
    moving = 2.0 * fourier_shift(scene, -shift) + rng.normal(0, 0.02 * scene.std(), scene.shape)
    result = register(reference, moving, boundary="wrap", brightness=TILT)
    assert result.boundary == "wrap"
    np.testing.assert_allclose(result.shift, shift, atol=max(4 * result.error.max(), 0.005))
    np.testing.assert_allclose(result.tilt, slopes, rtol=0.02)
    assert result.scale == pytest.approx(0.5, rel=0.01)
    plain = register(reference, moving, boundary="wrap")
    assert np.abs(plain.shift - shift).max() > np.abs(result.shift - shift).max()


def test_the_image_space_stage_fits_the_tilt():
    """The residual stage's model holds the tilt: its answer and error on a ramped
    pair are those of the clean pair, where without the tilt the ramp is left in its
    residual."""
    pair, ref, mov = _pair("camera", 2, [0.9, -0.4])
    _, clean_ref, clean_mov = _pair("camera", 2)
    start = pair.shift + 0.05
    clean = fit_image_shift(clean_ref, clean_mov, start)
    fit = fit_image_shift(ref, mov, start, tilt=True)
    untilted = fit_image_shift(ref, mov, start)
    np.testing.assert_allclose(fit.shift, clean.shift, atol=0.2 * clean.error.max())
    assert fit.chi2 == pytest.approx(clean.chi2, rel=0.05)
    assert untilted.chi2 > 1.5 * fit.chi2
    assert np.all(np.abs(fit.shift - pair.shift) < 4 * fit.error)


@pytest.mark.parametrize("reference", [0, 9, "mean", "previous"])
def test_a_stack_with_a_tilted_growing_background(reference):
    """A time-lapse whose background grows to 5 scene stds, tilted by half its level
    across the frame: with the tilt fitted, as good as the same stack held steady."""
    worst = {}
    for kind, options in {
        "steady": {},
        "tilted": {"background": 5.0, "tilt": 0.5},
    }.items():
        stack, positions = hostile_pairs.make_stack(
            "camera", frames=20, rng=np.random.default_rng(8), size=64, **options
        )
        result = register_stack(stack, reference=reference, num_workers=1, brightness=TILT)
        shifts = np.asarray(result.shifts)
        worst[kind] = np.abs(shifts - shifts[0] - positions).max()
    assert worst["tilted"] <= worst["steady"] + 0.02, worst


# ---------------------------------------------------------------- the default escalates


def _gradient_pair(name, k):
    """``hostile_pairs``' gradient case: a ramp of one scene std, corner to corner, at a
    random angle across the moving image."""
    return hostile_pairs.make_pair(name, "gradient", rng=np.random.default_rng([20261205, k]))


#: Gradient pairs whose truth the default without the tilt missed by over 4 sigma
#: (with the errors of 935c677; the pipeline's own errors of issue 13 hold one of them).
MISSED = (("cat", 21), ("cell", 22), ("chelsea", 23))


def test_the_default_fits_the_tilt_a_gradient_pair_needs(monkeypatch):
    """Real pairs with a known ramp that the gain and offset alone pull off the truth:
    the default finds the tilt significant, registers again with it and says so; the
    shift is then over twice as close, the truth within 4 sigma, and the error that of
    the pair without the ramp."""
    for name, k in MISSED:
        pair = _gradient_pair(name, k)
        with monkeypatch.context() as patch:
            patch.setattr(_register, "ALPHA", 0.0)
            alone = register(pair.reference, pair.moving)
        assert alone.brightness == "scale+offset"
        result = register(pair.reference, pair.moving)
        assert np.max(np.abs(alone.shift - pair.shift)) > 2 * np.max(
            np.abs(result.shift - pair.shift)
        )
        assert result.brightness == TILT
        assert result.tilt is not None
        assert np.max(np.abs(result.shift - pair.shift) / result.error) < 4.0
        clean = hostile_pairs.make_pair(name, "clean", rng=np.random.default_rng([20261205, k]))
        clean_result = register(clean.reference, clean.moving)
        assert clean_result.brightness == "scale+offset"
        np.testing.assert_allclose(result.error, clean_result.error, rtol=0.5)


def test_the_default_keeps_the_clean_accuracy_on_gradient_pairs():
    """Over scenes of every kind, the default on gradient pairs is as accurate as on
    the same pairs without the ramp (rms within 1.5x + 0.005 px), none beyond 4 sigma."""
    scenes = hostile_pairs.usable_scenes()
    clean, ramped, pulls = [], [], []
    for k in range(12):
        rng = [20261205, 100 + k]
        name = scenes[k % len(scenes)]
        pair = hostile_pairs.make_pair(name, "clean", rng=np.random.default_rng(rng))
        clean.append(register(pair.reference, pair.moving).shift - pair.shift)
        pair = hostile_pairs.make_pair(name, "gradient", rng=np.random.default_rng(rng))
        result = register(pair.reference, pair.moving)
        ramped.append(result.shift - pair.shift)
        pulls.append(np.max(np.abs(ramped[-1]) / result.error))
    clean_rms = float(np.sqrt(np.mean(np.square(clean))))
    rms = float(np.sqrt(np.mean(np.square(ramped))))
    assert rms <= 1.5 * clean_rms + 0.005, (rms, clean_rms)
    assert max(pulls) < 4.0


def test_the_test_of_need_holds_its_false_alarm_rate_under_its_null():
    """Block medians that hold no plane (independent noise of unequal spread, a moving
    image's column): the p-values are uniform, so the test fires at its stated rate.
    With a plane added, far below it."""
    rng = np.random.default_rng(5)
    blocks = 100
    y, x = np.divmod(np.arange(blocks), 10)
    p_values, planted = [], []
    for _ in range(400):
        moving = rng.normal(size=blocks)
        spread = rng.uniform(0.5, 2.0, blocks)
        medians = 0.3 * moving + spread * rng.normal(size=blocks)
        regressors = np.column_stack([moving, y, x]).astype(float)
        p_values.append(slopes_p_value(regressors, medians, 2))
        planted.append(slopes_p_value(regressors, medians + 0.3 * (y - x), 2))
    p_values = np.array(p_values)
    for level in (0.05, 0.2, 0.5):
        assert (
            abs(np.mean(p_values < level) - level) < 3 * np.sqrt(level * (1 - level) / 400) + 0.01
        )
    assert np.mean(np.array(planted) < _register.ALPHA) > 0.95


def test_the_test_of_need_reads_a_lattice_of_large_images_as_keys_shift_does():
    """Large images are read on a lattice of pixels: its values are those of the whole
    image moved by Keys' convolution (mirrored or periodic edges)."""
    rng = np.random.default_rng(2)
    image = rng.normal(size=(41, 37))
    lattice = [np.arange(1, 41, 3), np.arange(0, 37, 4)]
    for wrap in (False, True):
        for shift in ([2.3, -1.7], [-0.4, 5.9]):
            whole = keys_shift(image, np.array(shift), wrap=wrap)[np.ix_(*lattice)]
            np.testing.assert_allclose(
                _keys_on_lattice(image, np.array(shift), lattice, wrap=wrap), whole, atol=1e-12
            )


def _hubble_pair(size: int):
    """A ``size`` px real pair of the Hubble deep field, binned 2x, SNR 30, moved (3, -1.5)."""
    from napari_imreg.core._binned_pairs import load_scene, make_binned_pair

    return make_binned_pair(
        load_scene("hubble_deep_field"),
        (size, size),
        np.array([6, -3]),
        bin_factor=2,
        rng=np.random.default_rng(1),
        noise="gaussian",
        snr=30,
    )


def test_a_large_gradient_pair_is_found_tilted_and_a_clean_one_is_not():
    """A 400 px real pair (read on the lattice): a ramp of one scene std is found, the
    clean pair is not."""
    pair = _hubble_pair(400)
    result = register(pair.reference, pair.moving)
    invalid = (np.zeros(pair.reference.shape, bool),) * 2
    clean_p = tilt_p_value(pair.reference, pair.moving, invalid, result.shift, result.scale, False)
    assert clean_p > _register.ALPHA
    ramp = _ramp(pair.moving.shape, [1 / 400, 0.5 / 400]) * float(pair.reference.std())
    ramped = tilt_p_value(
        pair.reference, pair.moving + ramp, invalid, result.shift, result.scale, False
    )
    assert ramped < 1e-6


def test_large_images_fit_the_tilt_on_the_binned_road(monkeypatch):
    """A 384 px real pair with a known ramp across the moving image: the large-image
    road (binned search, the taper's sums in image space) fits the tilt, with the
    full surface's answer, the ramp's slopes and the truth within 4 sigma."""
    from napari_imreg.core import _refine, _strength
    from napari_imreg.core._surface_binned import tapered_road

    pair = _hubble_pair(384)
    slopes = np.array([0.8, -0.6]) * float(pair.reference.std()) / 384
    moving = pair.moving + _ramp(pair.moving.shape, slopes)
    roads = []

    def noted(*args, **kwargs):  # which road each fit took (the noise window's too)
        roads.append(tapered_road(*args, **kwargs))
        return roads[-1]

    monkeypatch.setattr(_refine, "tapered_road", noted)
    binned = register(pair.reference, moving, brightness=TILT)
    assert roads[-1]  # the registration proper
    np.testing.assert_allclose(binned.tilt, -binned.scale * slopes, rtol=0.05)
    assert np.all(np.abs(binned.shift - pair.shift) < 4 * binned.error)
    for road in ("tapered_road", "binned_road"):
        monkeypatch.setattr(_refine, road, lambda *a, **k: False)
    monkeypatch.setattr(_strength, "binned_search", lambda *a, **k: False)
    full = register(pair.reference, moving, brightness=TILT)
    np.testing.assert_allclose(binned.shift, full.shift, atol=0.1 * full.error.max())
    np.testing.assert_allclose(binned.error, full.error, rtol=0.1)


def test_the_noise_estimated_at_full_strength_is_that_of_the_pair_without_the_ramp():
    """With the tilt fitted and the filter at full strength, the noise estimated from
    the interior's difference (the floor under the surface's residual) is taken less
    the fitted plane: a ramp does not raise it, nor the errors, where it grew with the
    ramp's height (0.002 -> 0.014 on this pair) and made the floor check keep an
    aliased answer on a 512 px one."""
    from napari_imreg.core._binned_pairs import load_scene, make_binned_pair

    pair = make_binned_pair(
        load_scene("retina"),
        (128, 128),
        np.array([5, -7]),
        bin_factor=4,
        rng=np.random.default_rng(0),
        noise="gaussian",
        snr=30,
    )
    slopes = np.array([0.8, 0.6]) * float(pair.reference.std()) / 128
    options = {"brightness": TILT, "prefilter": 1.0, "errors": "fisher"}
    clean = register(pair.reference, pair.moving, **options)
    ramped = register(pair.reference, pair.moving + _ramp(pair.moving.shape, slopes), **options)
    assert ramped.noise == pytest.approx(clean.noise, rel=0.05)
    np.testing.assert_allclose(ramped.error, clean.error, rtol=0.05)


def test_a_shift_slightly_off_on_a_smooth_scene_is_no_tilt():
    """A smooth real scene (scikit-image's colour wheel, as grey: its gradient field is
    nearly a plane) read at a shift 0.15 px off the exact one: the residual is the
    shift's error, not a tilt, and the test of need stays at its false-alarm rate.
    Without the gradient columns it fired on 16 of these 40 pairs."""
    from napari_imreg.core._binned_pairs import load_scene, make_binned_pair

    scene = load_scene("colorwheel")
    p_values = []
    for k in range(40):
        pair = make_binned_pair(
            scene,
            (48, 48),
            (12, -11),
            bin_factor=4,
            rng=np.random.default_rng(k),
            noise="poisson",
            snr=30,
            start=(40 + 3 * k, 60 + 2 * k),
        )
        invalid = (np.zeros(pair.reference.shape, bool),) * 2
        off = pair.shift + np.array([0.15, -0.15])
        p_values.append(tilt_p_value(pair.reference, pair.moving, invalid, off, 1.0, False))
    assert np.sum(np.array(p_values) < 0.01) <= 2
    # A real ramp on the same pairs is still found (the last pair, at its own shift).
    ramp = _ramp(pair.moving.shape, [0.3 / 48, -0.2 / 48]) * float(pair.reference.std())
    ramped = tilt_p_value(pair.reference, pair.moving + ramp, invalid, pair.shift, 1.0, False)
    assert ramped < _register.ALPHA
