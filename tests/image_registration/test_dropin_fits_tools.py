"""The drop-in FITS_tools: thin calls into napari_imreg.core._fits."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from napari_imreg.core import make_extended, make_shifted
from napari_imreg.image_registration import FITS_tools


def header(nx=40, ny=30, crpix1=20.5, cdelt=(-0.01, 0.01)):
    return fits.Header(
        {
            "NAXIS": 2,
            "NAXIS1": nx,
            "NAXIS2": ny,
            "CTYPE1": "RA---TAN",
            "CTYPE2": "DEC--TAN",
            "CRVAL1": 120.0,
            "CRVAL2": 5.0,
            "CRPIX1": crpix1,
            "CRPIX2": 15.5,
            "CDELT1": cdelt[0],
            "CDELT2": cdelt[1],
        }
    )


def test_header_overlap_and_fits_overlap(tmp_path):
    h1, h2 = header(), header(crpix1=30.5)  # the second field lies 10 pixels further west
    union = FITS_tools.header_overlap(h1, h2)
    inter = FITS_tools.header_overlap(h1, h2, overlap="intersection")
    assert (union["NAXIS1"], union["NAXIS2"]) == (50, 30)
    assert (inter["NAXIS1"], inter["NAXIS2"]) == (30, 30)
    fits.PrimaryHDU(np.zeros((30, 40)), h1).writeto(tmp_path / "a.fits")
    fits.PrimaryHDU(np.zeros((30, 40)), h2).writeto(tmp_path / "b.fits")
    from_files = FITS_tools.fits_overlap(
        tmp_path / "a.fits", tmp_path / "b.fits", overlap="intersection"
    )
    assert from_files["NAXIS1"] == 30
    with pytest.raises(ValueError, match="overlap must be"):
        FITS_tools.header_overlap(h1, h2, overlap="both")


def test_get_cd_and_loading():
    h = header(cdelt=(-0.5, 0.25))
    assert FITS_tools.get_cd(WCS(h), 1) == -0.5
    assert FITS_tools.get_cd(h, n=2) == 0.25
    with pytest.raises(ValueError, match="n must be 1 or 2"):
        FITS_tools.get_cd(h, 3)
    hdu = fits.PrimaryHDU(np.ones((30, 40)), h)
    assert FITS_tools.load_header(hdu)["NAXIS1"] == 40
    assert FITS_tools.load_data(hdu).shape == (30, 40)


def test_reprojection_helpers():
    h = header()
    image = make_extended((30, 40), seed=0)
    np.testing.assert_allclose(
        FITS_tools.project_to_header((image, h), h, quiet=True), image, atol=1e-9
    )
    np.testing.assert_allclose(FITS_tools.hcongrid.hcongrid(image, h, h), image, atol=1e-9)
    moved = header(crpix1=22.5)  # the same sky, pixels numbered two further along x
    out = FITS_tools.hcongrid.hcongrid(image, h, moved)
    np.testing.assert_allclose(out[:, 2:], image[:, :-2], atol=1e-9)


def test_register_fits_default_method_runs():
    """The reference's default (chi2_shift_iterzoom) raised NameError; here it works."""
    h = header(64, 64, crpix1=32.5)
    image = make_extended(64, seed=1)
    moving = make_shifted(image, (0.5, -1.25), noise=0.01, seed=2)
    xoff, yoff, xoff_wcs, yoff_wcs, exoff, eyoff, exoff_wcs, eyoff_wcs = FITS_tools.register_fits(
        (image, h), (moving, h)
    )
    assert (xoff, yoff) == (pytest.approx(1.25, abs=5 * exoff), pytest.approx(-0.5, abs=5 * eyoff))
    assert (xoff_wcs, yoff_wcs) == (pytest.approx(xoff * -0.01), pytest.approx(yoff * 0.01))
    assert exoff_wcs == pytest.approx(exoff * 0.01)
    assert eyoff_wcs == pytest.approx(eyoff * 0.01)


def test_match_fits_options():
    h = header()
    image = make_extended((30, 40), seed=3)
    with pytest.raises(TypeError, match="unexpected keyword"):
        FITS_tools.match_fits((image, h), (image, h), order=3)
    cut1, cut2 = FITS_tools.match_fits((image, h), (image, h), sigma_cut=1, use_mad_std=False)
    assert np.all((cut1 == 0) | (cut1 > image.std()))
    np.testing.assert_allclose(cut2, cut1, atol=1e-9)


def test_register_fits_with_other_methods():
    import napari_imreg.image_registration as ir

    h = header(64, 64, crpix1=32.5)
    image = make_extended(64, seed=4)
    moving = make_shifted(image, (0.5, -1.25), noise=0.01, seed=5)
    for method, options in (
        (ir.register_images, {"usfac": 100}),
        (ir.cross_correlation_shifts, {}),
    ):
        out = FITS_tools.register_fits((image, h), (moving, h), register_method=method, **options)
        assert len(out) == 8
        assert (out[0], out[1]) == (pytest.approx(1.25, abs=0.02), pytest.approx(-0.5, abs=0.02))
