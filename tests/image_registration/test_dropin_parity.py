"""The functions and parameters 0.2.10 has beyond the spec, and what each does (issue 18)."""

import importlib
import importlib.util
import logging

import numpy as np
import pytest

import napari_imreg.image_registration as ir
from napari_imreg.core import RegistrationWarning, make_crop_pair, make_extended, make_shifted
from napari_imreg.image_registration import chi2_shifts
from napari_imreg.image_registration.iterative_zoom import centers_to_edges

# the package's functions of these names hide the modules, as in the reference
cross_correlation_shifts = importlib.import_module(
    "napari_imreg.image_registration.cross_correlation_shifts"
)
register_images = importlib.import_module("napari_imreg.image_registration.register_images")

HAVE_REFERENCE = importlib.util.find_spec("image_registration") is not None
needs_reference = pytest.mark.skipif(
    not HAVE_REFERENCE, reason="compares with image_registration 0.2.10, not installed"
)


def reference_module(name):
    from _reference import import_quietly

    return import_quietly(f"image_registration.{name}")


# a view of 8000² zeros that takes no memory: only the size guard looks at it
HUGE = np.broadcast_to(np.zeros(1), (8000, 8000))


@pytest.mark.parametrize(
    "call",
    [
        lambda: ir.chi2_shift(HUGE, HUGE),
        lambda: ir.chi2_shift_iterzoom(HUGE, HUGE),
        lambda: ir.chi2n_map(HUGE, HUGE),
        lambda: ir.cross_correlation_shifts(HUGE, HUGE),
        # zero padding doubles each axis with the non-periodic boundaries
        lambda: ir.chi2n_map(HUGE[:4000, :4000], HUGE[:4000, :4000], boundary="constant"),
    ],
    ids=["chi2_shift", "chi2_shift_iterzoom", "chi2n_map", "cross_correlation", "padded"],
)
def test_allow_huge_keeps_the_size_guard(call):
    with pytest.raises(ValueError, match=r"1\.02 GB.*allow_huge=True"):
        call()


def test_allow_huge_changes_nothing_below_the_guard():
    reference, moving = make_crop_pair((48, 48), (1.5, -2.0), noise=0.01, seed=1)
    assert ir.chi2_shift(reference, moving, allow_huge=True) == ir.chi2_shift(reference, moving)
    np.testing.assert_array_equal(
        ir.chi2n_map(reference, moving, allow_huge=True), ir.chi2n_map(reference, moving)
    )


def test_chi2map_to_errors_reads_the_region_of_a_known_map():
    # chi2 = (x / 2)**2 + (y / 5)**2 sampled at 1/4 px: the 68.3% region of 2 parameters
    # (Delta chi2 < 2.30) reaches x = 2 sqrt(2.30) = 3.03 and y = 7.58, on the 1/4 px grid
    yy, xx = (np.indices((81, 81)) - 40) / 4.0
    chi2 = (xx / 2.0) ** 2 + (yy / 5.0) ** 2 + 17.0
    errors = chi2_shifts.chi2map_to_errors(chi2, zoomfactor=4)
    np.testing.assert_allclose(errors, [3.0, 3.0, 7.5, 7.5])
    wider = chi2_shifts.chi2map_to_errors(chi2, zoomfactor=4, nsigma=2, nfitted=1)
    np.testing.assert_allclose(wider, [4.0, 4.0, 10.0, 10.0])  # Delta chi2 < 4 in 1-D
    with pytest.raises(ValueError, match="2-D"):
        chi2_shifts.chi2map_to_errors(np.ones(5))


@needs_reference
def test_chi2map_to_errors_agrees_with_the_reference():
    rng = np.random.default_rng(2)
    yy, xx = (np.indices((60, 70)) - [[[30]], [[35]]]) / 3.0
    chi2 = ((xx - 1.3) / 1.7) ** 2 + ((yy + 0.4) / 2.9) ** 2 + 0.3 * xx * yy / 5
    chi2 += rng.uniform(0, 0.05, chi2.shape)
    original = reference_module("chi2_shifts").chi2map_to_errors
    for nsigma in (1, 2, 3):
        np.testing.assert_allclose(
            chi2_shifts.chi2map_to_errors(chi2, 3, nsigma), original(chi2, 3, nsigma)
        )


@pytest.mark.parametrize("mode", ["wrap", "constant", "reflect", "nearest"])
def test_chi2_shift_leastsq_finds_the_offset(mode):
    if mode == "wrap":
        reference = make_extended(64, seed=3)
        moving = make_shifted(reference, (1.25, -2.5), noise=0.01, seed=4)
    else:
        reference, moving = make_crop_pair((64, 64), (1.25, -2.5), noise=0.01, seed=4)
    dx, dy, ex, ey = chi2_shifts.chi2_shift_leastsq(reference, moving, mode=mode)
    # the reference's offsets: image 2 from image 1, x first
    assert dx == pytest.approx(2.5, abs=5 * ex)
    assert dy == pytest.approx(-1.25, abs=5 * ey)
    assert len(chi2_shifts.chi2_shift_leastsq(reference, moving, return_error=False)) == 2
    with pytest.raises(ValueError, match="mode must be"):
        chi2_shifts.chi2_shift_leastsq(reference, moving, mode="overlap")


def test_chi2_shift_leastsq_maxoff_limits_the_search():
    reference = make_extended(64, seed=5)
    moving = np.roll(reference, (0, 9), axis=(0, 1))
    dx, _ = chi2_shifts.chi2_shift_leastsq(reference, moving, return_error=False)
    assert dx == pytest.approx(9, abs=1e-6)
    # the true minimum is outside the search: the whole-pixel search stays within maxoff
    # (the sub-pixel step may move up to a pixel on), and the answer is flagged
    with pytest.warns(RegistrationWarning, match="not curved"):
        limited, _ = chi2_shifts.chi2_shift_leastsq(
            reference, moving, maxoff=4, return_error=False
        )
    assert abs(limited) <= 4 + 1


def test_per_iteration_logs_what_the_reference_printed(caplog):
    class Parameter:
        def __init__(self, value):
            self.value = value

    with caplog.at_level(logging.INFO, logger="napari_imreg.image_registration"):
        chi2_shifts.per_iteration({"xsh": Parameter(1.5), "ysh": 2.0}, 7, np.array([3.0, 4.0]))
        chi2_shifts.per_iteration({"xsh": 0.0}, 155, np.zeros(2))  # past 100: every tenth
    assert len(caplog.records) == 1
    assert "007" in caplog.text
    assert "'xsh': 1.5" in caplog.text
    assert "25.0" in caplog.text


def test_second_derivative_of_a_quadratic():
    yy, xx = np.indices((7, 9), dtype=float)
    image = 1.5 * xx**2 - 0.5 * yy**2 + 0.75 * xx * yy + xx - 2
    dxx, dyy, dxy = cross_correlation_shifts.second_derivative(image)
    inner = (slice(1, -1), slice(1, -1))
    np.testing.assert_allclose(dxx[inner], 3.0)
    np.testing.assert_allclose(dyy[inner], -1.0)
    np.testing.assert_allclose(dxy[inner], 0.75)
    # beyond the edges the image counts as zero
    assert dxx[0, 0] == pytest.approx(image[0, 1] - 2 * image[0, 0])
    with pytest.raises(ValueError, match="2-D"):
        cross_correlation_shifts.second_derivative(np.ones(4))


@needs_reference
def test_second_derivative_matches_the_reference_but_for_the_mixed_sign():
    image = np.random.default_rng(6).normal(size=(6, 8))
    ours = cross_correlation_shifts.second_derivative(image)
    theirs = reference_module("cross_correlation_shifts").second_derivative(image)
    np.testing.assert_allclose(ours[0], theirs[0])
    np.testing.assert_allclose(ours[1], theirs[1])
    np.testing.assert_allclose(ours[2], -theirs[2])  # the reference's had the wrong sign


def test_centers_to_edges():
    np.testing.assert_allclose(centers_to_edges(np.array([1.0, 3.0, 5.0])), [0, 2, 4, 6])
    with pytest.raises(ValueError, match="two bin centres"):
        centers_to_edges(np.array([1.0]))


@pytest.mark.parametrize("usfac", [1, 20, 100])
def test_dftregistration_finds_the_shift_in_numpy_order(usfac):
    image = make_extended(64, seed=7)
    shift = (2.35, -1.45)  # rows, columns: the translation that registers image 2
    moved = make_shifted(image, shift)
    row, col, erow, ecol, registered = register_images.dftregistration(
        np.fft.fft2(image), np.fft.fft2(moved), usfac, True, True
    )
    tolerance = 0.5 / usfac + 1e-9
    assert row == pytest.approx(shift[0], abs=max(tolerance, 5 * erow))
    assert col == pytest.approx(shift[1], abs=max(tolerance, 5 * ecol))
    if usfac == 100:
        np.testing.assert_allclose(np.fft.ifft2(registered).real, image, atol=1e-8)
    assert len(register_images.dftregistration(np.fft.fft2(image), np.fft.fft2(moved))) == 2


def test_dftregistration_refuses_complex_images():
    image = np.ones((8, 8)) * (1 + 1j)
    with pytest.raises(ValueError, match="not the Fourier transform of a real image"):
        register_images.dftregistration(np.fft.fft2(image), np.fft.fft2(image))


@needs_reference
def test_dftregistration_agrees_with_the_reference():
    original = reference_module("register_images").dftregistration
    image = make_extended(64, seed=8)
    moved = make_shifted(image, (-3.3, 0.7), noise=0.01, seed=9)
    buffers = np.fft.fft2(image - image.mean()), np.fft.fft2(moved - moved.mean())
    for usfac in (1, 10, 100):
        ours = register_images.dftregistration(*buffers, usfac=usfac)
        theirs = original(*buffers, usfac=usfac)
        np.testing.assert_allclose(ours, theirs, atol=1.0 / usfac + 1e-9)


def test_cross_correlation_shifts_fits_takes_0210_positional_order():
    from astropy.io import fits

    header = fits.Header(
        {"NAXIS": 2, "NAXIS1": 48, "NAXIS2": 48, "CTYPE1": "X", "CTYPE2": "Y", "CDELT1": 1.0}
    )
    reference, moving = make_crop_pair((48, 48), (1.0, -2.0), noise=0.01, seed=10)
    # fitsfile1, fitsfile2, return_cropped_images, sigma_cut, verbose
    out = ir.cross_correlation_shifts_FITS(
        (reference, header), (moving, header), False, False, True, quiet=True
    )
    assert out[:2] == (pytest.approx(2.0, abs=0.1), pytest.approx(-1.0, abs=0.1))
