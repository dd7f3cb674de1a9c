"""The FITS reader and writer, through napari's own open/save machinery."""

import contextlib

import numpy as np
import pytest
from astropy.io import fits

from napari_imreg._reader import get_reader
from napari_imreg._writer import write_image
from napari_imreg.core import _fits
from napari_imreg.core._fits import read_fits, write_fits

PLUGIN = "napari-imreg"


def _header() -> fits.Header:
    header = fits.Header()
    header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
    header["CRPIX1"], header["CRPIX2"] = 20.0, 10.0
    header["CRVAL1"], header["CRVAL2"] = 10.0, -30.0
    header["CDELT1"], header["CDELT2"] = -1.0e-4, 1.0e-4
    header["TELESCOP"] = "TEST"
    return header


@pytest.fixture
def image():
    return np.random.default_rng(1).normal(size=(30, 40)).astype(np.float32)


@pytest.fixture
def multi_extension(tmp_path, image):
    path = tmp_path / "exposure.fits"
    fits.HDUList(
        [
            fits.PrimaryHDU(image, header=_header()),
            fits.ImageHDU(np.full_like(image, 0.5), name="ERR"),
            fits.ImageHDU(np.full_like(image, 0.25), name="VAR"),
        ]
    ).writeto(path)
    return path


@pytest.mark.parametrize("suffix", [".fits", ".fit", ".fts", ".fits.gz"])
def test_open_fits_in_viewer(viewer, tmp_path, image, suffix):
    path = write_fits(tmp_path / f"m51{suffix}", image, header=_header())
    layers = viewer.open(path, plugin=PLUGIN)
    assert [layer.name for layer in layers] == ["m51"]
    layer = layers[0]
    np.testing.assert_array_equal(layer.data, image)
    assert layer.metadata["fits_header"]["TELESCOP"] == "TEST"
    assert layer.metadata["fits_wcs"].wcs.ctype[0] == "RA---TAN"
    np.testing.assert_array_equal(layer.translate, [0, 0])


def test_uncertainty_extensions_open_as_their_own_layers(viewer, multi_extension):
    layers = viewer.open(multi_extension, plugin=PLUGIN)
    assert [layer.name for layer in layers] == ["exposure", "exposure [ERR]", "exposure [VAR]"]
    assert [layer.metadata["fits_kind"] for layer in layers] == ["image", "error", "variance"]
    assert not layers[1].visible
    np.testing.assert_array_equal(layers[2].data, 0.25)


def test_repeated_extension_names_are_told_apart_by_their_version(viewer, tmp_path, image):
    # A two-chip exposure: SCI,1 ERR,1 SCI,2 ERR,2 after an empty primary HDU.
    hdus = [fits.PrimaryHDU()]
    for version in (1, 2):
        hdus.append(fits.ImageHDU(image * version, name="SCI", ver=version))
        hdus.append(fits.ImageHDU(np.full_like(image, 0.5), name="ERR", ver=version))
    path = tmp_path / "chips.fits"
    fits.HDUList(hdus).writeto(path)
    layers = viewer.open(path, plugin=PLUGIN)
    names = [layer.name for layer in layers]
    assert names == ["chips [SCI,1]", "chips [ERR,1]", "chips [SCI,2]", "chips [ERR,2]"]
    np.testing.assert_array_equal(layers[2].data, image * 2)


def test_round_trip_keeps_data_translate_and_header(viewer, tmp_path, image):
    source = write_fits(tmp_path / "source.fits", image, header=_header())
    (layer,) = viewer.open(source, plugin=PLUGIN)
    layer.translate = (2.5, -1.25)
    layer.metadata["registration"] = {"shift": (2.5, -1.25), "error": (0.01, 0.02)}
    out = tmp_path / "saved.fits"
    written = viewer.layers.save(str(out), selected=False, plugin=PLUGIN)
    assert written == [str(out)]

    (saved,) = read_fits(out)
    np.testing.assert_array_equal(saved.data, image)
    assert saved.data.dtype == image.dtype
    assert saved.header["TELESCOP"] == "TEST"
    assert saved.shift == (2.5, -1.25)
    assert saved.shift_error == (0.01, 0.02)
    # The data are saved unmoved, so their WCS is too; the translate is recorded beside it.
    assert (saved.header["CRPIX1"], saved.header["CRPIX2"]) == (20.0, 10.0)

    (reopened,) = viewer.open(out, plugin=PLUGIN)
    np.testing.assert_array_equal(reopened.data, image)
    np.testing.assert_allclose(reopened.translate, (2.5, -1.25))
    assert reopened.metadata["registration"]["shift"] == (2.5, -1.25)


def test_writer_uses_pixels_for_scaled_layers_and_skips_rgb_channels(tmp_path):
    meta = {"translate": (3.0, 4.0), "scale": (2.0, 0.5), "metadata": {}, "rgb": True}
    rgb = np.zeros((5, 6, 3), np.uint8)
    (path,) = write_image(str(tmp_path / "rgb.fits"), rgb, meta)
    (saved,) = read_fits(path)
    np.testing.assert_array_equal(saved.data, rgb)
    assert saved.translate == (1.5, 8.0, 0.0)


def test_writer_refuses_a_shift_with_more_values_than_the_data_has_axes(tmp_path, image):
    meta = {"metadata": {"registration": {"shift": (1.0, 2.0, 3.0)}}}
    with pytest.raises(ValueError, match=r"shift=\(1.0, 2.0, 3.0\) has 3 values but the data"):
        write_image(str(tmp_path / "a.fits"), image, meta)
    assert not (tmp_path / "a.fits").exists()


def test_writer_replaces_the_confirmed_file_atomically(tmp_path, image):
    target = write_fits(tmp_path / "a.fits", np.zeros_like(image))
    assert write_image(str(target), image, {"metadata": {}}) == [str(target)]
    np.testing.assert_array_equal(read_fits(target)[0].data, image)
    assert [p.name for p in tmp_path.iterdir()] == ["a.fits"]


def test_reader_declines_other_files(tmp_path, image):
    assert get_reader(str(tmp_path / "a.tif")) is None
    not_fits = tmp_path / "fake.fits"
    not_fits.write_text("this is a text file")
    assert get_reader(str(not_fits)) is None
    good = write_fits(tmp_path / "good.fits", image)
    assert get_reader(str(good)) is not None
    assert get_reader([str(good), str(tmp_path / "b.png")]) is None


def _unreadable_fits(tmp_path, image, kind):
    """A file that starts like FITS but holds no image napari could show."""
    whole = write_fits(tmp_path / "whole.fits", image).read_bytes()
    path = tmp_path / f"{kind}.fits"
    if kind == "truncated":
        path.write_bytes(whole[:3000])
    elif kind == "corrupt":
        path.write_bytes(whole[:80] + b"\x00 not a card " * 400)
    elif kind == "spectrum":
        fits.PrimaryHDU(np.arange(100.0)).writeto(path)
    elif kind == "tables only":
        column = fits.Column(name="flux", format="E", array=np.arange(5.0))
        fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([column])]).writeto(path)
    else:  # an empty primary HDU and nothing after it
        fits.PrimaryHDU().writeto(path)
    return path


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("truncated", "could not be read as FITS"),
        ("corrupt", "could not be read as FITS"),
        ("tables only", "holds no image HDU"),
        ("empty", "holds no image HDU"),
        ("spectrum", "only image data are 1-D (PRIMARY (100 values))"),
    ],
)
def test_reader_declines_unreadable_fits_and_says_why(tmp_path, image, monkeypatch, kind, reason):
    told = []
    monkeypatch.setattr("napari_imreg._reader._notify_error", told.append)
    path = _unreadable_fits(tmp_path, image, kind)
    assert get_reader(str(path)) is None  # npe2: a reader that cannot read a path says None
    assert len(told) == 1
    assert path.name in told[0]
    assert reason in told[0]


def test_a_spectrum_beside_an_image_is_skipped_and_the_image_opens(
    viewer, tmp_path, image, monkeypatch
):
    told = []
    monkeypatch.setattr("napari_imreg._reader._notify_warning", told.append)
    path = tmp_path / "with_spectrum.fits"
    hdus = [fits.PrimaryHDU(np.arange(100.0)), fits.ImageHDU(image, name="SCI")]
    fits.HDUList(hdus).writeto(path)
    layers = viewer.open(str(path), plugin=PLUGIN)
    assert len(told) == 1
    assert "skips the 1-D HDU(s) PRIMARY (100 values)" in told[0]
    assert [layer.name for layer in layers] == ["with_spectrum"]
    np.testing.assert_array_equal(np.asarray(layers[0].data), image)


def test_corrupt_file_gives_a_clear_error_and_the_viewer_keeps_working(viewer, tmp_path, image):
    from napari.utils.notifications import notification_manager

    truncated = _unreadable_fits(tmp_path, image, "truncated")
    shown = []
    notification_manager.notification_ready.connect(lambda event: shown.append(event.message))
    with pytest.raises(ValueError, match=r"truncated\.fits"):
        viewer.open(truncated, plugin=PLUGIN)
    assert any("truncated.fits: " in m and "could not be read as FITS" in m for m in shown)
    assert len(viewer.layers) == 0
    viewer.add_image(image)  # still usable
    assert len(viewer.layers) == 1


def test_reader_for_a_non_fits_file_with_a_fits_name(viewer, tmp_path):
    fake = tmp_path / "fake.fits"
    fake.write_text("this is a text file")
    with pytest.raises(Exception, match=r"fake\.fits"):
        viewer.open(fake, plugin=PLUGIN)
    assert len(viewer.layers) == 0


def test_registering_fits_layers_keeps_the_wcs_with_the_data(viewer, tmp_path, wait_for):
    from napari_imreg._widgets._pair import PairWidget
    from napari_imreg.core import make_extended, make_shifted

    reference = make_extended((48, 64), seed=30)
    truth = (2.5, -3.25)
    moving = make_shifted(reference, truth, noise=0.02, seed=31)
    write_fits(tmp_path / "ref.fits", reference, header=_header())
    write_fits(tmp_path / "mov.fits", moving, header=_header())
    (ref_layer,) = viewer.open(tmp_path / "ref.fits", plugin=PLUGIN)
    (mov_layer,) = viewer.open(tmp_path / "mov.fits", plugin=PLUGIN)

    widget = PairWidget(viewer)
    widget.set_layers(ref_layer, [mov_layer])
    widget._boundary.value = "wrap"
    widget.run()
    wait_for(widget)
    (job,) = widget.last_jobs
    shift = job.full_shift
    np.testing.assert_allclose(shift, truth, atol=0.02)

    # the resampled copy: its content moved by +shift, so CRPIX moves by +shift too
    copy = viewer.layers["mov registered"]
    viewer.layers.selection = {copy}
    viewer.layers.save(str(tmp_path / "copy.fits"), selected=True, plugin=PLUGIN)
    (saved_copy,) = read_fits(tmp_path / "copy.fits")
    assert saved_copy.header["CRPIX1"] == pytest.approx(20.0 + shift[1])
    assert saved_copy.header["CRPIX2"] == pytest.approx(10.0 + shift[0])
    np.testing.assert_allclose(saved_copy.shift, shift)
    assert saved_copy.header["IMRREF"] == "ref"

    # in place: the translate goes to the file and comes back
    widget._output.value = "in place (translate)"
    widget.run()
    wait_for(widget)
    np.testing.assert_allclose(mov_layer.translate, shift)
    viewer.layers.selection = {mov_layer}
    viewer.layers.save(str(tmp_path / "placed.fits"), selected=True, plugin=PLUGIN)
    (placed,) = viewer.open(tmp_path / "placed.fits", plugin=PLUGIN)
    np.testing.assert_allclose(placed.translate, shift)
    np.testing.assert_array_equal(placed.data, moving)

    # Both outputs give a feature the sky coordinates it had in the moving file: pixel q of
    # the moving data is pixel q + shift of the copy, and pixel q of the placed file.
    original = _fits.wcs_from_header(_header())
    copy_wcs = saved_copy.wcs
    placed_wcs = placed.metadata["fits_wcs"]
    y, x = 17.0, 23.0
    truth_sky = original.pixel_to_world_values(x, y)
    np.testing.assert_allclose(
        copy_wcs.pixel_to_world_values(x + shift[1], y + shift[0]), truth_sky, rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(
        placed_wcs.pixel_to_world_values(x, y), truth_sky, rtol=0, atol=1e-9
    )


@pytest.mark.parametrize("how", ["chosen in the dialog", "remembered for *.fits"])
def test_file_open_on_a_truncated_file_tells_the_user_why(
    make_napari_viewer, tmp_path, image, monkeypatch, how
):
    # File > Open's call lives on the Qt viewer, which the plugins' proxy viewer hides.
    viewer = make_napari_viewer()
    from napari._qt.dialogs.qt_reader_dialog import QtReaderDialog
    from napari.settings import get_settings
    from napari.utils.notifications import notification_manager

    whole = write_fits(tmp_path / "whole.fits", image).read_bytes()
    truncated = tmp_path / "cut.fits"
    truncated.write_bytes(whole[:3000])
    shown = []
    notification_manager.notification_ready.connect(lambda event: shown.append(event.message))
    offered = []

    def choose(dialog):
        offered.append(dialog)
        # napari's builtins also claim *.fits: the user picks this plugin, or (after it
        # failed as the remembered reader) cancels.
        return (PLUGIN, False) if how == "chosen in the dialog" else (None, False)

    monkeypatch.setattr(QtReaderDialog, "get_user_choices", choose)
    settings = get_settings().plugins
    before = dict(settings.extension2reader)
    if how == "remembered for *.fits":
        settings.extension2reader = {**before, "*.fits": PLUGIN}
    # With the plugin chosen in the dialog, napari re-raises the reader's error to its hook.
    chosen = how == "chosen in the dialog"
    raised = pytest.raises(ValueError, match=r"cut\.fits") if chosen else contextlib.nullcontext()
    try:
        with raised:
            viewer.window._qt_viewer._qt_open([str(truncated)], stack=False)  # File > Open's call
    finally:
        settings.extension2reader = before
    assert len(offered) == 1
    reasons = [m for m in shown if "napari-imreg cannot open cut.fits" in m]
    assert len(reasons) == 1, shown
    assert "could not be read as FITS" in reasons[0]
    assert "truncated" in reasons[0]
    assert len(viewer.layers) == 0


def test_reader_maps_the_file_and_reads_it_through_dask(tmp_path):
    cube = np.arange(4 * 6 * 8, dtype=np.int16).reshape(4, 6, 8)
    path = tmp_path / "cube.fits"
    fits.writeto(path, cube)
    ((data, _, _),) = get_reader(str(path))(str(path))
    assert type(data).__module__.startswith("dask")
    with fits.open(path, mode="update") as hdus:
        hdus[0].data[3, 5, 7] = -1
    assert int(data[3, 5, 7].compute()) == -1  # read when shown, not when opened


def test_a_bad_translate_keyword_opens_the_layer_with_a_warning(viewer, tmp_path, image):
    path = write_fits(tmp_path / "odd.fits", image, translate=(1.0, 2.0))
    with fits.open(path, mode="update") as hdus:
        hdus[0].header["IMRTRN1"] = "abc"
    with pytest.warns(UserWarning, match=r"odd\.fits.*IMRTRNn.*ignored"):
        (layer,) = viewer.open(path, plugin=PLUGIN)
    np.testing.assert_array_equal(layer.data, image)
    np.testing.assert_array_equal(layer.translate, [0, 0])
