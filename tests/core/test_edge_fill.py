"""Bands of one fill value along the edges (an image resampled or padded before) are
not data."""

import warnings

import numpy as np
import pytest

from napari_imreg.core import register
from napari_imreg.core._binned_pairs import load_scene, make_binned_pair
from napari_imreg.core._prepare import edge_fill


def test_a_band_of_zeros_on_two_edges_is_found():
    rng = np.random.default_rng(0)
    image = rng.normal(10.0, 1.0, (40, 30))
    image[:, :4] = 0.0
    image[-2:] = 0.0
    expected = np.zeros(image.shape, dtype=bool)
    expected[:, :4] = True
    expected[-2:] = True
    np.testing.assert_array_equal(edge_fill(image), expected)


def test_the_zero_corners_of_a_turned_footprint_are_found():
    rng = np.random.default_rng(2)
    image = rng.normal(10.0, 1.0, (48, 40))
    rows, columns = np.indices(image.shape)
    corners = (rows + columns < 12) | ((47 - rows) + columns < 9)
    image[corners] = 0.0
    np.testing.assert_array_equal(edge_fill(image), corners)
    volume = rng.normal(10.0, 1.0, (12, 14, 16))
    planes, rows, columns = np.indices(volume.shape)
    corner = planes + rows + columns < 6
    volume[corner] = -1.0
    np.testing.assert_array_equal(edge_fill(volume), corner)
    # A dead column across the image is not data either.
    image = rng.normal(10.0, 1.0, (48, 40))
    image[:, 17] = 0.0
    np.testing.assert_array_equal(edge_fill(image), image == 0.0)


def test_data_is_not_fill():
    rng = np.random.default_rng(1)
    assert edge_fill(rng.normal(size=(32, 32))) is None
    assert edge_fill(np.full((16, 16), 3.0)) is None  # a constant image is not fill
    # Photon counts of zero on a dark sky: a row of zeros at the edge, and zeros inside.
    counts = rng.poisson(0.05, (32, 32)).astype(float)
    counts[0] = 0.0
    assert edge_fill(counts) is None
    # A saturated edge row whose level recurs inside is the scene's.
    clipped = np.minimum(rng.normal(0.0, 1.0, (32, 32)), 0.5)
    clipped[-1] = 0.5
    assert edge_fill(clipped) is None
    # A rare photon count that happens to sit in two neighbouring edge pixels only.
    counts = rng.poisson(100.0, (32, 32)).astype(float)
    counts[0, 5:7] = 1000.0
    assert edge_fill(counts) is None
    # A clipped background that touches the edges and lies inside as well.
    background = np.maximum(rng.normal(0.0, 1.0, (64, 64)), 0.0)
    assert edge_fill(background) is None


def _bands(shape):
    fill = np.zeros(shape, dtype=bool)
    fill[:, :5] = True
    fill[-3:] = True
    return fill


def _corners(shape):
    rows, columns = np.indices(shape)
    return (rows + columns < 20) | ((shape[0] - 1 - rows) + (shape[1] - 1 - columns) < 20)


@pytest.mark.parametrize(
    ("fill", "offset", "seed"),
    [
        # Both images moved onto one grid before, with zeros where they had no data: the
        # bands' edges stay put while the scene moves (before: 0.43 px off, 3.5 sigma).
        (_bands, (6, -3), 3),
        # Two exposures of a turned field put on one north-up grid: zero wedges at the
        # same corners of both (before: this pair 20 sigma off; 0.22-0.43 px rms on 72
        # real pairs, 5 beyond 4 sigma).
        (_corners, (5, -7), 4),
    ],
)
def test_zero_fill_fixed_in_both_images_does_not_pull_the_shift(fill, offset, seed):
    pair = make_binned_pair(load_scene("moon"), (64, 64), offset, rng=seed, snr=30)
    reference, moving = pair.reference.copy(), pair.moving.copy()
    for image in (reference, moving):
        image[fill(image.shape)] = 0.0
    noise = pair.reference.std() / 30
    for errors in ({}, {"error": noise, "reference_error": noise}):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = register(reference, moving, **errors)
        assert result.measured
        assert np.all(np.abs(result.shift - pair.shift) < 0.05)
        assert np.all(np.abs(result.shift - pair.shift) <= 3 * result.error)
