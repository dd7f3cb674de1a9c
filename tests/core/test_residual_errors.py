"""Issue 13 in the pipeline: ``register``'s default errors hold on real scenes."""

import warnings

import numpy as np
import pytest
from _stars import star_field
from _volumes import sheared_volume
from scipy import ndimage

from napari_imreg.core import Options, make_crop_pair, register
from napari_imreg.core._binned_pairs import load_scene, make_binned_pair
from napari_imreg.core._residual import _moved_window, _window, _window_sizes

# Scenes and noise levels from the real test set; exact truth from crop and bin.
SCENES = ("astronaut", "coins", "immunohistochemistry", "retina", "moon", "brick")


def _registered(pair, *, given: bool, **options):
    """``register`` of a binned pair, quietly, its noise estimated or (``given``) each
    image's true noise std as a scalar."""
    noise = {}
    if given:
        noise = {
            "error": np.sqrt(pair.moving_variance.mean()),
            "reference_error": np.sqrt(pair.reference_variance.mean()),
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return register(pair.reference, pair.moving, **noise, **options)


def _pulls(errors, *, noise="gaussian", modes=("estimated", "scalar"), size=40, pairs=72):
    rng = np.random.default_rng(13)
    pulls = []
    for index in range(pairs):
        scene = load_scene(SCENES[index % len(SCENES)])
        snr = (3.0, 10.0, 30.0)[index % 3]
        mode = modes[(index // 3) % len(modes)]
        pair = make_binned_pair(
            scene, (size, size), rng.integers(-8, 9, 2), rng=rng, noise=noise, snr=snr
        )
        result = _registered(pair, given=mode == "scalar", errors=errors)
        if result.measured:
            pulls.append((result.shift - pair.shift) / result.error)
    return np.array(pulls)


def test_default_errors_are_calibrated_on_real_pairs():
    # Noise estimated and given (scalar), SNR 3-30, six scenes, 40 px binned crops.
    pulls = _pulls("residual")
    assert len(pulls) >= 68  # SNR >= 3: nearly all are measurements
    # 144 pulls: the rms of a calibrated sample is 1 +/- 0.06 (1 sigma). Measured 1.26
    # (the target is 1.25; the surface's errors alone give 2-4, see below).
    assert 0.8 < np.sqrt(np.mean(pulls**2)) < 1.3
    assert np.mean(np.abs(pulls) < 3) >= 0.95


def test_fisher_errors_are_too_small_on_the_same_pairs():
    # The independent check that the pairs are hard: the surface's errors alone fail.
    pulls = _pulls("fisher", modes=("scalar",), pairs=36)
    assert np.sqrt(np.mean(pulls**2)) > 1.5


def test_the_errors_option_is_validated():
    assert Options().errors == "residual"
    with pytest.raises(ValueError, match="errors must be one of 'residual', 'fisher'"):
        Options(errors="sandwich")


@pytest.mark.parametrize("boundary", ["overlap", "wrap"])
def test_large_images_take_a_window_with_masks_and_maps(boundary):
    # Above STAGE_PIXELS the stage fits one window (for "wrap", the moving image's pixels at
    # the whole shift, taken round the edge when the window crosses it); masked
    # pixels and NaN errors are ignored there too.
    rng = np.random.default_rng(21)
    pair = make_binned_pair(
        load_scene("astronaut"), (160, 160), (14, -10), bin_factor=2, rng=rng, snr=10
    )
    mask = np.zeros(pair.reference.shape, dtype=bool)
    mask[70:80, 60:90] = True
    error = np.sqrt(pair.moving_variance)
    error[5:9, 100:120] = np.nan
    result = register(
        pair.reference,
        pair.moving,
        mask=mask,
        error=error,
        reference_error=np.sqrt(pair.reference_variance),
        boundary=boundary,
    )
    fisher = register(
        pair.reference,
        pair.moving,
        mask=mask,
        error=error,
        reference_error=np.sqrt(pair.reference_variance),
        boundary=boundary,
        errors="fisher",
    )
    assert result.measured
    assert result.errors == "residual"
    np.testing.assert_array_equal(result.shift, fisher.shift)  # the errors change, not the shift
    assert np.all(np.isfinite(result.error))
    assert np.all(result.error >= 0.99 * fisher.error)  # the surface's error is the floor
    if boundary == "overlap":
        assert np.all(np.abs(result.shift - pair.shift) < 4 * result.error)


@pytest.mark.parametrize("whole", [(3, -5), (-60, 30), (-40, 70), (90, 0)])
def test_a_periodic_window_is_cut_where_the_rolled_image_holds_it(whole):
    # The periodic mode's stage reads the moving window of the image rolled by the whole
    # shift: slices of the image itself where that window lies inside it, else None
    # (the stage rolls the image then). The pixels count up along both axes, so a
    # window that crosses an edge shows a step down.
    image = np.arange(256 * 200, dtype=np.float64).reshape(256, 200)
    window, _, _ = _window(image.shape, (0, 0))
    rolled = np.roll(image, whole, (0, 1))[window]
    crosses = bool(np.any(np.diff(rolled, axis=0) < 0) or np.any(np.diff(rolled, axis=1) < 0))
    moved = _moved_window(window, whole, image.shape)
    assert (moved is None) == crosses
    if moved is not None:
        np.testing.assert_array_equal(image[moved], rolled)


def test_stack_frames_inherit_the_residual_errors():
    # Frames cut from one real scene at known offsets, all against frame 0 (the same
    # reference window): each frame's error is register()'s, from the residual.
    from napari_imreg.core import register_stack

    rng = np.random.default_rng(31)
    scene = load_scene("retina")
    offsets = [(0, 0)] + [tuple(rng.integers(-8, 9, 2)) for _ in range(11)]
    pairs = [
        make_binned_pair(scene, (40, 40), o, rng=rng, snr=10, start=(200, 200)) for o in offsets
    ]
    stack = np.stack([pairs[0].reference] + [p.moving for p in pairs[1:]])
    result = register_stack(stack, num_workers=1)
    truths = np.array([p.shift for p in pairs[1:]])
    for index in range(1, len(stack)):
        single = register(stack[0], stack[index])
        np.testing.assert_allclose(result.errors[index], single.error, rtol=1e-9)
    fisher = np.array([register(stack[0], f, errors="fisher").error for f in stack[1:]])
    pulls = (result.shifts[1:] - truths) / result.errors[1:]
    assert np.all(np.abs(pulls) < 4)
    assert np.all(result.errors[1:] >= 0.99 * fisher)


def test_estimated_noise_errors_hold_on_aliased_real_crops():
    # Issue 13's cells with the noise estimated at SNR 10-30 (64 px crops binned 4x4,
    # textures and photographs), where the errors were too small. Exact truth from
    # crop and bin.
    rng = np.random.default_rng(1313)
    scenes = ("grass", "gravel", "chelsea", "hubble_deep_field", "cat", "rocket")
    pulls = []
    for index in range(48):
        scene = load_scene(scenes[index % len(scenes)])
        pair = make_binned_pair(
            scene, (64, 64), rng.integers(-12, 13, 2), rng=rng, snr=(10.0, 30.0)[index % 2]
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = register(pair.reference, pair.moving)
        if result.measured:
            pulls.append((result.shift - pair.shift) / result.error)
    pulls = np.array(pulls)
    assert len(pulls) >= 46
    # 96 pulls: a calibrated sample's rms is 1 +/- 0.07 (1 sigma). Measured 1.11, 1.51
    # before the floor check read the noise errors (it now takes the full strength,
    # whose floor is lower, where the chosen strength's answer is off).
    assert 0.6 < np.sqrt(np.mean(pulls**2)) < 1.25
    assert np.mean(np.abs(pulls) < 3) >= 0.95
    assert np.all(np.abs(pulls) < 4.0)


@pytest.mark.parametrize(("shape", "offset"), [((120, 8), (0, -3)), ((8, 120), (3, 2))])
def test_estimated_noise_errors_hold_on_thin_real_pairs(shape, offset):
    # 8 px short axes moved by 1.5 px across: the chi2 surface's interpolated minimum
    # dips to zero and no interior is left past the tapers to check it. The noise
    # fell to its floor (1e-11 of the truth) and grass pairs came out 3-24 sigma off.
    scene = load_scene("grass")
    pulls = []
    for seed in range(6):
        pair = make_binned_pair(scene, shape, offset, bin_factor=2, rng=seed, snr=30)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = register(pair.reference, pair.moving)
        if result.measured:
            pulls.append((result.shift - pair.shift) / result.error)
    assert len(pulls) >= 3
    assert np.all(np.abs(pulls) < 4.0)


def test_given_noise_errors_hold_the_taper_bias_of_thin_real_pairs():
    # Half a pixel across an 8 px axis that is all taper: every filter strength is
    # off alike (the other strength is no witness) and the Fourier model fits better
    # than the spline all the same. A camera pair came out 6 sigma off.
    scene = load_scene("camera")
    pulls = []
    for seed in range(10):
        pair = make_binned_pair(scene, (120, 8), (0, -1), bin_factor=2, rng=seed, snr=30)
        noise = float(np.sqrt(pair.reference_variance.flat[0]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = register(pair.reference, pair.moving, error=noise, reference_error=noise)
        if result.measured:
            pulls.append((result.shift - pair.shift) / result.error)
    assert len(pulls) >= 8
    assert np.all(np.abs(pulls) < 4.0)


def test_a_long_thin_pair_takes_a_window_as_long_as_its_pixels_allow():
    # 4 x 50000 (smooth scene, exact truth): the stage fits a window of its pixel
    # budget. A cube's side per axis gave 4 x 128, where the spline is as biased by
    # the edges as the pipeline (both 0.02 px off across, no model term): pulls of
    # 3.8-3.9 here, 6-11 at 4 x 100000. Now 1.3-1.6.
    rng = np.random.default_rng(1)
    scene = ndimage.gaussian_filter(rng.normal(size=(32, 100024)), 2.0)
    for seed in (1, 2, 3):
        pair = make_binned_pair(scene, (4, 50000), (1, -9), bin_factor=2, rng=seed, snr=20)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = register(pair.reference, pair.moving)
        assert result.measured
        assert np.all(np.abs(result.shift - pair.shift) < 3.0 * result.error)


def test_a_masked_block_costs_the_errors_only_its_pixels():
    """A 20 x 20 hole in a 64 px real pair (a tenth of the pixels), given as ``mask=``,
    NaN pixels or a masked array: the errors stay calibrated and about those of the
    whole pair, since a tenth fewer pixels raise them by a few percent. Zeroed holes
    rang through the stage's spline and Fourier models: errors 6x the whole pair's
    (median; up to 60x), and 10x the surface's."""
    scenes = (*SCENES, "camera", "hubble_deep_field")
    rng = np.random.default_rng(14)
    pulls, ratios = [], []
    for index in range(16):
        scene = load_scene(scenes[index % len(scenes)])
        pair = make_binned_pair(scene, (64, 64), rng.integers(-8, 9, 2), rng=rng, snr=30.0)
        hole = np.zeros((64, 64), dtype=bool)
        y, x = rng.integers(8, 36, 2)
        hole[y : y + 20, x : x + 20] = True
        reference, moving, kwargs = pair.reference, pair.moving, {}
        if index % 3 == 0:
            kwargs["mask"] = hole
        elif index % 3 == 1:
            reference = np.where(hole, np.nan, reference)
        else:
            moving = np.ma.masked_array(moving, hole)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            holed = register(reference, moving, **kwargs)
            whole = register(pair.reference, pair.moving)
        pulls.append((holed.shift - pair.shift) / holed.error)
        ratios.append(holed.error / whole.error)
    pulls = np.array(pulls)
    # 32 pulls: a calibrated sample's rms is 1 +/- 0.13; measured 0.99 (0.70 before).
    assert 0.6 < np.sqrt(np.mean(pulls**2)) < 2.0
    assert np.mean(np.abs(pulls) < 3) >= 0.9
    assert np.median(ratios) < 2.0  # measured 1.09 (6.1 with the holes zeroed)


def test_a_minimum_broader_than_its_curvature_says_is_covered():
    # A colour wheel binned 2x at SNR 3, noise given: the smooth hues leave a broad
    # minimum, which the pipeline (strength 0) finds 1.4 px from the truth on x. Its
    # curvature said 0.33 px and Gauss-Newton's sandwich 0.02; the sandwich through
    # the observed Hessian sees the breadth (the truth was 4.3 sigma out before). With
    # the residual window at a fast length (99, not 85) the observed curvature is
    # flatter still and the error passes max_shift: not a measurement, also honest.
    rng = np.random.default_rng([777, 0, 30, 4])
    offset = rng.integers(-6, 7, 2)
    pair = make_binned_pair(
        load_scene("colorwheel"), (48, 48), offset, bin_factor=2, rng=rng, snr=3.0
    )
    result = _registered(pair, given=True)
    assert np.max(np.abs(result.shift - pair.shift)) > 1.0  # the broad minimum's miss
    assert np.all(np.abs(result.shift - pair.shift) < 3 * result.error)
    assert result.measured == bool(np.all(np.isfinite(result.error)))


@pytest.mark.parametrize("mode", ["estimated", "scalar", "maps"])
def test_photon_noise_on_a_sparse_star_field_is_in_the_errors(mode):
    # Stars of one binned pixel's width on a faint sky, Poisson noise at 1e4 mean
    # counts: the few bright stars carry the shift, and each misses the Fourier
    # model by a misfit (its core's phase) and a photon noise far above the sky's.
    # The residuals prefer the Fourier model clearly, whose noise term puts one
    # level of noise on every pixel; the bias-reduced sandwich of the pipeline's
    # residual counts (pulls up to 12 before, rms 2.0-4.5).
    scene = star_field(256, 40, 4.0, 1)
    pulls = []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        pair = make_binned_pair(
            scene, (48, 48), rng.integers(-12, 13, 2), rng=rng, noise="poisson", snr=100.0
        )
        noise = {
            "estimated": {},
            "scalar": {
                "error": np.sqrt(pair.moving_variance.mean()),
                "reference_error": np.sqrt(pair.reference_variance.mean()),
            },
            # The maps a user has: the counts themselves.
            "maps": {
                "error": np.sqrt(np.maximum(pair.moving, 1.0)),
                "reference_error": np.sqrt(np.maximum(pair.reference, 1.0)),
            },
        }[mode]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = register(pair.reference, pair.moving, **noise)
        assert result.measured
        pulls.append((result.shift - pair.shift) / result.error)
    pulls = np.array(pulls)
    assert np.abs(pulls).max() < 4.0, pulls
    assert np.sqrt(np.mean(pulls**2)) < 1.6, pulls


@pytest.mark.parametrize("given", [False, True])
def test_volume_errors_are_not_cautious_on_band_limited_crops(given):
    # Non-periodic 32³ crops of one band-limited scene (the Fourier model is exact but
    # for the noise): the pipeline's own error holds, and a bound on the models'
    # difference would be the spline's bias. Counting it under the residuals' clear
    # preference for the Fourier model (tried for the binned real volumes' misses)
    # took pull rms 0.87 to 0.59 with the noise estimated, 0.35 with it given.
    pulls = []
    for index in range(12):
        rng = np.random.default_rng([41, index])
        shift = rng.uniform(-3, 3, 3)
        noise = (0.02, 0.1, 0.3)[index % 3]
        ref, mov = make_crop_pair(
            (32, 32, 32), shift, noise=noise, reference_noise=noise, seed=rng
        )
        errors = {"error": noise, "reference_error": noise} if given else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = register(ref, mov, **errors)
        assert result.measured
        pulls.append((result.shift - shift) / result.error)
    pulls = np.array(pulls)
    assert np.abs(pulls).max() < 4.0
    assert 0.65 < np.sqrt(np.mean(pulls**2)) < 1.3


def test_volume_errors_hold_on_binned_real_volumes():
    # 32³ binned pairs of pseudo-real volumes (three real scenes sheared along z, exact
    # truth from crop and bin), the noise given, SNR 30 and 100. The stage's window was
    # a cube of STAGE_PIXELS voxels, 25³, shorter than the sandwich's largest blocks:
    # pull rms 1.22 here (1.36-1.39 over 24 pairs per SNR). Its side is now at least
    # STAGE_SIDE, so these volumes are fitted whole: 1.03 (1.07).
    assert _window_sizes((32, 32, 32)) == [32, 32, 32]
    assert _window_sizes((200, 300)) == [128, 128]  # 2-D keeps its STAGE_PIXELS square
    scenes = ("camera", "gravel", "cell", "moon", "brick", "hubble_deep_field", "coins", "grass")
    pulls = []
    for index in range(14):
        names = [scenes[(index + step) % len(scenes)] for step in (0, 1, 3)]
        volume = sheared_volume(names, 4 * 32 + 18)
        rng = np.random.default_rng([31, index])
        snr = (30.0, 100.0)[index % 2]
        pair = make_binned_pair(volume, (32, 32, 32), rng.integers(-8, 9, 3), rng=rng, snr=snr)
        result = _registered(pair, given=True)
        assert result.measured
        pulls.append((result.shift - pair.shift) / result.error)
    pulls = np.array(pulls)
    assert np.abs(pulls).max() < 4.0
    assert np.sqrt(np.mean(pulls**2)) < 1.15
