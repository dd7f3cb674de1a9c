"""A displacement that changes across the image (a rotation, a change of scale): the
error of the translation must hold the shift at the image's centre."""

import warnings

import numpy as np
import pytest
from scipy import ndimage

from napari_imreg.core import register
from napari_imreg.core._binned_pairs import bin_image, load_scene
from napari_imreg.core._distortion import distortion_bias

SIDE = 64


def _linear_model(seed):
    """The Jacobian of a translation (a smooth real-valued image's gradients), a gain
    and an offset, over ``SIDE`` squared pixels, and the place of each pixel from the
    centre over the side."""
    rng = np.random.default_rng(seed)
    image = ndimage.gaussian_filter(rng.normal(size=(SIDE, SIDE)), 2.0) * 50.0
    gradients = np.gradient(image)
    jacobian = np.stack([*gradients, image, np.ones_like(image)], -1)
    places = np.indices((SIDE, SIDE)) - (SIDE - 1) / 2
    return jacobian, places / SIDE


def test_pure_noise_adds_nothing():
    jacobian, _ = _linear_model(1)
    rng = np.random.default_rng(2)
    fired = 0
    for _ in range(20):
        residual = rng.normal(size=(SIDE, SIDE))
        term = distortion_bias(jacobian, residual, np.ones((SIDE, SIDE)), 4)
        fired += bool(np.any(term))
    assert fired <= 1  # a false-alarm rate of 1e-3


def test_a_linear_field_is_counted_from_the_centre():
    # The residual is a displacement field that is nil at the centre and grows across
    # the image, where the image's information lies on one side: the translation's
    # least-squares step moves to the field there, and the centre's shift stays put.
    jacobian, places = _linear_model(3)
    heavy = np.exp(-((places[0] - 0.25) ** 2 + (places[1] - 0.2) ** 2) / 0.02)
    jacobian = jacobian * (0.2 + heavy)[..., None]
    field = 0.05 * (jacobian[..., 0] * places[1] - jacobian[..., 1] * places[0])
    rng = np.random.default_rng(4)
    residual = field + 1e-3 * rng.normal(size=field.shape)
    weight = np.ones((SIDE, SIDE))
    term = distortion_bias(jacobian, residual, weight, 4)
    translation = np.linalg.lstsq(jacobian.reshape(-1, 4), residual.ravel(), rcond=None)[0][:2]
    # The shift at the centre is the fitted one's less its step: the bias is that step.
    assert np.all(np.abs(translation) > 1e-3)
    np.testing.assert_allclose(np.diag(term), translation**2, rtol=0.05)


def _turned_pair(angle, *, scene="cell", full=256, start=(300, 250), offset=(6, -4), snr=100):
    """A pair cut from ``scene``, ``full`` pixels square binned 4 x 4 (true shift
    ``offset / 4`` at the moving image's centre), the moving window turned by
    ``angle`` degrees about its centre, with Gaussian noise of the reference's std
    over ``snr``."""
    image = load_scene(scene)
    start, offset = np.asarray(start), np.asarray(offset)
    yy, xx = np.indices((full, full), dtype=float) - (full - 1) / 2
    c, s = np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))
    centre = start + offset + (full - 1) / 2
    turned = ndimage.map_coordinates(
        image, [centre[0] + c * yy - s * xx, centre[1] + s * yy + c * xx], order=3
    )
    reference = bin_image(image[start[0] : start[0] + full, start[1] : start[1] + full], 4)
    moving = bin_image(turned, 4)
    rng = np.random.default_rng(1)
    sigma = reference.std() / snr
    noisy = [image + rng.normal(0.0, sigma, image.shape) for image in (reference, moving)]
    return *noisy, offset / 4


@pytest.mark.parametrize("angle", [0.1, -0.1, 0.3])
def test_a_turned_pair_covers_the_centre_shift(angle):
    # The cell's information lies off the centre of this crop: a translation fitted to
    # the turned pair reports the displacement there, 0.02-0.07 px from the centre's
    # (errors of 0.002-0.006 px before this term: pulls of 7-21).
    reference, moving, truth = _turned_pair(angle)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = register(reference, moving)
    assert result.measured
    assert np.all(np.abs(result.shift - truth) <= 3 * result.error)


@pytest.mark.parametrize(("angle", "offset"), [(-1.5, (-7, 2)), (2.0, (2, 0))])
def test_a_small_image_turned_by_degrees_covers_the_centre_shift(angle, offset):
    # A 61 x 61 pair of the clock, whose edges lie off the centre: the field's robust
    # covariance stands on 16 blocks there, where the test of the whole field alone
    # missed a turn of 1.5-2 degrees (pulls of 13 and 32).
    reference, moving, truth = _turned_pair(
        angle, scene="clock", full=244, start=(28, 40), offset=offset, snr=20
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = register(reference, moving)
    assert result.measured
    assert np.all(np.abs(result.shift - truth) <= 3 * result.error)
