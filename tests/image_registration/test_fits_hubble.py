"""FITS registration on a real scene with known pointing offsets (issue 18).

Pairs of 128² images binned 4x4 from two windows of the Hubble deep field, so the offset
is a known number of quarter pixels (see ``_hubble.py``). The images carry independent
noise of 1% of the scene's standard deviation.

The tolerance, 0.025 px, is the scene's own floor: binning at a quarter-pixel phase does
not give exact translations of an undersampled scene, and noiseless pairs are off by up to
0.016 px at fractional offsets (2e-4 px at whole-pixel ones). The reference's periodic
default was off by up to 0.069 px on these pairs.
"""

import sys

import numpy as np
import pytest
from _hubble import BIN, OFFSETS, sky_header, write_pair

import napari_imreg.image_registration as ir
from napari_imreg.core import _fits as core_fits

TOLERANCE = 0.025  # px, see the module docstring
ARCSEC = 0.16  # per binned pixel, the pairs' CDELT


@pytest.mark.parametrize(("seed", "offset"), list(enumerate(OFFSETS)))
def test_core_register_fits_finds_the_pointing_offset(tmp_path, seed, offset):
    (file1, file2), truth = write_pair(tmp_path, offset, seed)
    result = core_fits.register_fits(file1, file2)
    np.testing.assert_allclose(result.shift, truth, atol=TOLERANCE)
    # The errors come from the residual (issue 13): they hold the model's misfit on
    # these real frames (0.011-0.013 px), within the shift's own tolerance.
    assert np.all((result.error > 0) & (result.error < TOLERANCE))
    # RA grows to the east, against x (CDELT1 < 0); Dec with y
    assert result.world_unit == "arcsec"
    expected = ARCSEC * np.array([-truth[1], truth[0]])
    np.testing.assert_allclose(result.world_offset, expected, atol=ARCSEC * TOLERANCE)
    np.testing.assert_allclose(result.world_error, ARCSEC * result.error[::-1], rtol=1e-6)


@pytest.mark.parametrize(("seed", "offset"), list(enumerate(OFFSETS)))
def test_dropin_register_fits_finds_the_pointing_offset(tmp_path, seed, offset):
    (file1, file2), truth = write_pair(tmp_path, offset, seed)
    xoff, yoff, xoff_wcs, yoff_wcs, exoff, eyoff, exoff_wcs, eyoff_wcs = (
        ir.FITS_tools.register_fits(file1, file2)
    )
    # the reference's offsets: image 2 from image 1, x first (the truth negated, reversed)
    np.testing.assert_allclose([xoff, yoff], -truth[::-1], atol=TOLERANCE)
    assert 0 < exoff < TOLERANCE
    assert 0 < eyoff < TOLERANCE
    degrees = ARCSEC / 3600
    np.testing.assert_allclose([xoff_wcs, yoff_wcs], [-degrees * xoff, degrees * yoff])
    np.testing.assert_allclose([exoff_wcs, eyoff_wcs], [degrees * exoff, degrees * eyoff])


def test_dropin_register_fits_keeps_the_periodic_mode_on_request(tmp_path):
    (file1, file2), truth = write_pair(tmp_path, OFFSETS[0], 0)
    overlap = ir.FITS_tools.register_fits(file1, file2, return_error=False)
    wrapped = ir.FITS_tools.register_fits(file1, file2, return_error=False, boundary="wrap")
    assert not np.allclose(overlap, wrapped)
    # the periodic answer carries the wrap-around's bias (0.069 px here), yet is close
    np.testing.assert_allclose(wrapped[:2], -truth[::-1], atol=0.1)


@pytest.mark.parametrize("whole", [(0, 0), (3, -2)])
def test_translated_wcs_registers_without_reproject(tmp_path, monkeypatch, whole):
    """A moving header whose CRPIX encodes the pointing: no offset is left to find."""
    monkeypatch.setitem(sys.modules, "reproject", None)
    offset = OFFSETS[1]
    pointing = np.asarray(offset) / BIN  # moving pixel p sees reference pixel p + pointing
    told = pointing + np.asarray(whole)  # what the moving header says, whole pixels wrong
    reference_crpix = np.array([sky_header()["CRPIX1"], sky_header()["CRPIX2"]])
    (file1, file2), _ = write_pair(
        tmp_path, offset, 1, moving_crpix=tuple(reference_crpix - told[::-1])
    )
    result = core_fits.register_fits(file1, file2)
    assert not result.reprojected
    np.testing.assert_allclose(result.shift, -np.asarray(whole, dtype=float), atol=TOLERANCE)
    xoff, yoff = ir.FITS_tools.register_fits(file1, file2, return_error=False)[:2]
    np.testing.assert_allclose([xoff, yoff], np.asarray(whole[::-1], dtype=float), atol=TOLERANCE)
