"""A change of seeing or focus between the two images (core/_blur.py)."""

import numpy as np
import pytest
import scipy.ndimage

from napari_imreg.core import register
from napari_imreg.core._binned_pairs import load_scene, make_binned_pair
from napari_imreg.core._blur import matched_blur, relative_blur

BIN = 4


def _seeing_pair(scene, offset, blur, rng, *, snr=30.0, blurred="reference"):
    """A binned real pair whose ``blurred`` image saw the scene through a Gaussian of
    ``blur`` binned pixels (applied at full resolution, before binning and noise)."""
    image = load_scene(scene)
    start = [int(rng.integers(24, n - 64 * BIN - 24)) for n in image.shape]
    wide = scipy.ndimage.gaussian_filter(image, blur * BIN, mode="reflect")
    pairs = [
        make_binned_pair(source, (64, 64), offset, noise="none", start=start)
        for source in (image, wide)
    ]
    ref_source, mov_source = (pairs[1], pairs[0]) if blurred == "reference" else pairs
    reference, moving = ref_source.reference_clean, mov_source.moving_clean
    sigma = pairs[0].reference_clean.std() / snr
    noisy = [im + rng.normal(0.0, sigma, im.shape) for im in (reference, moving)]
    return noisy[0], noisy[1], sigma, pairs[0].shift


def test_relative_blur_reads_a_known_blur_either_way():
    rng = np.random.default_rng(1)
    reference, moving, sigma, _ = _seeing_pair("moon", (5, -3), 1.0, rng)
    delta, error = relative_blur(reference, moving, sigma**2, sigma**2)
    # The blur was applied before binning by 4: about 1 binned pixel squared.
    assert abs(delta - 1.0) < 0.25
    assert delta > 4 * error
    swapped, _ = relative_blur(moving, reference, sigma**2, sigma**2)
    assert swapped == pytest.approx(-delta)


@pytest.mark.parametrize("scene", ["camera", "moon", "coffee", "rocket"])
def test_a_pair_of_one_width_is_at_most_barely_blurred(scene):
    """Two crops of one scene at one width, compared where they overlap: their spectra
    still differ a little (the sampling phase, the taper), so the matching may blur one
    by a fraction of a pixel (1 of these 24 pairs), which the filter that follows makes
    no matter: the shift moves by under a quarter of its error, the error by under a
    tenth."""
    for seed in range(6):
        rng = np.random.default_rng(seed)
        offset = rng.integers(-24, 25, 2)  # up to 6 binned pixels apart
        pair = make_binned_pair(load_scene(scene), (64, 64), offset, rng=rng, snr=30)
        sigma = np.sqrt(pair.reference_variance.mean())
        matched = matched_blur(pair.reference, pair.moving, sigma, sigma, pair.shift)
        if matched is None:
            continue
        plain = register(pair.reference, pair.moving, error=sigma, reference_error=sigma)
        again = register(matched[0], matched[1], error=matched[3], reference_error=matched[2])
        assert np.all(np.abs(again.shift - plain.shift) < 0.25 * plain.error)
        assert np.allclose(again.error, plain.error, rtol=0.1)


def test_the_sharper_image_is_blurred_and_its_noise_carried():
    rng = np.random.default_rng(3)
    reference, moving, sigma, truth = _seeing_pair("astronaut", (-4, 7), 1.2, rng)
    new_ref, new_mov, ref_error, mov_error = matched_blur(reference, moving, sigma, sigma, truth)
    assert new_ref is reference  # the blurred one is kept as it is
    assert ref_error == sigma
    # The width applied, read back from the moving image it made (interior pixels).
    widths = np.linspace(0.5, 2.0, 151)
    misfit = [
        np.std((scipy.ndimage.gaussian_filter(moving, w, mode="nearest") - new_mov)[8:-8])
        for w in widths
    ]
    width = widths[int(np.argmin(misfit))]
    assert 0.9 < width < 1.5  # about the 1.2 px applied before binning
    noise = scipy.ndimage.gaussian_filter(
        rng.normal(0.0, sigma, (512, 512)), width, mode="nearest"
    )
    assert mov_error == pytest.approx(noise.std(), rel=0.05)
    maps = matched_blur(reference, moving, sigma, np.full(moving.shape, sigma), truth)[3]
    assert np.allclose(maps, mov_error)


@pytest.mark.parametrize("blurred", ["reference", "moving"])
def test_a_change_of_seeing_leaves_the_shift_within_its_error(blurred):
    """Real pairs, one image seen through 1.0-1.5 binned pixels more blur, the noise
    given: unmatched, least squares between the sharp and the blurred image was biased
    by the overlap's edges (cell 0.42 px at 7.7 sigma, rocket 0.16 px at 6.3 sigma on
    such pairs); matched, every shift is within 4 sigma and within 0.05 px."""
    rng = np.random.default_rng([4, len(blurred)])
    for scene in ("cell", "rocket", "hubble_deep_field", "moon"):
        offset = rng.integers(-12, 13, 2)
        reference, moving, sigma, truth = _seeing_pair(
            scene, offset, rng.uniform(1.0, 1.5), rng, blurred=blurred
        )
        result = register(reference, moving, error=sigma, reference_error=sigma)
        assert result.measured
        off = np.abs(result.shift - truth)
        assert np.all(off <= 4 * result.error), (scene, result.shift, truth, result.error)
        assert np.all(off < 0.05), (scene, result.shift, truth)
