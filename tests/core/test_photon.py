"""A noise that grows with the signal, read from the residual when the noise is not
given (core/_photon.py, and the outlier stage that uses it)."""

import itertools

import numpy as np
import pytest
from _stars import star_field

from napari_imreg.core import Registrar, _outliers, make_extended, make_shifted, register
from napari_imreg.core._binned_pairs import load_scene, make_binned_pair
from napari_imreg.core._photon import PIXELS, _flat_indices, _thinning, local_level, noise_line
from napari_imreg.core._sampling import median


def _sparse_level(rng, side=256, sky=10.0):
    """A dark sky with a few bright compact sources: a sparse field's level."""
    return sky + 50.0 * (star_field(side, 20, 3.0, rng, sky=1.0) - 1.0)


@pytest.mark.parametrize(
    "shape",
    # (300, 260): two blocks of rows; axes of one and two samples; a 1-D and a 4-D array.
    [(7, 9), (300, 260), (6, 5, 4), (1, 9), (9, 1), (2, 3), (11,), (3, 1, 2, 4)],
)
def test_local_level_is_the_mean_of_the_neighbours_without_the_pixel(shape):
    rng = np.random.default_rng(0)
    image = rng.normal(size=shape)
    # Mirrored at the edges, the edge sample not repeated (an axis of one: itself).
    padded = np.pad(image, [(1, 1) if n > 1 else (0, 0) for n in shape], mode="reflect")
    padded = np.pad(padded, [(0, 0) if n > 1 else (1, 1) for n in shape], mode="edge")
    total = np.zeros_like(image)
    for offset in itertools.product(range(3), repeat=image.ndim):
        total += padded[tuple(slice(o, o + n) for o, n in zip(offset, shape, strict=True))]
    expected = (total - image) / (3**image.ndim - 1)
    np.testing.assert_allclose(local_level(image), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("seed", range(3))
def test_noise_line_reads_the_slope_of_a_known_line(seed):
    """A residual of variance ``intercept + slope * level`` on a sparse field (3% of
    its pixels above the sky): the slope comes back within 10% (its standard error
    is about 3% here)."""
    rng = np.random.default_rng(seed)
    level = _sparse_level(rng)
    intercept, slope = 3.0, 2.0
    residual = rng.normal(size=level.shape) * np.sqrt(intercept + slope * level)
    line = noise_line(residual, level, np.ones(level.shape, bool), (0.0, 0.0))
    assert line is not None
    assert abs(line.slope - slope) < 0.1 * slope
    assert line.floor > 0
    # Per image, half the residual's variance at an unshifted pair (share 1 + 1).
    assert line.share == pytest.approx(2.0)


@pytest.mark.parametrize("seed", range(5))
def test_a_flat_noise_has_no_line(seed):
    """The same sparse field with a noise of one variance: nothing counts."""
    rng = np.random.default_rng(seed)
    level = _sparse_level(rng)
    residual = 3.0 * rng.normal(size=level.shape)
    assert noise_line(residual, level, np.ones(level.shape, bool), (0.25, -0.5)) is None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_noise_line_reads_the_slope_of_photon_counts_on_a_dim_sky(seed):
    """Two exposures of a sparse field whose sky holds 0.3 counts per pixel: most
    residuals tie at nought, so a group's median sigma was nought, its variance left
    out every pixel that saw a photon, and the dim parts, each within the noise of the
    next, chained every level into one group: no line (seeds 2, 3) or a slope of 1.2
    (seed 1). The residual of two Poisson draws has the variance ``2 * level``."""
    rng = np.random.default_rng(seed)
    level = 0.3 + 20.0 * (star_field(256, 20, 3.0, rng, sky=1.0) - 1.0)
    reference = rng.poisson(level).astype(float)
    moving = rng.poisson(level).astype(float)
    valid = np.ones(level.shape, bool)
    rounding = 2.0 / 12.0  # two images of integer counts
    line = noise_line(
        reference - moving, local_level(reference), valid, (0.0, 0.0), rounding=rounding
    )
    assert line is not None
    assert abs(line.slope - 2.0) < 0.15 * 2.0


def _star_pair(seed, bin_factor, sky):
    """A few stars rendered at full resolution, binned, under photon noise (counts):
    the pair and its exact shift."""
    rng = np.random.default_rng([17, seed])
    stars = star_field(64 * bin_factor + 40, 6, 2.0 * bin_factor, rng, sky=1.0) - 1.0
    scene = sky / bin_factor**2 + 100.0 * stars
    pair = make_binned_pair(
        scene, (64, 64), rng.integers(-12, 13, 2), bin_factor=bin_factor, rng=rng, noise="none"
    )
    reference = rng.poisson(pair.reference_clean).astype(float)
    moving = rng.poisson(pair.moving_clean).astype(float)
    return reference, moving, pair.shift


@pytest.mark.parametrize(("seed", "bin_factor", "sky"), [(1, 3, 5.0), (2, 4, 25.0), (3, 2, 5.0)])
def test_a_sparse_star_field_under_photon_noise_keeps_its_cores(seed, bin_factor, sky):
    """With the noise estimated, the cores' photon noise is far above the sky's: the
    outlier stage judged them by the sky's robust sigma and clipped them (the pair
    then lost, or its errors too small). Judged by the noise at their level, they are
    kept, and the truth is within the errors. (Of the nine pairs ``seed`` 0-8, main
    clips the cores of six, these three among them; with the line, of one, as main,
    and one more pair is not measured, which main measured with 117 pixels clipped.)
    """
    reference, moving, truth = _star_pair(seed, bin_factor, sky)
    result = register(reference, moving)
    assert result.measured
    assert result.clipped == 0
    assert np.all(np.abs(result.shift - truth) < 4 * result.error)


@pytest.mark.parametrize(("seed", "bin_factor", "sky"), [(2, 2, 0.3), (3, 4, 0.5)])
def test_a_star_field_on_a_sky_under_a_count_per_pixel_keeps_its_cores(seed, bin_factor, sky):
    """The same pairs with a sky of under one count per pixel: the line was lost
    (``noise_line``'s dim-sky test), the cores were judged by the sky's robust sigma
    and 110-119 of their pixels clipped. Now none is, and the truth is within the errors."""
    reference, moving, truth = _star_pair(seed, bin_factor, sky)
    result = register(reference, moving)
    assert result.measured
    assert result.clipped == 0
    assert np.all(np.abs(result.shift - truth) < 4 * result.error)


@pytest.mark.parametrize("scene", ["camera", "moon", "cell"])
def test_a_flat_noise_pair_takes_the_scalar_path(scene, monkeypatch):
    """A Gaussian pair (one noise level) registers exactly as with the line never
    sought."""
    pair = make_binned_pair(
        load_scene(scene),
        (64, 64),
        (6, -10),
        bin_factor=4,
        rng=np.random.default_rng(3),
        noise="gaussian",
        snr=30,
    )
    result = register(pair.reference, pair.moving)
    monkeypatch.setattr(_outliers, "photon_line", lambda *args, **kwargs: None)
    scalar = register(pair.reference, pair.moving)
    np.testing.assert_array_equal(result.shift, scalar.shift)
    np.testing.assert_array_equal(result.error, scalar.error)


def test_a_noise_given_is_never_replaced(monkeypatch):
    """A scalar noise given is the user's statement: no line is sought."""
    reference, moving, _ = _star_pair(1, 3, 5.0)

    def sought(*args, **kwargs):
        raise AssertionError("a line was sought with the noise given")

    monkeypatch.setattr(_outliers, "photon_line", sought)
    register(
        reference, moving, error=np.sqrt(moving.mean()), reference_error=np.sqrt(reference.mean())
    )


@pytest.mark.parametrize("size", [PIXELS + 1, 64 * PIXELS, 80 * PIXELS])
def test_a_large_image_is_thinned_to_at_most_pixels_with_its_brightest_apart(size):
    # From 2048² (64 x PIXELS) on, the brightest 1/64 alone was all of PIXELS: the
    # spread's step divided by zero, and every default registration of such an image
    # with the noise estimated raised ZeroDivisionError.
    levels = np.random.default_rng(size).random(size)
    spread, bright = _thinning(levels)
    assert spread.size + bright.size <= PIXELS
    assert np.intersect1d(spread, bright).size == 0
    assert bright.size > 0
    assert levels[bright].min() >= levels[spread].max()


@pytest.mark.parametrize(
    ("shape", "box"),
    [
        ((40, 50), (slice(3, 37), slice(0, 45))),
        ((40, 50), (slice(None), slice(None))),
        ((60,), (slice(5, 52),)),
        ((12, 10, 14), (slice(1, 11), slice(2, 10), slice(0, 13))),
    ],
)
@pytest.mark.parametrize("hole", [False, True])
def test_the_valid_pixels_of_given_ranks_are_numpys(shape, box, hole):
    # Read off the box the valid pixels fill (a pair's overlap) or, when they do
    # not fill one, listed: either way the flat indices of the valid pixels ranked.
    valid = np.zeros(shape, bool)
    valid[box] = True
    if hole:
        valid[tuple(s.start + 2 if s.start else 2 for s in box)] = False
    rng = np.random.default_rng(len(shape) + hole)
    count = np.count_nonzero(valid)
    ranks = [rng.permutation(count)[: count // 3], np.arange(count), np.arange(0)]
    found = _flat_indices(valid, *ranks)
    for r, indices in zip(ranks, found, strict=True):
        np.testing.assert_array_equal(indices, np.flatnonzero(valid)[r])
        assert indices.dtype == np.flatnonzero(valid).dtype


def test_a_2048_pair_registers_with_the_noise_estimated():
    image = make_extended((2048, 2048), seed=9)
    moving = make_shifted(image, (1.3, -0.6), noise=0.05, seed=10)
    result = register(image + np.random.default_rng(11).normal(0, 0.05, image.shape), moving)
    assert result.measured
    assert np.all(np.abs(result.shift - (1.3, -0.6)) <= 4 * result.error)


def test_the_frames_of_one_registrar_read_the_line_as_each_pair_alone(monkeypatch):
    """A stack's frames share the reference's level ranks while their valid pixels
    agree (kept per Registrar): each frame's shift and errors are those of its pair
    registered alone, a frame whose valid pixels differ from the last one's included,
    and with the line counting."""
    rng = np.random.default_rng([18, 1])
    scene = 5.0 / 9 + 100.0 * (star_field(232, 20, 6.0, rng, sky=1.0) - 1.0)
    offsets = [(3, -5), (3, -5), (-7, 4), (3, -5)]
    pairs = [
        make_binned_pair(scene, (64, 64), offset, bin_factor=3, noise="none", start=(20, 20))
        for offset in offsets
    ]
    reference = rng.poisson(pairs[0].reference_clean).astype(float)
    lines, ranks = [], []

    def seen(residual, level, valid, shift, kept=None, rounding=0.0):
        ranks.append(kept)
        lines.append(noise_line(residual, level, valid, shift, kept, rounding))
        return lines[-1]

    monkeypatch.setattr(_outliers, "noise_line", seen)
    registrar = Registrar(reference)
    for pair in pairs:
        moving = rng.poisson(pair.moving_clean).astype(float)
        shared = registrar.register(moving)
        alone = register(reference, moving)
        np.testing.assert_array_equal(shared.shift, alone.shift)
        np.testing.assert_array_equal(shared.error, alone.error)
        assert np.all(np.abs(shared.shift - pair.shift) < 4 * shared.error)
    assert all(line is not None for line in lines)
    # Frames 0 and 1 (one offset) share the ranks; frame 2's pixels differ.
    shared_ranks = ranks[0::2]  # each frame's shared registration, then its pair alone
    assert shared_ranks[1] is shared_ranks[0]
    assert shared_ranks[2] is not shared_ranks[0]


@pytest.mark.parametrize("size", [1, 2, 7, 8, 1001, 4096, 16384])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_median_is_numpys(size, dtype):
    rng = np.random.default_rng(size)
    values = rng.chisquare(1, size)
    if dtype is np.int64:  # ties, which a median of counts mostly is
        values = rng.poisson(2.0, size)
    values = values.astype(dtype)
    assert median(values) == np.median(values)
    if dtype is not np.int64:
        values[size // 2] = np.nan
        assert np.isnan(median(values))
        values[:] = np.nan
        assert np.isnan(median(values))
