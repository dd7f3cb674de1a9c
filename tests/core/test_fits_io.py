"""FITS reading and writing: round trips, uncertainty extensions, shift keywords, WCS."""

import gzip

import numpy as np
import pytest
from astropy.io import fits

from napari_imreg.core._fits import (
    choose_image,
    error_from_uncertainty,
    header_for_shifted_data,
    image_hdu,
    is_fits_path,
    looks_like_fits,
    read_fits,
    read_fits_image,
    wcs_from_header,
    write_fits,
)


def _celestial_header() -> fits.Header:
    header = fits.Header()
    header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
    header["CRPIX1"], header["CRPIX2"] = 16.0, 12.0
    header["CRVAL1"], header["CRVAL2"] = 202.47, 47.19
    header["CDELT1"], header["CDELT2"] = -2.0e-4, 2.0e-4
    header["OBJECT"] = "M51"
    header["HISTORY"] = "made for a test"
    return header


@pytest.fixture
def image():
    return np.random.default_rng(0).normal(size=(24, 32)).astype(np.float32)


@pytest.mark.parametrize("suffix", [".fits", ".fit", ".fts", ".fits.gz"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint16, np.int32])
def test_round_trip_keeps_data_dtype_and_header(tmp_path, image, suffix, dtype):
    data = (image * 100).astype(dtype)
    path = write_fits(tmp_path / f"m51{suffix}", data, header=_celestial_header())
    (read,) = read_fits(path)
    assert read.data.dtype == np.dtype(dtype)
    assert read.data.dtype.isnative
    np.testing.assert_array_equal(read.data, data)
    assert read.header["OBJECT"] == "M51"
    assert "made for a test" in str(read.header["HISTORY"])
    assert read.kind == "image"
    assert read.name == "PRIMARY"
    assert read.translate is None
    assert read.shift is None


def test_gzip_file_is_compressed(tmp_path, image):
    path = write_fits(tmp_path / "a.fits.gz", image)
    with gzip.open(path, "rb") as stream:
        assert stream.read(9) == b"SIMPLE  ="


def test_shift_and_translate_keywords_round_trip_in_numpy_order(tmp_path, image):
    path = write_fits(
        tmp_path / "a.fits",
        image,
        header=_celestial_header(),
        translate=(1.5, -2.25),
        shift=(1.5, -2.25),
        shift_error=(0.01, 0.02),
        reference="ref",
        method="chi2",
    )
    (read,) = read_fits(path)
    assert read.translate == (1.5, -2.25)
    assert read.shift == (1.5, -2.25)
    assert read.shift_error == (0.01, 0.02)
    # FITS axis 1 is x, the last numpy axis.
    assert read.header["IMRSHF1"] == -2.25
    assert read.header["IMRSHF2"] == 1.5
    assert read.header["IMRREF"] == "ref"
    assert read.header["IMRMETH"] == "chi2"


def test_a_translate_is_recorded_and_the_wcs_kept(tmp_path, image):
    header = _celestial_header()
    header["CRPIX1A"], header["LTV1"] = 3.0, -4.0
    path = write_fits(tmp_path / "a.fits", image, header=header, translate=(1.5, -2.25))
    (read,) = read_fits(path)
    assert read.translate == (1.5, -2.25)
    # The data are written unmoved, so every pixel keeps its sky coordinates.
    for key in ("CRPIX1", "CRPIX2", "CRPIX1A", "LTV1"):
        assert read.header[key] == header[key]
    assert "IMRCRP1" not in read.header


def test_a_crpix_moved_by_an_earlier_version_is_put_back(tmp_path, image):
    header = _celestial_header()
    header["CRPIX1"], header["IMRCRP1"] = 18.25, 16.0  # as the writer of 0.1 left it
    header["CRPIX2"], header["IMRCRP2"] = 10.5, 12.0
    (read,) = read_fits(write_fits(tmp_path / "a.fits", image, header=header))
    assert (read.header["CRPIX1"], read.header["CRPIX2"]) == (16.0, 12.0)
    assert "IMRCRP1" not in read.header


def test_a_failed_write_leaves_the_old_file_whole(tmp_path, image, monkeypatch):
    path = write_fits(tmp_path / "a.fits", image)
    before = path.read_bytes()

    def full_disk(self, name, **kwargs):
        with open(name, "wb") as stream:
            stream.write(b"SIMPLE  =                    T")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fits.PrimaryHDU, "writeto", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_fits(path, image * 2, overwrite=True)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.fits"]


@pytest.mark.parametrize(
    ("extname", "utype", "kind"),
    [
        ("ERR", None, "error"),
        ("SIGMA", None, "error"),
        ("VARIANCE", None, "variance"),
        ("IVAR", None, "inverse_variance"),
        ("UNCERT", "VarianceUncertainty", "variance"),
        ("SCI2", None, "image"),
    ],
)
def test_uncertainty_extensions_are_recognised(tmp_path, image, extname, utype, kind):
    extension = fits.ImageHDU(np.abs(image) + 1, name=extname)
    if utype:
        extension.header["UTYPE"] = utype
    path = tmp_path / "multi.fits"
    fits.HDUList([fits.PrimaryHDU(image), extension, fits.BinTableHDU.from_columns([])]).writeto(
        path
    )
    images = read_fits(path)
    assert [im.kind for im in images] == ["image", kind]
    assert images[1].name == extname
    assert images[1].index == 1


def test_error_from_uncertainty():
    np.testing.assert_allclose(error_from_uncertainty(np.array([4.0, 9.0]), "variance"), [2, 3])
    np.testing.assert_allclose(error_from_uncertainty(np.array([4.0]), "inverse_variance"), [0.5])
    np.testing.assert_array_equal(
        error_from_uncertainty(np.array([0.0, -1.0]), "variance"), [np.inf, np.inf]
    )
    out = error_from_uncertainty(np.ones(3, np.float32), "variance")
    assert out.dtype == np.float32
    with pytest.raises(ValueError, match="kind='image' is not an uncertainty"):
        error_from_uncertainty(np.ones(3), "image")


def test_names_and_magic(tmp_path, image):
    assert is_fits_path("A.FITS.GZ")
    assert is_fits_path("b.fts")
    assert not is_fits_path("c.tif")
    good = write_fits(tmp_path / "a.fits", image)
    bad = tmp_path / "bad.fits"
    bad.write_bytes(b"not a fits file at all")
    assert looks_like_fits(good)
    assert not looks_like_fits(bad)
    assert not looks_like_fits(tmp_path / "missing.fits")


def test_corrupt_and_truncated_files_raise_a_clear_error(tmp_path, image):
    bad = tmp_path / "bad.fits"
    bad.write_bytes(b"not a fits file at all")
    with pytest.raises(ValueError, match=r"bad\.fits.*could not be read as FITS"):
        read_fits(bad)
    whole = write_fits(tmp_path / "whole.fits", image).read_bytes()
    truncated = tmp_path / "truncated.fits"
    truncated.write_bytes(whole[:3000])
    with pytest.raises(ValueError, match=r"truncated\.fits.*could not be read as FITS"):
        read_fits(truncated)
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_fits(tmp_path / "missing.fits")


def test_a_file_without_images_is_refused(tmp_path):
    path = tmp_path / "table.fits"
    columns = [fits.Column(name="a", format="E", array=np.arange(3.0))]
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(columns)]).writeto(path)
    with pytest.raises(ValueError, match="holds no image HDU"):
        read_fits(path)


def test_bad_write_arguments(tmp_path, image):
    with pytest.raises(ValueError, match=r"translate=.*has 1 values but the data has 2 axes"):
        write_fits(tmp_path / "a.fits", image, translate=(1.0,))
    with pytest.raises(ValueError, match=r"shift=.*non-finite"):
        write_fits(tmp_path / "a.fits", image, shift=(np.nan, 1.0))
    with pytest.raises(ValueError, match="dtype complex128"):
        write_fits(tmp_path / "a.fits", image.astype(complex))
    write_fits(tmp_path / "a.fits", image)
    with pytest.raises(OSError, match="already exists"):
        write_fits(tmp_path / "a.fits", image)


def test_input_array_is_not_modified(tmp_path, image):
    image.setflags(write=False)
    before = image.copy()
    write_fits(tmp_path / "a.fits", image, translate=(1.0, 1.0))
    np.testing.assert_array_equal(image, before)


def test_float16_and_bool_are_widened(tmp_path):
    (half,) = read_fits(write_fits(tmp_path / "h.fits", np.ones((2, 3), np.float16)))
    assert half.data.dtype == np.float32
    (flag,) = read_fits(write_fits(tmp_path / "b.fits", np.ones((2, 3), bool)))
    assert flag.data.dtype == np.uint8


def test_header_argument_is_not_modified(tmp_path, image):
    header = _celestial_header()
    before = header.tostring()
    write_fits(tmp_path / "a.fits", image, header=header, translate=(1.0, 2.0), shift=(1, 2))
    assert header.tostring() == before


def test_header_for_shifted_data_moves_the_wcs_with_the_content():
    header = _celestial_header()
    header["CRPIX1B"], header["CRPIX2B"], header["LTV1"], header["LTV2"] = 1.0, 2.0, -3.0, -4.0
    shift = (1.5, -2.25)  # content moved by +shift (dy, dx)
    moved = header_for_shifted_data(header, shift)
    assert (moved["CRPIX1B"], moved["CRPIX2B"]) == (1.0 - 2.25, 2.0 + 1.5)
    assert (moved["LTV1"], moved["LTV2"]) == (-3.0 - 2.25, -4.0 + 1.5)
    old, new = wcs_from_header(header), wcs_from_header(moved)
    x, y = 5.0, 7.0
    # pixel p of the shifted data shows what pixel p - shift showed
    np.testing.assert_allclose(
        new.pixel_to_world_values(x, y),
        old.pixel_to_world_values(x - shift[1], y - shift[0]),
        rtol=0,
        atol=1e-10,
    )
    assert header["CRPIX1"] == 16.0  # the original is not modified
    assert wcs_from_header(fits.Header({"OBJECT": "none"})) is None
    with pytest.raises(ValueError, match=r"has 3 values but the header has NAXIS = 2"):
        header_for_shifted_data(fits.Header({"NAXIS": 2}), (1.0, 2.0, 3.0))


# ---------------------------------------------------------------- one reading path


def _scaled_file(path, stored, **keywords):
    hdu = fits.PrimaryHDU(stored)
    for key, value in keywords.items():
        hdu.header[key] = value
    hdu.writeto(path)
    return path


@pytest.mark.parametrize(
    ("stored", "keywords"),
    [
        (np.arange(-300, 300, dtype=np.int16).reshape(3, 10, 20), {"BZERO": 32768}),  # uint16
        (np.arange(0, 240, dtype=np.uint8).reshape(2, 6, 20), {"BZERO": -128}),  # int8
        (np.arange(-600, 600, 2, dtype=np.int32).reshape(3, 10, 20), {"BZERO": 2**31}),
        (
            np.arange(600, dtype=np.int16).reshape(3, 10, 20),
            {"BSCALE": 0.5, "BZERO": 10.0, "BLANK": 7},
        ),
        (np.arange(600, dtype=np.int32).reshape(3, 10, 20), {"BSCALE": 1e-3, "BZERO": -2.0}),
        (np.linspace(0, 1, 600, dtype=np.float32).reshape(3, 10, 20), {"BSCALE": 2.0}),
    ],
)
@pytest.mark.parametrize("lazy", [False, True])
def test_scaled_integers_read_as_astropy_scales_them(tmp_path, stored, keywords, lazy):
    path = _scaled_file(tmp_path / "scaled.fits", stored, **keywords)
    truth = fits.getdata(path, memmap=False)  # astropy's own scaling, read whole
    image = read_fits_image(path, lazy=lazy)
    assert image.data.dtype == truth.dtype.newbyteorder("=")
    np.testing.assert_array_equal(np.asarray(image.data), truth)
    if "BLANK" in keywords:
        assert np.isnan(np.asarray(image.data)).sum() == 1


def test_lazy_read_reads_the_file_when_computed_not_before(tmp_path):
    path = _scaled_file(tmp_path / "cam.fits", np.zeros((4, 8, 8), np.int16), BZERO=32768)
    data = read_fits_image(path, lazy=True).data
    with fits.open(path, mode="update", do_not_scale_image_data=True) as hdus:
        hdus[0].data[2, 3, 4] = 5  # stored 5 is the value 32773
    # A copy taken at opening (dask copies what it is given) would still hold 32768.
    assert data.dtype == np.uint16
    assert int(data[2, 3, 4].compute()) == 32773


def _damaged(tmp_path, card, value, data=None):
    """A FITS file whose header card ``card`` is overwritten with ``value`` (20 characters)."""
    path = tmp_path / "damaged.fits"
    fits.writeto(path, np.zeros((2, 32, 32), np.float32) if data is None else data)
    raw = bytearray(path.read_bytes())
    at = raw.index(card.ljust(8).encode() + b"=")
    raw[at + 10 : at + 30] = value.rjust(20).encode()
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize(
    ("card", "value", "message"),
    [
        ("NAXIS3", "0", r"holds no image HDU \(HDU 0 has no pixels \(NAXIS3 = 0\)\)"),
        ("NAXIS1", "-5", r"NAXIS1 = -5; an axis length must be a whole number >= 0"),
        ("NAXIS", "999", r"could not be read as FITS"),
    ],
)
def test_damaged_axes_name_the_file_and_the_card(tmp_path, card, value, message):
    path = _damaged(tmp_path, card, value)
    for read in (read_fits, read_fits_image):
        with pytest.raises(ValueError, match=message) as caught:
            read(path)
        assert "damaged.fits" in str(caught.value)


def test_random_groups_are_not_an_image(tmp_path):
    path = tmp_path / "groups.fits"
    data = fits.GroupData(
        np.zeros((3, 4, 4), np.float32), parnames=["u"], pardata=[np.zeros(3)], bitpix=-32
    )
    fits.GroupsHDU(data).writeto(path)
    with pytest.raises(ValueError, match=r"groups\.fits.*random groups"):
        read_fits(path)


def test_a_bad_registration_keyword_is_ignored_with_a_warning(tmp_path, image):
    path = write_fits(tmp_path / "a.fits", image, translate=(1.0, 2.0))
    with fits.open(path, mode="update") as hdus:
        hdus[0].header["IMRTRN1"] = "abc"
    with pytest.warns(UserWarning, match=r"a\.fits.*IMRTRNn.*not a number.*ignored"):
        (read,) = read_fits(path)
    assert read.translate is None
    np.testing.assert_array_equal(read.data, image)


def test_a_sparse_file_larger_than_memory_opens_lazily(tmp_path):
    path = tmp_path / "sparse.fits"
    header = fits.Header({"SIMPLE": True, "BITPIX": -32, "NAXIS": 3})
    header["NAXIS1"], header["NAXIS2"], header["NAXIS3"] = 1024, 1024, 768  # 3 GiB
    with path.open("wb") as stream:
        stream.write(header.tostring().encode())
        stream.seek(2880 + -(-3 * 2**30 // 2880) * 2880 - 1)  # data padded to 2880 bytes
        stream.write(b"\0")
    data = read_fits_image(path, lazy=True).data
    assert data.shape == (768, 1024, 1024)
    assert float(data[700, 1000, 1000].compute()) == 0.0


def test_one_rule_picks_the_image_hdu_everywhere(tmp_path, image):
    from napari_imreg import _io
    from napari_imreg.core import _fits as core_fits

    path = tmp_path / "err-first.fits"
    table = fits.BinTableHDU.from_columns([fits.Column(name="a", format="E", array=[1.0])])
    error = fits.ImageHDU(np.ones_like(image), name="ERR")
    science = fits.ImageHDU(image, name="SCI")
    fits.HDUList([fits.PrimaryHDU(), table, error, science]).writeto(path)

    assert read_fits_image(path).name == "SCI"
    assert choose_image([im.kind for im in read_fits(path)]) == 1
    np.testing.assert_array_equal(_io.read_image(path), image)
    np.testing.assert_array_equal(core_fits.load_data(path), image)
    with fits.open(path) as hdus:
        np.testing.assert_array_equal(core_fits.load_data(hdus), image)
        assert image_hdu(hdus).name == "SCI"
    assert core_fits.load_header(path)["EXTNAME"] == "SCI"


def _radio_file(path, image, *, planes=(1, 1)) -> None:
    """A radio-style image: two degenerate axes (frequency, Stokes) after RA and Dec."""
    from astropy.wcs import WCS

    wcs = WCS(naxis=4)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN", "FREQ", "STOKES"]
    wcs.wcs.crval = [150.0, 2.0, 1.4e9, 1.0]
    wcs.wcs.crpix = [32.0, 30.0, 1.0, 1.0]
    wcs.wcs.cdelt = [-1.0e-4, 1.0e-4, 1.0e6, 1.0]
    wcs.wcs.pc = np.eye(4)
    data = image.reshape(planes + image.shape).astype(np.float32)
    fits.PrimaryHDU(data, header=wcs.to_header()).writeto(path)


def test_degenerate_axes_are_dropped_with_their_wcs(tmp_path):
    """A (1, 1, ny, nx) radio image reads as the plane it is, and its WCS keeps the sky:
    the same pixel has the same RA and Dec as in the file's 4-axis WCS."""
    from astropy.wcs import WCS

    image = np.random.default_rng(1).normal(size=(40, 48))
    _radio_file(tmp_path / "radio.fits", image)
    read = read_fits_image(tmp_path / "radio.fits")
    np.testing.assert_array_equal(read.data, image.astype(np.float32))
    assert read.wcs.naxis == 2
    full = WCS(fits.getheader(tmp_path / "radio.fits"))
    sky = full.pixel_to_world_values(7.0, 11.0, 0.0, 0.0)[:2]
    np.testing.assert_allclose(read.wcs.pixel_to_world_values(7.0, 11.0), sky, rtol=1e-12)
    lazy = read_fits_image(tmp_path / "radio.fits", lazy=True)
    np.testing.assert_array_equal(np.asarray(lazy.data), read.data)


def test_a_radio_pair_registers_to_its_exact_shift(tmp_path):
    from napari_imreg.core import register_fits
    from napari_imreg.core._binned_pairs import load_scene, make_binned_pair

    pair = make_binned_pair(load_scene("moon"), (64, 64), (5, -3), rng=2, snr=30)
    _radio_file(tmp_path / "ref.fits", pair.reference)
    _radio_file(tmp_path / "mov.fits", pair.moving)
    result = register_fits(tmp_path / "ref.fits", tmp_path / "mov.fits")
    assert np.all(np.abs(result.shift - pair.shift) < 4 * result.error)


def test_a_cube_keeps_its_planes(tmp_path):
    image = np.random.default_rng(2).normal(size=(16, 20))
    _radio_file(tmp_path / "cube.fits", np.stack([image, image]), planes=(1,))
    assert read_fits_image(tmp_path / "cube.fits").data.shape == (2, 16, 20)
