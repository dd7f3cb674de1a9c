"""A change of seeing or focus between the two images (core/_blur.py)."""

import numpy as np
import pytest
import scipy.ndimage

from napari_imreg.core import Registrar, register, register_stack
from napari_imreg.core._binned_pairs import load_scene, make_binned_pair
from napari_imreg.core._blur import PIXEL_VARIANCE, blur_match, relative_blur, spectrum

BIN = 4
SHAPE = (64, 64)


def _seeing_pair(scene, seed, *, snr=30.0, blurred="reference", blur=None):
    """A binned real pair whose ``blurred`` image saw the scene through a Gaussian of
    ``blur`` binned pixels (default 0.8-1.5 px, drawn), applied at full resolution
    before binning and noise; both images noisy. Returns the pair, the noise std and
    the true shift."""
    rng = np.random.default_rng(seed)
    offset = rng.integers(-12, 13, 2)
    width = rng.uniform(0.8, 1.5) if blur is None else blur
    image = load_scene(scene).astype(np.float64)
    start = [int(rng.integers(24, n - SHAPE[0] * BIN - 24)) for n in image.shape]
    wide = scipy.ndimage.gaussian_filter(image, width * BIN, mode="reflect")
    sharp = make_binned_pair(image, SHAPE, offset, noise="none", start=start)
    seen = make_binned_pair(wide, SHAPE, offset, noise="none", start=start)
    if blurred == "reference":
        reference, moving = seen.reference_clean, sharp.moving_clean
    else:
        reference, moving = sharp.reference_clean, seen.moving_clean
    sigma = sharp.reference_clean.std() / snr
    noisy = [im + rng.normal(0.0, sigma, im.shape) for im in (reference, moving)]
    return noisy[0], noisy[1], sigma, sharp.shift


@pytest.mark.parametrize("blurred", ["reference", "moving"])
def test_relative_blur_reads_the_blur_applied(blurred):
    reference, moving, sigma, _ = _seeing_pair("astronaut", 3, blurred=blurred, blur=1.0)
    delta, error, dof = relative_blur(spectrum(reference, sigma**2), spectrum(moving, sigma**2))
    # A Gaussian of 1 binned pixel: a variance of 1 px^2, plus what binning leaves
    # of the sharp scene's own width (the same in both).
    sign = 1.0 if blurred == "reference" else -1.0
    assert dof > 2
    assert sign * delta == pytest.approx(1.0, abs=0.25)
    assert abs(delta) > 10 * error


@pytest.mark.parametrize(
    ("blurred", "scene", "seed", "within"),
    [("reference", "moon", 1, 0.02), ("moving", "rocket", 2, 0.05)],
)
def test_a_biased_seeing_pair_is_matched_alike_everywhere(blurred, scene, seed, within):
    """Pairs that the misfit's bias put off before the matching (SNR 30, noise given):
    the moon's, blurred reference, 0.27 px off (pull 2.1); the rocket's, blurred
    moving image, 0.13 px (pull 3.5). Matched, they are near the truth, and register,
    a Registrar and a stack agree on them (the moving image blurred through the
    prepared reference, or the reference through one of its own)."""
    reference, moving, sigma, truth = _seeing_pair(scene, seed, blurred=blurred)
    errors = {"error": sigma}
    pair = register(reference, moving, reference_error=sigma, **errors)
    assert pair.measured
    # Positive: the moving image was blurred to the reference's width.
    assert np.sign(pair.blur) == (1 if blurred == "reference" else -1)
    assert np.all(np.abs(pair.shift - truth) < within)
    assert np.all(np.abs(pair.shift - truth) < 3 * pair.error)
    registrar = Registrar(reference, reference_error=sigma)
    again = registrar.register(moving, **errors)
    np.testing.assert_allclose(again.shift, pair.shift, atol=1e-9)
    np.testing.assert_allclose(again.error, pair.error, rtol=1e-9)
    # A given reference takes the frames' noise, as the pair's reference_error.
    stack = register_stack(np.stack([moving, moving]), reference=reference, **errors)
    np.testing.assert_allclose(stack.shifts[0], pair.shift, atol=1e-9)
    np.testing.assert_allclose(stack.errors[0], pair.error, rtol=1e-9)


def test_a_sharper_moving_image_is_matched_through_the_prepared_reference():
    # Frames sharper than the reference are blurred; the reference's preparation
    # (its engines, its spectrum) is reused from frame to frame.
    reference, moving, _, truth = _seeing_pair("camera", 1, blur=1.2)
    registrar = Registrar(reference)
    first = registrar.register(moving)
    second = registrar.register(moving)
    np.testing.assert_array_equal(first.shift, second.shift)
    np.testing.assert_allclose(first.shift, register(reference, moving).shift, atol=1e-9)
    assert np.all(np.abs(first.shift - truth) < 4 * first.error)
    assert np.all(np.abs(first.shift - truth) < 0.02)


@pytest.mark.parametrize("scene", ["moon", "camera", "coins", "retina"])
@pytest.mark.parametrize("noisy", ["reference", "moving"])
def test_noise_in_one_image_is_not_read_as_blur(scene, noisy):
    """Two crops of one width, noise in one only and given for it alone (the other is
    then noiseless): the noisy image's spectrum, less its noise, is the other's; no
    match, and the answer is the unmatched registration's. (With the noise's power
    left in, the retina's noisy image reads 0.32 +- 0.03 px^2 sharper: matched.)"""
    rng = np.random.default_rng(7)
    pair = make_binned_pair(load_scene(scene), SHAPE, rng.integers(-12, 13, 2), rng=rng, snr=2)
    sigma = float(np.sqrt(pair.moving_variance.mean()))
    if noisy == "moving":
        reference, moving = pair.reference_clean, pair.moving
        errors = {"error": sigma}
    else:
        reference, moving = pair.reference, pair.moving_clean
        errors = {"reference_error": sigma}
    ref_var = sigma**2 if noisy == "reference" else 0.0
    parts = [spectrum(reference, ref_var), spectrum(moving, sigma**2 - ref_var)]
    assert blur_match(*parts, SHAPE) is None
    result = register(reference, moving, **errors)
    unmatched = Registrar(reference, reference_error=errors.get("reference_error"))
    unmatched.matches_blur = False
    plain = unmatched.register(moving, error=errors.get("error"))
    np.testing.assert_array_equal(result.shift, plain.shift)
    np.testing.assert_array_equal(result.error, plain.error)
    assert result.blur is None


def test_two_samplings_of_one_width_are_no_blur():
    # Noiseless crops of one scene at other sub-pixel phases: their spectra differ
    # near Nyquist (aliasing) by about a pixel's own footprint, which is no seeing.
    for seed in range(4):
        rng = np.random.default_rng(seed)
        pair = make_binned_pair(
            load_scene("brick"), SHAPE, rng.integers(-12, 13, 2), rng=rng, noise="none"
        )
        whole = np.round(pair.shift).astype(int)
        ref = pair.reference_clean[max(0, whole[0]) or None :, max(0, whole[1]) or None :]
        mov = pair.moving_clean[: SHAPE[0] - max(0, whole[0]), : SHAPE[1] - max(0, whole[1])]
        ref = ref[: mov.shape[0], : mov.shape[1]]
        mov = mov[: ref.shape[0], : ref.shape[1]]
        delta, _, _ = relative_blur(spectrum(ref, 0.0), spectrum(mov, 0.0))
        assert abs(delta) < PIXEL_VARIANCE


def test_the_blurred_noise_is_what_the_errors_see():
    """Noise in the sharper image only (given), which the matching blurs: its noise is
    then correlated. The shift's scatter over fresh draws of that noise is what the
    curvature's errors say (the white-noise errors of the blurred image's per-pixel
    variance were 3.5 times too small)."""
    reference, moving, _, _ = _seeing_pair("camera", 2, snr=np.inf, blurred="moving", blur=1.0)
    sigma = reference.std() / 30.0
    rng = np.random.default_rng(11)
    shifts, errors = [], []
    for _ in range(24):
        noisy = reference + rng.normal(0.0, sigma, reference.shape)
        result = register(noisy, moving, reference_error=sigma, errors="fisher")
        shifts.append(result.shift)
        errors.append(result.error)
    # 24 draws: the scatter's std is known to about 15%.
    ratio = np.std(shifts, axis=0, ddof=1) / np.mean(errors, axis=0)
    assert np.all((ratio > 0.6) & (ratio < 1.4)), ratio
