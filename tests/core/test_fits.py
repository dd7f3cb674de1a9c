"""WCS overlap, pixel scales, reprojection and register_fits."""

import sys

import numpy as np
import pytest
from astropy.io import fits

from napari_imreg.core import _fits as core_fits
from napari_imreg.core import make_crop_pair, make_extended, make_shifted


def sky_header(shape=(60, 80), *, crval=(10.0, 20.0), cdelt=(-0.001, 0.001), crpix=None):
    ny, nx = shape
    crpix = ((nx + 1) / 2, (ny + 1) / 2) if crpix is None else crpix
    return fits.Header(
        {
            "NAXIS": 2,
            "NAXIS1": nx,
            "NAXIS2": ny,
            "CTYPE1": "RA---TAN",
            "CTYPE2": "DEC--TAN",
            "CRVAL1": crval[0],
            "CRVAL2": crval[1],
            "CRPIX1": crpix[0],
            "CRPIX2": crpix[1],
            "CDELT1": cdelt[0],
            "CDELT2": cdelt[1],
        }
    )


def linear_header(nx=10, ny=10, crpix1=1.0):
    return fits.Header(
        {
            "NAXIS": 2,
            "NAXIS1": nx,
            "NAXIS2": ny,
            "CTYPE1": "X",
            "CTYPE2": "Y",
            "CRPIX1": crpix1,
            "CRPIX2": 1.0,
            "CDELT1": 1.0,
            "CDELT2": 1.0,
        }
    )


@pytest.mark.parametrize(
    ("overlap", "naxis1", "crpix1"), [("union", 15, 1.0), ("intersection", 5, -4.0)]
)
def test_header_overlap_linear(overlap, naxis1, crpix1):
    out = core_fits.header_overlap(linear_header(), linear_header(crpix1=-4), overlap=overlap)
    assert (out["NAXIS1"], out["NAXIS2"]) == (naxis1, 10)
    assert out["CRPIX1"] == crpix1


def test_header_overlap_takes_the_finer_scale_and_covers_both():
    coarse = sky_header((40, 50), crval=(0.01, 10.0), cdelt=(-0.002, 0.002))
    fine = sky_header((40, 50), crval=(359.99, 10.0), cdelt=(-0.001, 0.001))
    out = core_fits.header_overlap(coarse, fine)
    assert out["CDELT1"] == pytest.approx(-0.001)
    assert out["CDELT2"] == pytest.approx(0.001)
    # the union covers the coarse image (100 x 80 fine pixels) across RA = 0
    assert out["NAXIS1"] >= 100
    assert out["NAXIS2"] >= 80
    assert out["NAXIS1"] <= 102


def test_header_overlap_rejects_disjoint_and_bad_option():
    far = linear_header(crpix1=-100)
    with pytest.raises(ValueError, match="do not intersect"):
        core_fits.header_overlap(linear_header(), far, overlap="intersection")
    with pytest.raises(ValueError, match="overlap must be"):
        core_fits.header_overlap(linear_header(), far, overlap="both")
    with pytest.raises(ValueError, match="NAXIS1"):
        core_fits.header_overlap(fits.Header({"NAXIS": 2, "CDELT1": 1.0}), linear_header())


def test_pixel_scale_and_world_offsets():
    header = sky_header(cdelt=(-0.5, 0.25))
    np.testing.assert_allclose(core_fits.pixel_scale(header), [[-0.5, 0], [0, 0.25]])
    world, error = core_fits.pixel_to_world_offset(header, (2.0, 1.0), np.diag([0.04, 0.01]))
    np.testing.assert_allclose(world, [-0.5, 0.5])
    np.testing.assert_allclose(error, [0.5 * 0.1, 0.25 * 0.2])
    rotated = header.copy()
    rotated["PC1_1"], rotated["PC1_2"], rotated["PC2_1"], rotated["PC2_2"] = 0.0, -1.0, 1.0, 0.0
    world, _ = core_fits.pixel_to_world_offset(rotated, (0.0, 1.0))
    np.testing.assert_allclose(world, [0.0, 0.25])
    with pytest.raises(ValueError, match="shift must be"):
        core_fits.pixel_to_world_offset(header, (1.0, 2.0, 3.0))


def test_load_header_and_data_from_every_source(tmp_path):
    data = np.arange(12.0).reshape(3, 4)
    header = linear_header(4, 3)
    path = tmp_path / "image.fits"
    fits.PrimaryHDU(data, header).writeto(path)
    text = tmp_path / "header.txt"
    header.totextfile(text)
    for source in (
        header,
        fits.PrimaryHDU(data, header),
        fits.HDUList([fits.PrimaryHDU(data, header)]),
        path,
        str(text),
        header.tostring(sep="\n"),
    ):
        assert core_fits.load_header(source)["NAXIS1"] == 4
    for source in (
        data,
        fits.PrimaryHDU(data, header),
        fits.HDUList([fits.PrimaryHDU(data, header)]),
        path,
    ):
        np.testing.assert_array_equal(core_fits.load_data(source), data)
    with pytest.raises(TypeError, match="source must be"):
        core_fits.load_header(3.5)
    with pytest.raises(TypeError, match="source must be"):
        core_fits.load_data(3.5)
    with pytest.raises(FileNotFoundError, match="no such file"):
        core_fits.load_data(tmp_path / "missing.fits")
    with pytest.raises(ValueError, match=r"holds no header card|not an existing file"):
        core_fits.load_header("no/such/file.fits")


def test_reprojection_onto_own_header_is_identity():
    rng = np.random.default_rng(0)
    header = sky_header((30, 40))
    image = rng.normal(size=(30, 40))
    out = core_fits.reproject_to_header((image, header), header)
    np.testing.assert_allclose(out, image, atol=1e-9)


def test_missing_reproject_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "reproject", None)
    with pytest.raises(ImportError, match=r"napari-imreg\[fits\]"):
        core_fits.reproject_to_header((np.ones((4, 4)), linear_header(4, 4)), linear_header(4, 4))


@pytest.mark.parametrize("shape", [(64, 64), (63, 65)])
def test_register_fits_pixel_and_world_shift(shape):
    shift = (1.75, -2.5)
    reference, moving = make_crop_pair(shape, shift, noise=0.02, seed=3)
    header = sky_header(shape, cdelt=(-0.001, 0.002))
    result = core_fits.register_fits((reference, header), (moving, header))
    assert result.result.boundary == "overlap"  # the default for exposures
    np.testing.assert_allclose(result.shift, shift, atol=5 * max(result.error))
    # degrees per pixel -> arcsec: (d RA cos Dec, d Dec) = 3600 * (-0.001 dx, 0.002 dy)
    assert result.world_unit == "arcsec"
    np.testing.assert_allclose(
        result.world_offset, [-3.6 * result.shift[1], 7.2 * result.shift[0]], rtol=1e-9
    )
    np.testing.assert_allclose(result.world_error, [3.6, 7.2] * result.error[::-1], rtol=0.05)
    assert result.wcs.pixel_shape is None or result.wcs.pixel_shape == shape[::-1]
    assert not result.reprojected
    wrapped = core_fits.register_fits((reference, header), (moving, header), boundary="wrap")
    assert wrapped.result.boundary == "wrap"


def test_register_fits_auto_wraps_only_periodic_images():
    """boundary="auto" as register's: the wrap model for images that wrap, else overlap."""
    shift = (2.25, -1.5)
    header = sky_header((64, 64))
    periodic = make_extended((64, 64), seed=5)
    moved = make_shifted(periodic, shift, noise=0.01, seed=6)
    wrapped = core_fits.register_fits((periodic, header), (moved, header), boundary="auto")
    assert wrapped.result.boundary == "wrap"
    np.testing.assert_allclose(wrapped.shift, shift, atol=5 * max(wrapped.error))
    reference, moving = make_crop_pair((64, 64), shift, noise=0.02, seed=3)
    cropped = core_fits.register_fits((reference, header), (moving, header), boundary="auto")
    assert cropped.result.boundary == "overlap"
    np.testing.assert_allclose(cropped.shift, shift, atol=5 * max(cropped.error))


def test_register_wcs_takes_arrays_and_a_wcs():
    reference, moving = make_crop_pair((64, 64), (1.25, -0.5), noise=0.02, seed=7)
    header = sky_header((64, 64))
    from_arrays = core_fits.register_wcs(reference, moving, core_fits.load_wcs(header))
    from_pairs = core_fits.register_fits((reference, header), (moving, header))
    np.testing.assert_allclose(from_arrays.shift, from_pairs.shift, atol=1e-12)
    np.testing.assert_allclose(from_arrays.shift, (1.25, -0.5), atol=5 * max(from_arrays.error))
    with pytest.raises(ValueError, match="boundary"):
        core_fits.register_wcs(reference, moving, core_fits.load_wcs(header), boundary="nearest")


@pytest.mark.parametrize("move", [(0.0, 3.0), (-2.0, 5.0), (1.5, -2.25)])
def test_register_fits_uses_the_wcs_without_reproject(monkeypatch, move):
    """Two exposures whose WCS differ by a translation (CRPIX) register without reproject."""
    monkeypatch.setitem(sys.modules, "reproject", None)
    scene, moved = make_crop_pair((80, 80), move, noise=0.02, seed=4)
    header = sky_header((80, 80))
    offset_header = header.copy()
    # the moving image's pixel p sees the reference's pixel p + move: its CRPIX is less
    offset_header["CRPIX1"] -= move[1]
    offset_header["CRPIX2"] -= move[0]
    result = core_fits.register_fits((scene, header), (moved, offset_header))
    assert not result.reprojected
    np.testing.assert_allclose(result.shift, (0, 0), atol=5 * max(result.error))
    # the same pixels under one WCS: the whole move is the pointing offset
    same = core_fits.register_fits((scene, header), (moved, header))
    np.testing.assert_allclose(same.shift, move, atol=5 * max(same.error))


def test_a_rotated_grid_is_reprojected():
    reference, moving = make_crop_pair((64, 64), (0, 0), noise=0.01, seed=8)
    header = sky_header((64, 64))
    rotated = header.copy()
    rotated["CROTA2"] = 1.0
    result = core_fits.register_fits((reference, header), (moving, rotated))
    assert result.reprojected
    assert np.all(np.isfinite(result.shift))


def test_register_fits_sigma_cut_and_no_overlap():
    reference, moving = make_crop_pair((48, 48), (1, 1), seed=5)
    header = sky_header((48, 48))
    with pytest.warns(UserWarning, match="sigma_cut"):
        core_fits.match_images((reference, header), (moving, header), sigma_cut=1e6)
    far = sky_header((48, 48), crval=(50.0, 20.0))
    with pytest.raises(ValueError, match="share no valid pixel"):
        core_fits.register_fits((reference, header), (moving, far))


def test_sigma_cut_clips_as_the_reference_and_keeps_nan():
    """Pixels at or below the cut become 0; NaN (outside a footprint) stays NaN."""
    reference, moving = make_crop_pair((48, 48), (0, 0), seed=9)
    moving[:, :5] = np.nan
    wcs = core_fits.load_wcs(sky_header((48, 48)))
    matched = core_fits.match_wcs(reference, moving, wcs, sigma_cut=1.0, use_mad_std=False)
    threshold = np.nanstd(moving)
    assert np.all(np.isnan(matched.moving[:, :5]))
    kept = moving[:, 5:] > threshold
    np.testing.assert_array_equal(matched.moving[:, 5:][kept], moving[:, 5:][kept])
    assert np.all(matched.moving[:, 5:][~kept] == 0)


def test_match_wcs_refuses_bad_shapes():
    wcs = core_fits.load_wcs(sky_header((8, 8)))
    with pytest.raises(ValueError, match="2-D"):
        core_fits.match_wcs(np.ones((2, 8, 8)), np.ones((8, 8)), wcs)
    with pytest.raises(ValueError, match="error has shape"):
        core_fits.match_wcs(np.ones((8, 8)), np.ones((8, 8)), wcs, error=np.ones((4, 4)))


def test_world_offsets_keep_the_units_of_a_non_celestial_wcs():
    reference, moving = make_crop_pair((40, 40), (0.5, 1.5), noise=0.01, seed=11)
    header = linear_header(40, 40)
    header["CDELT2"] = 2.0
    result = core_fits.register_fits((reference, header), (moving, header))
    assert result.world_unit == ""  # the header names no unit
    np.testing.assert_allclose(result.world_offset, [result.shift[1], 2 * result.shift[0]])
