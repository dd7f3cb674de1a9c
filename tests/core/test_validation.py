"""The shared validators: each branch raises the right type with a message naming the parameter."""

import warnings

import numpy as np
import pytest

from napari_imreg.core._validation import (
    as_image,
    check_choice,
    check_error,
    check_max_shift,
    check_same_shape,
    check_shift,
    check_upsample_factor,
)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint8, np.bool_])
def test_as_image_accepts_real_numeric_arrays_without_copying(dtype):
    array = np.ones((3, 4), dtype=dtype)
    out = as_image(array, "image")
    assert out is array


def test_as_image_converts_nested_lists():
    out = as_image([[1, 2], [3, 4]], "image")
    assert out.shape == (2, 2)
    assert out.dtype.kind == "i"


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        ("abc", TypeError, "image must be a numeric array, got the string 'abc'"),
        (b"abc", TypeError, "image must be a numeric array, got the string"),
        ([[1.0, 2.0], [3.0]], TypeError, "image must be a rectangular numeric array"),
        (
            np.array([object(), object()]),
            TypeError,
            "must hold real numbers, got dtype object",
        ),
        (np.array(["a", "b"]), TypeError, "image must hold real numbers, got dtype <U1"),
        (np.ones((2, 2), dtype=complex), TypeError, r"image is complex \(complex128\)"),
        (np.array([1, 2], dtype="datetime64[s]"), TypeError, "image must be numeric"),
        (np.float64(3.0), ValueError, "image is a 0-d scalar"),
        (np.zeros((0, 4)), ValueError, r"image is empty \(shape \(0, 4\)\)"),
        (np.ones((1, 1)), ValueError, r"image has shape \(1, 1\): a single pixel"),
        (np.ones(1), ValueError, r"image has shape \(1,\): a single pixel"),
    ],
)
def test_as_image_rejects_bad_input(value, error, match):
    with pytest.raises(error, match=match):
        as_image(value, "image")


def test_as_image_allow_complex():
    array = np.ones((2, 3), dtype=np.complex64)
    assert as_image(array, "image", allow_complex=True) is array


def test_as_image_min_ndim_and_nonfinite():
    with pytest.raises(ValueError, match=r"cube must have at least 3 dimensions, got shape"):
        as_image(np.ones((4, 4)), "cube", min_ndim=3)
    data = np.ones((4, 4))
    data[1, 2] = np.nan
    assert as_image(data, "image") is data  # NaN allowed by default
    with pytest.raises(ValueError, match="image contains NaN or infinite values"):
        as_image(data, "image", allow_nonfinite=False)


def test_check_same_shape():
    check_same_shape(np.ones((3, 4)), np.zeros((3, 4)), ("reference", "moving"))
    with pytest.raises(
        ValueError, match=r"reference has shape \(3, 4\) but moving has shape \(4, 3\)"
    ):
        check_same_shape(np.ones((3, 4)), np.zeros((4, 3)), ("reference", "moving"))


def test_check_error_accepts_none_scalars_and_maps():
    assert check_error(None, (4, 4), "error") is None
    assert check_error(0.5, (4, 4), "error") == 0.5
    assert isinstance(check_error(np.float32(2), (4, 4), "error"), float)
    error_map = np.full((4, 4), 0.1, dtype=np.float32)
    error_map[0, 0] = np.nan  # NaN marks a pixel to ignore
    out = check_error(error_map, (4, 4), "error")
    assert out.dtype == np.float64
    assert out.shape == (4, 4)
    assert np.isnan(out[0, 0])


@pytest.mark.parametrize("value", [np.array(0.25), np.array([0.25])])
def test_check_error_treats_one_element_arrays_as_scalars(value):
    assert check_error(value, (4, 4), "error") == 0.25


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (0.0, ValueError, "error must be a positive finite 1-sigma noise, got 0.0"),
        (-1, ValueError, "error must be a positive finite 1-sigma noise, got -1.0"),
        (np.inf, ValueError, "error must be a positive finite 1-sigma noise, got inf"),
        (np.nan, ValueError, "error must be a positive finite 1-sigma noise, got nan"),
        (1j, TypeError, "error must be real"),
        (True, ValueError, "error is a 0-d scalar"),
        ("0.1", TypeError, "error must be a numeric array, got the string"),
        (
            np.ones((3, 4)),
            ValueError,
            r"error has shape \(3, 4\) but the images have shape",
        ),
        (np.zeros((4, 4)), ValueError, "error must be positive where finite"),
        (-np.ones((4, 4)), ValueError, "error must be positive where finite"),
        (np.full((4, 4), np.inf), ValueError, "error must be positive where finite"),
        (np.full((4, 4), np.nan), ValueError, "error is NaN everywhere"),
    ],
)
def test_check_error_rejects(value, error, match):
    with pytest.raises(error, match=match):
        check_error(value, (4, 4), "error")


def test_check_choice():
    assert check_choice("wrap", "boundary", ("overlap", "wrap")) == "wrap"
    for bad in ("Wrap", "", None, 3):
        with pytest.raises(ValueError, match="boundary must be one of 'overlap', 'wrap'; got"):
            check_choice(bad, "boundary", ("overlap", "wrap"))


@pytest.mark.parametrize(("value", "expected"), [("auto", "auto"), (1, 1), (20, 20), (4.0, 4)])
def test_check_upsample_factor_accepts(value, expected):
    out = check_upsample_factor(value)
    assert out == expected
    assert type(out) is type(expected)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (0, ValueError),
        (-3, ValueError),
        (2.5, ValueError),
        ("fast", ValueError),
        (True, TypeError),
        (None, TypeError),
        ([4], TypeError),
    ],
)
def test_check_upsample_factor_rejects(value, error):
    with pytest.raises(error, match="upsample_factor must be 'auto' or an integer >= 1"):
        check_upsample_factor(value)


def test_check_shift():
    np.testing.assert_array_equal(check_shift(1.5, 3), [1.5, 1.5, 1.5])
    np.testing.assert_array_equal(check_shift([1, -2], 2), [1.0, -2.0])
    with pytest.raises(ValueError, match=r"shift must have one value per axis \(2\)"):
        check_shift([1, 2, 3], 2)
    with pytest.raises(ValueError, match="shift must be finite"):
        check_shift([np.nan, 0], 2)
    with pytest.raises(TypeError, match="offset must be numbers, one per axis"):
        check_shift("up", 2, "offset")


def test_check_max_shift():
    assert check_max_shift(None, (8, 8)) is None
    np.testing.assert_array_equal(check_max_shift(3, (8, 8)), [3.0, 3.0])
    np.testing.assert_array_equal(check_max_shift((0, 2), (8, 8)), [0.0, 2.0])
    with pytest.raises(TypeError, match="max_shift must be None or numbers of pixels"):
        check_max_shift("far", (8, 8))
    with pytest.raises(ValueError, match=r"one number per axis \(2\)"):
        check_max_shift((1, 2, 3), (8, 8))
    for bad in (-1, np.inf, (np.nan, 1)):
        with pytest.raises(ValueError, match="max_shift must be finite and >= 0"):
            check_max_shift(bad, (8, 8))


def test_zero_mean_must_be_a_boolean():
    from napari_imreg.core import make_crop_pair, register

    reference, moving = make_crop_pair(48, (1.0, 0.5), noise=0.05, seed=0)
    with pytest.raises(TypeError, match=r"zero_mean must be True, False or None, got 'no'"):
        register(reference, moving, zero_mean="no")


@pytest.mark.parametrize("error", [None, 0.05])
def test_an_axis_too_short_for_the_overlap_mode_is_named(error):
    # A 1 x N spectrum: a clear message naming the axis (it was "cannot convert float NaN
    # to integer" with an error given, from the filter strength of an axis with no interior).
    from napari_imreg.core import register

    line = np.cumsum(np.random.default_rng(0).normal(size=4200))
    with pytest.raises(ValueError, match=r"axis 0 has 1 pixel\(s\).*boundary='wrap'"):
        register(line[None, :4096], line[None, 3:4099], error=error)


def test_a_masked_arrays_masked_pixels_are_left_out():
    """numpy masked arrays (astropy gives them for FITS with blanks) register as if their
    masked pixels were NaN: a block of junk under the mask does not move the shift, and
    the caller's array is not changed."""
    from napari_imreg.core import RegistrationWarning, make_crop_pair, register

    reference, moving = make_crop_pair((64, 64), (1.3, -2.2), noise=0.05, seed=1)
    junk = moving.copy()
    junk[10:30, 10:30] = 50.0
    masked = np.ma.masked_array(junk, mask=np.zeros(junk.shape, bool))
    masked.mask[10:30, 10:30] = True
    before = masked.copy()
    result = register(reference, masked)
    assert result.measured
    assert np.all(np.abs(result.shift - (1.3, -2.2)) < 5 * result.error + 2e-3)
    assert np.array_equal(masked.data, before.data)
    assert np.array_equal(masked.mask, before.mask)
    with warnings.catch_warnings():  # the same junk, unmasked, pulls the shift away
        warnings.simplefilter("ignore", RegistrationWarning)
        unmasked = register(reference, junk)
    assert np.any(np.abs(unmasked.shift - (1.3, -2.2)) > 0.05) or not unmasked.measured


@pytest.mark.parametrize("boundary", ["overlap", "wrap"])
def test_half_precision_images_register_like_single_precision(boundary):
    """float16 pixels (a camera's raw half floats) are computed in float32: neither FFTW nor
    scipy.ndimage takes half precision (the wrap mode raised scipy's RuntimeError)."""
    from napari_imreg.core import make_crop_pair, register

    reference, moving = make_crop_pair((64, 64), (1.3, -2.2), noise=0.05, seed=3)
    half = register(reference.astype(np.float16), moving.astype(np.float16), boundary=boundary)
    single = register(
        reference.astype(np.float16).astype(np.float32),
        moving.astype(np.float16).astype(np.float32),
        boundary=boundary,
    )
    np.testing.assert_array_equal(half.shift, single.shift)
    np.testing.assert_array_equal(half.error, single.error)
    if boundary == "overlap":  # the crops do not wrap: only the overlap mode models them
        assert np.all(np.abs(half.shift - (1.3, -2.2)) < 4 * half.error + 2e-3)


def test_a_one_pixel_wide_axis_in_the_wrap_mode_is_unconstrained_not_an_error():
    # An N x 1 column raised numpy's "too small to calculate a numerical gradient" from
    # the rival test; a 1-pixel axis holds no information on its shift: infinite error.
    from napari_imreg.core import RegistrationWarning, register
    from napari_imreg.core._binned_pairs import load_scene, make_binned_pair

    pair = make_binned_pair(load_scene("camera"), (48, 48), (5, -3), rng=1, snr=30)
    with pytest.warns(RegistrationWarning):
        result = register(pair.reference[:, :1], pair.moving[:, :1], boundary="wrap")
    assert result.shift.shape == (2,)
    assert np.isinf(result.error[1])
