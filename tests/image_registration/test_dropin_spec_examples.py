"""Every example of the spec's documentation, run through the drop-in.

The examples are the spec's scripts as written, legacy ``np.random`` calls included: scripts
that seed numpy's global generator must keep working.
"""
# ruff: noqa: NPY002

import numpy as np
import pytest

import napari_imreg.image_registration as image_registration
from napari_imreg.image_registration import chi2_shift, chi2_shift_iterzoom


def test_quick_example():
    """The README's quick example: register, then shift image 2 back onto image 1."""
    np.random.seed(0)
    image = image_registration.tests.make_extended(100)
    noise = 0.1
    offset_image = image_registration.tests.make_offset_extended(image, 4.76, -2.3, noise=noise)
    from napari_imreg.image_registration.fft_tools import shift

    xoff, yoff, exoff, eyoff = chi2_shift(
        image, offset_image, noise, return_error=True, upsample_factor="auto"
    )
    assert xoff == pytest.approx(4.76, abs=4 * exoff)
    assert yoff == pytest.approx(-2.3, abs=4 * eyoff)
    with pytest.warns(UserWarning, match="pass the offsets as one sequence"):
        corrected_image2 = shift.shiftnd(offset_image, -yoff, -xoff)
    assert np.std(corrected_image2 - image) == pytest.approx(noise, rel=0.1)
    np.testing.assert_allclose(
        corrected_image2, shift.shiftnd(offset_image, (-yoff, -xoff)), atol=1e-12
    )


def test_chi2_shift_example():
    np.random.seed(1)
    rr = ((np.indices([100, 100]) - np.array([50.0, 50.0])[:, None, None]) ** 2).sum(axis=0) ** 0.5
    image = np.exp(-(rr**2) / (3.0**2 * 2.0)) * 20
    shifted = np.roll(np.roll(image, 12, 0), 5, 1) + np.random.randn(100, 100)
    dx, dy, edx, edy = chi2_shift(image, shifted, upsample_factor="auto")
    assert dx == pytest.approx(5, abs=4 * edx)
    assert dy == pytest.approx(12, abs=4 * edy)
    shifted2 = image_registration.fft_tools.shift2d(image, 3.665, -4.25) + np.random.randn(
        100, 100
    )
    dx2, dy2, edx2, edy2 = chi2_shift(image, shifted2, upsample_factor="auto")
    assert dx2 == pytest.approx(3.665, abs=4 * edx2)
    assert dy2 == pytest.approx(-4.25, abs=4 * edy2)
    assert 0.01 < edx2 < 0.2


def test_chi2_shift_iterzoom_example():
    np.random.seed(42)  # so the doctest will pass
    image = np.random.randn(50, 55)
    shifted = np.roll(np.roll(image, 12, 0), 5, 1)
    dx, dy, edx, edy = chi2_shift_iterzoom(image, shifted, upsample_factor="auto")
    assert (dx, dy) == (pytest.approx(5, abs=1e-6), pytest.approx(12, abs=1e-6))
    assert edx > 0
    assert edy > 0
    shifted2 = image_registration.fft_tools.shift2d(image, 3.665, -4.25)
    dx2, dy2, edx2, edy2 = chi2_shift_iterzoom(image, shifted2, upsample_factor="auto")
    # white noise has power at the Nyquist frequency of the even axis (50 rows), where a
    # sub-pixel Fourier shift is ambiguous; the reference gives -4.236 here too
    assert dx2 == pytest.approx(3.665, abs=0.005)
    assert dy2 == pytest.approx(-4.25, abs=0.02)
    assert 0 < edx2 < 0.01
    assert 0 < edy2 < 0.01


def test_cross_correlation_shifts_example():
    im1 = np.zeros([10, 10])
    im2 = np.zeros([10, 10])
    im1[4, 3] = 1
    im2[5, 5] = 1
    yoff, xoff = image_registration.cross_correlation_shifts(im1, im2)
    im1_aligned_to_im2 = np.roll(np.roll(im1, int(np.round(yoff)), 1), int(np.round(xoff)), 0)
    assert (im1_aligned_to_im2 - im2).sum() == 0
    # the names in the example are swapped: the first value is x (2 columns), then y (1 row)
    assert (yoff, xoff) == (pytest.approx(2.0, abs=0.05), pytest.approx(1.0, abs=0.05))


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (([1, 0, 3], [1, 1, 1]), {}, [1, 4, 3]),
        (([1, np.nan, 3], [1, 1, 1]), {"quiet": True}, [1, 4, 3]),
        (([1, 0, 3], [0, 1, 0]), {}, [1, 0, 3]),
        (([1, 2, 3], [1]), {}, [1, 2, 3]),
        (([1, np.nan, 3], [0, 1, 0]), {"interpolate_nan": True}, [1, 0, 3]),
        (([1, np.nan, 3], [0, 1, 0]), {"interpolate_nan": True, "min_wt": 1e-8}, [1, np.nan, 3]),
        (([1, np.nan, 3], [1, 1, 1]), {"interpolate_nan": True}, [1, 4, 3]),
        (
            ([1, np.nan, 3], [1, 1, 1]),
            {"interpolate_nan": True, "normalize_kernel": True, "ignore_edge_zeros": True},
            [1, 2, 3],
        ),
    ],
)
def test_convolve_examples(args, kwargs, expected):
    from napari_imreg.image_registration.fft_tools.convolve_nd import convolve

    np.testing.assert_allclose(convolve(*args, **kwargs), expected, atol=1e-12)


def test_convolve_warns_about_nans_unless_quiet():
    from napari_imreg.image_registration.fft_tools.convolve_nd import convolve

    with pytest.warns(UserWarning, match="NaN values, treated as 0"):
        convolve([1, np.nan, 3], [1, 1, 1])


def test_notebook():
    """The comparison notebook: an extended image, offset by (4.76666, -12.3333), noise 0.1."""
    np.random.seed(3)
    im1 = image_registration.tests.make_extended(100)
    im2 = image_registration.tests.make_offset_extended(
        im1, 4.76666, -12.33333333333333333333333, noise=0.1
    )
    assert im1.std() == pytest.approx(1.0)
    assert (im2 - np.roll(im1, (-12, 5), axis=(0, 1))).std() > 0.1  # really sub-pixel
    dx, dy, edx, edy = chi2_shift(im1, im2, err=0.1, return_error=True, upsample_factor="auto")
    assert dx == pytest.approx(4.76666, abs=4 * edx)
    assert dy == pytest.approx(-12.33333, abs=4 * edy)
    assert 0 < edx < 0.01
    dxr, dyr, edxr, edyr = image_registration.register_images(
        im1, im2, usfac=201, return_error=True
    )
    assert (dxr, dyr) == (
        pytest.approx(4.76666, abs=4 * edxr),
        pytest.approx(-12.33333, abs=4 * edyr),
    )
    dxc, dyc, edxc, edyc = image_registration.cross_correlation_shifts(
        im1, im2, errim2=im2 * 0 + 0.1, return_error=True
    )
    assert (dxc, dyc) == (
        pytest.approx(4.76666, abs=4 * edxc),
        pytest.approx(-12.33333, abs=4 * edyc),
    )


def test_notebook_method_comparison_is_calibrated():
    """The notebook judges errors by 'emeans/stds', which 'should be ~1 if correct'.

    Its moving image holds two draws of noise 0.1: one made with it, the same in every
    test, and one per test. The scatter over the tests holds only the second. The
    correlation methods' errors read the declared 0.1; chi2_shift's come from the
    residual too, whose chi2 per degree of freedom (2) shows both draws where ``err``
    declares one, so its errors are sqrt(2) the scatter, and against the truth, over
    independent pairs, they are calibrated (with the declared noise alone: 1.6)."""
    np.random.seed(4)
    im1 = image_registration.tests.make_extended(64)
    im2 = image_registration.tests.make_offset_extended(im1, 4.76666, -12.3333, noise=0.1)
    offsets, eoffsets = image_registration.tests.compare_methods(im1, im2, ntests=60, noise=0.1)
    columns = [0, 1, 2, 3, 6, 7]  # register_images, cross_correlation_shifts, chi2_shift
    ratio = eoffsets[:, columns].mean(axis=0) / offsets[:, columns].std(axis=0)
    ratio[4:] /= np.sqrt(2.0)  # chi2_shift: both draws
    assert np.all((ratio > 0.7) & (ratio < 1.45)), ratio
    np.testing.assert_allclose(offsets[:, 6:].mean(axis=0), [4.76666, -12.3333], atol=0.002)
    pulls = []
    for _ in range(30):
        image = image_registration.tests.make_extended(64)
        moved = image_registration.tests.make_offset_extended(image, 4.76666, -12.3333, noise=0.1)
        moved = moved + np.random.normal(0.0, 0.1, moved.shape)
        dx, dy, edx, edy = chi2_shift(image, moved, err=0.1, return_error=True)
        pulls.append([(dx - 4.76666) / edx, (dy + 12.3333) / edy])
    assert 0.8 < np.sqrt(np.mean(np.square(pulls))) < 1.25


def test_notebook_plots(capsys):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    np.random.seed(5)
    im1 = image_registration.tests.make_extended(48)
    im2 = image_registration.tests.make_offset_extended(im1, 4.76666, -12.3333, noise=0.1)
    offsets, eoffsets = image_registration.tests.compare_methods(im1, im2, ntests=5, noise=0.1)
    stds, emeans = image_registration.tests.plot_compare_methods(
        offsets, eoffsets, dx=4.76666666, dy=-12.3333333333
    )
    printed = capsys.readouterr().out
    assert "Standard Deviations:" in printed
    assert "emeans/stds:" in printed
    np.testing.assert_allclose(stds, offsets.std(axis=0))
    np.testing.assert_allclose(emeans, eoffsets.mean(axis=0))
    assert len(plt.figure(1).axes[0].lines) == 4
    plt.close("all")
