"""The outlier stage's pieces against scipy's whole-image computations (issue 14, 15).

The stage finds the residual's outliers with a separable spline shift and judges
them with an allowance computed on patches around the candidates only; each piece
must give what the whole-image computation gives.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage

from napari_imreg.core._binned_pairs import load_scene, make_binned_pair
from napari_imreg.core._outliers import (
    MODEL_REACH,
    _box_maximum_at,
    _on_moving,
    _sharpness,
    _sharpness_at,
    outlier_masks,
)
from napari_imreg.core._sampling import quantum, sample
from napari_imreg.core._saturation import dilate
from napari_imreg.core._spline_model import keys_shift, spline_shift


def _scene(shape, seed):
    rng = np.random.default_rng(seed)
    image = scipy.ndimage.gaussian_filter(rng.normal(size=shape), 1.0)
    return image + (rng.random(shape) > 0.995) * 5.0  # sharp points too


@pytest.mark.parametrize("wrap", [False, True])
@pytest.mark.parametrize("shape", [(40, 52), (18, 20, 22)])
def test_spline_shift_is_scipys_cubic_spline_shift(shape, wrap):
    image = _scene(shape, 1)
    shift = np.array([1.3, -2.6, 0.45][: len(shape)])
    mode = "grid-wrap" if wrap else "mirror"
    truth = scipy.ndimage.shift(image, shift, order=3, mode=mode)
    ours = spline_shift(image, shift, wrap=wrap)
    inner = tuple(slice(4, n - 4) for n in shape)  # away from the mirror's edge
    np.testing.assert_allclose(ours[inner], truth[inner], atol=1e-10)
    single = spline_shift(image.astype(np.float32), shift, wrap=wrap)
    assert single.dtype == np.float32
    np.testing.assert_allclose(single[inner], truth[inner], atol=1e-5)


# The larger image is shifted a block of rows at a time, the last block partial.
@pytest.mark.parametrize("shape", [(40, 50), (260, 600)])
def test_keys_shift_moves_a_quadratic_exactly_and_keeps_single_precision(shape):
    """Keys' cubic convolution reproduces polynomials up to the second degree."""
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    shift = np.array([1.3, -2.6])

    def surface(y, x):
        return 0.02 * y**2 - 0.01 * x * y + 0.3 * x + 2.0

    ours = keys_shift(surface(y, x), shift, wrap=False)
    truth = surface(y - shift[0], x - shift[1])
    np.testing.assert_allclose(ours[4:-4, 4:-4], truth[4:-4, 4:-4], rtol=1e-13, atol=1e-10)
    single = keys_shift(surface(y, x).astype(np.float32), shift, wrap=False)
    assert single.dtype == np.float32


@pytest.mark.parametrize("wrap", [False, True])
@pytest.mark.parametrize("shape", [(48, 56), (20, 22, 24)])
def test_the_allowance_from_patches_is_the_whole_images(shape, wrap):
    image = _scene(shape, 2)
    shift = np.array([2.3, -1.7, 0.6][: len(shape)])
    mode = "grid-wrap" if wrap else "mirror"
    sharp = np.abs(
        scipy.ndimage.shift(image, shift, order=3, mode=mode)
        - scipy.ndimage.shift(image, shift, order=1, mode=mode)
    )
    sharp = scipy.ndimage.maximum_filter(
        sharp, size=2 * MODEL_REACH + 1, mode="wrap" if wrap else "reflect"
    )
    rng = np.random.default_rng(3)
    # Interior points, and points on the edges (the mirror / the period).
    points = np.stack([rng.integers(0, n, 40) for n in shape], axis=1)
    points[:3] = 0
    points[3:6] = np.array(shape) - 1
    ours = _sharpness_at(image, points, shift, wrap=wrap)
    truth = sharp[tuple(points.T)]
    if wrap:
        np.testing.assert_allclose(ours, truth, rtol=1e-4, atol=1e-6)
    else:  # scipy's mirror of the linear interpolant differs within a pixel of the edge
        inner = np.all((points >= 2) & (points < np.array(shape) - 2), axis=1)
        np.testing.assert_allclose(ours[inner], truth[inner], rtol=1e-4, atol=1e-6)
    # Many points: the whole-image road gives the same numbers where the moving
    # image reaches (the stage asks for no others).
    dense = np.argwhere(np.ones(shape, dtype=bool))[::7]
    reach = np.all((dense - shift >= 5) & (dense - shift < np.array(shape) - 5), axis=1)
    dense = dense[reach]
    np.testing.assert_allclose(
        _sharpness(image, dense, shift, wrap=wrap),
        _sharpness_at(image, dense, shift, wrap=wrap),
        rtol=1e-4,
        atol=1e-6,
    )


@pytest.mark.parametrize("shift", [(1.25, -0.5), (0.0, 2.75), (-3.0, 1.0)])
def test_clipped_pixels_reach_the_moving_grid_as_a_linear_shift_carries_them(shift):
    rng = np.random.default_rng(4)
    clipped = rng.random((40, 50)) > 0.97
    none = np.zeros(clipped.shape, dtype=bool)
    truth = (
        scipy.ndimage.shift(clipped.astype(float), -np.asarray(shift), order=1, mode="constant")
        > 0
    )
    ours = _on_moving(clipped, np.asarray(shift), none, wrap=False)
    inner = (slice(2, -2), slice(2, -2))
    np.testing.assert_array_equal(ours[inner], truth[inner])
    masked = ours.copy()
    assert not _on_moving(clipped, np.asarray(shift), masked, wrap=False).any()


def test_sample_is_the_values_or_a_fixed_draw_of_them():
    values = np.arange(10.0)
    np.testing.assert_array_equal(sample(values, values > 4), [5, 6, 7, 8, 9])
    large = np.random.default_rng(5).normal(size=(1024, 1024))
    valid = large > -1.0
    drawn = sample(large, valid)
    assert drawn.size <= 2**14
    assert np.all(drawn > -1.0)
    np.testing.assert_array_equal(drawn, sample(large, valid))  # the same draw
    assert np.median(drawn) == pytest.approx(np.median(large[valid]), abs=0.02)


@pytest.mark.parametrize("size", [96, 600])
def test_outlier_masks_find_the_hot_pixels_and_nothing_else(size):
    """A real pair with hot pixels at known places in each image: the masks hold
    exactly those (and their neighbours), and a clean pair gives none."""
    scene = load_scene("camera")
    if size > 128:  # above 4 x 2^16 pixels: the spread is taken from a sample
        scene = np.tile(scene, (2, 2))
    pair = make_binned_pair(
        scene, (size, size), (6, -5), bin_factor=4 if size < 128 else 1, rng=6, snr=30
    )
    scale = 1.0 / float(np.std(pair.reference))
    ref, mov = pair.reference * scale, pair.moving * scale
    none = np.zeros(ref.shape, dtype=bool)
    options = {"wrap": False, "threshold": 10.0}
    clean_ref, clean_mov = outlier_masks(ref, mov, none, none, pair.shift, 1.0, 0.0, **options)
    assert not clean_ref.any()
    assert not clean_mov.any()
    rng = np.random.default_rng(7)
    hot_ref = [tuple(p) for p in rng.integers(20, size - 20, (5, 2))]
    hot_mov = [tuple(p) for p in rng.integers(20, size - 20, (5, 2))]
    ref, mov = ref.copy(), mov.copy()
    for p in hot_ref:
        ref[p] += 50.0
    for p in hot_mov:
        mov[p] += 50.0
    on_ref, on_mov = outlier_masks(ref, mov, none, none, pair.shift, 1.0, 0.0, **options)
    for p in hot_ref:
        assert on_ref[p]
    for p in hot_mov:
        assert on_mov[p]
    # Each hot pixel spoils its 3x3 on the reference grid, or the pixels the
    # interpolation spreads a moving one over: a few dozen pixels, no more.
    assert on_ref.sum() <= 10 * 5 * 9
    assert on_mov.sum() <= 10 * 5 * 16


@pytest.mark.parametrize(("shape", "pixels"), [((30, 41), 1), ((9, 12, 7), 1), ((50,), 2)])
def test_dilate_grows_a_mask_as_scipys_dilation_by_the_full_neighbourhood(shape, pixels):
    mask = np.random.default_rng(len(shape)).random(shape) > 0.95
    mask[(0,) * len(shape)] = True  # a pixel on the border grows inwards only
    structure = scipy.ndimage.generate_binary_structure(len(shape), len(shape))
    expected = scipy.ndimage.binary_dilation(mask, structure, iterations=pixels)
    np.testing.assert_array_equal(dilate(mask, pixels), expected)


@pytest.mark.parametrize(("shape", "reach"), [((13, 17), 1), ((6, 9, 5), 1), ((11,), 2)])
def test_the_box_maximum_at_points_is_scipys_maximum_filter_read_there(shape, reach):
    rng = np.random.default_rng(reach)
    values = rng.random(shape)
    points = np.argwhere(rng.random(shape) > 0.6)  # edges and corners among them
    expected = scipy.ndimage.maximum_filter(values, size=2 * reach + 1)[tuple(points.T)]
    np.testing.assert_array_equal(_box_maximum_at(values, points, reach), expected)


def test_a_clipping_that_leaves_too_few_pixels_keeps_the_last_answer(monkeypatch):
    """When the pixels the outlier stage would clip leave an image too masked to
    register (it happened on a dim Poisson crop, 57% zero counts, at SNR 1), the
    registration keeps its last answer rather than raising: the first result, here,
    with the truth within its errors."""
    from napari_imreg.core import _outliers, register

    pair = make_binned_pair(
        load_scene("camera"),
        (64, 64),
        (6, -10),
        bin_factor=4,
        rng=np.random.default_rng(3),
        noise="gaussian",
        snr=30,
    )
    clean = register(pair.reference, pair.moving, outliers=False)

    def everything(ref, mov, *args, **kwargs):  # an outlier stage that clips all
        return np.ones(ref.shape, bool), np.ones(mov.shape, bool)

    monkeypatch.setattr(_outliers, "outlier_masks", everything)
    result = register(pair.reference, pair.moving)
    np.testing.assert_array_equal(result.shift, clean.shift)
    assert np.all(np.abs(result.shift - pair.shift) < 4 * result.error)


def test_quantum_is_the_step_of_digitised_values_and_zero_otherwise():
    rng = np.random.default_rng(8)
    counts = rng.poisson(5.0, (40, 40)).astype(np.float64)
    assert quantum(counts) == 1.0
    assert quantum(counts * 0.375 + 2.0) == pytest.approx(0.375)  # a gain and an offset
    assert quantum(rng.normal(size=(40, 40))) == 0.0
    assert quantum(np.full((8, 8), 3.0)) == 0.0


@pytest.mark.parametrize("noise", [0.3, 0.5, 0.7])
def test_an_8_bit_pair_with_noise_below_one_level_keeps_its_pixels(noise):
    """Rounded to whole levels, most residuals of a real pair tie at zero and their
    median absolute deviation collapses: without the rounding's own noise as a floor,
    every pixel off by one level was clipped as an outlier (3,269 of 4,096 on this
    camera pair at noise 0.5, and the shift came out 0.3 px off)."""
    from napari_imreg.core import register

    rng = np.random.default_rng(9)
    scene = load_scene("camera").astype(np.float64)
    offset = np.array([3, -2])
    window = (slice(100, 164), slice(120, 184))
    moved = tuple(slice(s.start - o, s.stop - o) for s, o in zip(window, offset, strict=True))
    reference, moving = (
        np.clip(np.round(scene[w] + rng.normal(0.0, noise, (64, 64))), 0, 255).astype(np.uint8)
        for w in (window, moved)
    )
    result = register(reference, moving)
    assert result.measured
    assert result.clipped <= 0.01 * reference.size
    assert np.all(np.abs(result.shift + offset) <= 4 * result.error)
    assert np.all(np.abs(result.shift + offset) < 0.02)
