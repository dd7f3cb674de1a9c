"""What a user sees with the pair widget (issue 16): the Δχ² map beside the images, 3-D pairs
that keep the dims usable, units kept, outputs replaced, no stale state, and the polish items."""

import numpy as np
import pytest
from astropy.wcs import WCS

from napari_imreg._widgets import _pair
from napari_imreg._widgets._pair import PairWidget, format_measure
from napari_imreg._widgets._plot import ellipse_points
from napari_imreg.core import make_extended, make_shifted

PLUGIN = "napari-imreg"


@pytest.fixture
def errors(monkeypatch):
    messages = []
    monkeypatch.setattr(_pair, "show_error", messages.append)
    return messages


def _pair_layers(viewer, shape=(64, 64), shift=(2.4, -1.3), **kwargs):
    reference = make_extended(shape, seed=30)
    moving = make_shifted(reference, shift, noise=0.05, seed=31)
    return (
        viewer.add_image(reference, name="ref", **kwargs),
        viewer.add_image(moving, name="mov", **kwargs),
    )


def _register(viewer, wait_for, reference, moving, **values):
    widget = PairWidget(viewer)
    widget.set_layers(reference, [moving])
    widget._boundary.value = "wrap"
    for name, value in values.items():
        getattr(widget, f"_{name}").value = value
    assert widget.run() is not None
    wait_for(widget)
    return widget


def test_3d_pair_keeps_the_dims_sliders(viewer, wait_for):
    # Item 1: a 15^3 map at a scale of 1e-4 gave the z slider ~640,000 steps and a negative
    # range. The map now takes one reference plane per plane, inside the reference's z range.
    reference, moving = _pair_layers(viewer, (24, 48, 48), (1.3, -2.6, 0.8), scale=(2, 0.5, 0.5))
    before = viewer.dims.range[0]
    _register(viewer, wait_for, reference, moving)
    chi2 = viewer.layers["Δχ² mov"]
    assert chi2.ndim == 3
    z = viewer.dims.range[0]
    assert z.step == before.step == 2.0
    assert (z.start, z.stop) == (before.start, before.stop)
    assert viewer.dims.nsteps[0] == 24


def test_rotated_layers_are_refused_with_a_message(viewer, errors):
    # Item 3: placement through a rotate or shear was wrong by ~2 world units; such layers
    # are refused, and the message says how to go on.
    reference, moving = _pair_layers(viewer)
    moving.rotate = 90
    widget = PairWidget(viewer)
    widget.set_layers(reference, [moving])
    assert widget.run() is None
    assert "rotated, sheared or has an affine" in errors[-1]
    moving.rotate = 0
    moving.shear = [0.2]
    assert widget.run() is None
    assert "'mov' is rotated" in errors[-1]


def test_the_delta_chi2_map_is_seen_beside_the_images_with_a_plot(viewer, wait_for):
    # Item 4: the map layer is large enough to see with the images (a fraction of the
    # reference's size, not 0.012 px), beside the reference, in its units; the widget plots
    # the regions, the fitted ellipses, the shift and a legend; the map can be turned off.
    reference, moving = _pair_layers(viewer, (64, 80), scale=(0.5, 0.5), units="µm")
    widget = _register(viewer, wait_for, reference, moving)
    chi2 = viewer.layers["Δχ² mov"]
    ref_low, ref_high = reference.extent.world
    map_low, map_high = chi2.extent.world
    ref_size = ref_high - ref_low
    assert (map_high - map_low)[0] > 0.3 * ref_size.min()
    assert map_low[1] > ref_high[1]  # right of the reference, not on top of it
    assert ref_low[0] - 1 <= map_low[0] <= ref_high[0]  # within the reference's rows
    assert chi2.units == reference.units

    plot = widget.plot
    (job,) = widget.last_jobs
    np.testing.assert_allclose(plot.shift, job.full_shift)
    assert len(plot.ellipses) == 3
    # the 1σ region coloured in the plot is the map's own: samples below the first level
    levels = chi2.metadata["sigma_levels"]
    assert np.array_equal(plot.image == 0, chi2.data < levels[0])
    # the fitted ellipse agrees with the sampled map: its points lie on Δχ² = 2.30
    coords = chi2.metadata["shift_coords"]
    inner = plot.ellipses[0]
    from scipy.interpolate import RegularGridInterpolator

    sampled = RegularGridInterpolator(coords, chi2.data)(inner)
    np.testing.assert_allclose(sampled, levels[0], rtol=0.15)
    image = plot.grab().toImage()
    assert image.width() > 100
    assert image.height() > 100

    widget._show_map.value = False
    assert widget.plot.isHidden()
    viewer.layers.remove(chi2)
    assert widget.run() is not None
    wait_for(widget)
    assert "Δχ² mov" not in [layer.name for layer in viewer.layers]


def test_ellipse_points_lie_on_the_quadratic_level():
    covariance = np.array([[0.04, 0.01], [0.01, 0.02]])
    points = ellipse_points(np.array([1.0, -2.0]), covariance, 2.3)
    offsets = points - [1.0, -2.0]
    values = np.einsum("ni,ij,nj->n", offsets, np.linalg.inv(covariance), offsets)
    np.testing.assert_allclose(values, 2.3)


def test_registering_again_replaces_the_outputs(viewer, wait_for):
    # Item 5: runs piled up copies and maps ([1] ... [4]) that showed up as inputs.
    reference, moving = _pair_layers(viewer)
    widget = _register(viewer, wait_for, reference, moving)
    names = [layer.name for layer in viewer.layers]
    assert names == ["ref", "mov", "mov registered", "Δχ² mov"]
    viewer.layers.move(3, 0)  # the user moved the map; the new one takes its place
    for _ in range(2):
        widget.run()
        wait_for(widget)
    assert [layer.name for layer in viewer.layers] == ["Δχ² mov", "ref", "mov", "mov registered"]
    choices = [name for name, _ in widget._image_choices()]
    assert choices == ["ref", "mov"]


def test_units_are_kept_and_shifts_reported_in_them(viewer, wait_for):
    # Item 6: the copy and the map took the unit "pixel" while the source was in µm.
    reference, moving = _pair_layers(viewer, shift=(2.4, -1.3), scale=(0.25, 0.5), units="µm")
    widget = _register(viewer, wait_for, reference, moving)
    copy = viewer.layers["mov registered"]
    assert copy.units == moving.units
    np.testing.assert_allclose(copy.scale, moving.scale)
    (job,) = widget.last_jobs
    text = widget._results.value
    dy_line = next(line for line in text.splitlines() if line.strip().startswith("dy"))
    microns = float(dy_line.split("=")[2].split("±")[0])
    assert microns == pytest.approx(job.full_shift[0] * 0.25, abs=1e-3)
    assert "µm" in dy_line


def test_shifts_in_arcsec_from_a_fits_wcs(viewer, wait_for):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.cdelt = [-0.2 / 3600, 0.1 / 3600]  # x: 0.2 arcsec, y: 0.1 arcsec per pixel
    wcs.wcs.crval = [150.0, 2.0]
    reference, moving = _pair_layers(viewer)
    moving.metadata = {"fits_wcs": wcs}
    widget = _register(viewer, wait_for, reference, moving)
    (job,) = widget.last_jobs
    lines = widget._results.value.splitlines()
    dx_line = next(line for line in lines if line.strip().startswith("dx"))
    arcsec = float(dx_line.split("=")[2].split("±")[0])
    assert arcsec == pytest.approx(job.full_shift[1] * 0.2, abs=1e-3)
    assert dx_line.endswith("arcsec")


def test_layers_opened_later_are_preselected_and_stale_results_cleared(viewer, wait_for, errors):
    # Item 7: a widget docked on an empty viewer answered "Choose one or more moving…".
    widget = PairWidget(viewer)
    reference, moving = _pair_layers(viewer)
    assert widget._reference.value == reference
    assert widget._moving.value == [moving]
    widget._boundary.value = "wrap"
    widget.run()
    wait_for(widget)
    assert "mov → ref" in widget._results.value
    # a refusal clears the previous pair's result
    widget.set_layers(reference, [reference])
    assert widget.run() is None
    assert widget._results.value == ""
    assert widget.plot.image is None
    # so does removing the layers of the result
    widget.set_layers(reference, [moving])
    widget.run()
    wait_for(widget)
    assert widget._results.value
    viewer.layers.remove(moving)
    assert widget._results.value == ""


def test_small_errors_keep_significant_digits():
    # Item 10: errors below 5e-5 printed as "± 0.0000".
    assert format_measure(1.23456789, 3.2e-5) == "+1.234568 ± 0.000032"
    assert format_measure(-12.3456, 0.0123) == "-12.346 ± 0.012"
    assert format_measure(0.5, float("inf")) == "+0.5000 ± inf"
    assert format_measure(0.5, float("nan")) == "+0.5000 (no error)"


def test_a_long_note_does_not_widen_the_dock(viewer):
    # A path has no spaces to wrap at: its label asked for 1575 px and the dock followed.
    widget = PairWidget(viewer)
    widget._plan_label.value = f"'/data/{'x' * 200}.fits' is multiscale: registered at level 2"
    widget._results.value = "y" * 600
    widget.native.layout().activate()
    assert widget._plan_label.native.minimumSizeHint().width() > 1000  # the note is long
    assert widget.native.minimumSizeHint().width() < 500


def test_rgb_copy_keeps_the_source_dtype(viewer, wait_for):
    gray = make_extended((64, 64), seed=32)
    moved = make_shifted(gray, (1.5, -2.0), noise=0.01, seed=33)

    def to_uint8(image):
        scaled = (image - gray.min()) / np.ptp(gray) * 200 + 20
        return np.clip(np.stack([scaled] * 3, axis=-1), 0, 255).astype(np.uint8)

    reference = viewer.add_image(to_uint8(gray), rgb=True, name="ref")
    moving = viewer.add_image(to_uint8(moved), rgb=True, name="mov")
    _register(viewer, wait_for, reference, moving)
    copy = viewer.layers["mov registered"]
    assert copy.data.dtype == np.uint8
    inner = (slice(8, -8), slice(8, -8))
    difference = copy.data[inner].astype(float) - reference.data[inner].astype(float)
    assert np.abs(difference).mean() < 3  # overlays the reference, on the 0-255 scale


def test_fits_orientation_y_up(viewer):
    widget = PairWidget(viewer)
    widget._y_up.value = True
    assert str(_pair._camera(viewer).orientation2d[0].value) == "up"
    widget._y_up.value = False
    assert str(_pair._camera(viewer).orientation2d[0].value) == "down"


def test_a_dask_pair_is_read_off_the_gui_thread(viewer, wait_for):
    # Item 15: planning (on the GUI thread) read whole layers with np.asarray.
    import dask.array as da

    reference = make_extended((64, 64), seed=34)
    moving = make_shifted(reference, (1.7, -0.6), noise=0.02, seed=35)
    ref = viewer.add_image(da.from_array(reference, chunks=32), name="ref")
    mov = viewer.add_image(da.from_array(moving, chunks=32), name="mov")
    widget = PairWidget(viewer)
    widget.set_layers(ref, [mov])
    widget._boundary.value = "wrap"
    widget.model.options = widget.options
    (job,) = widget.model.plan(ref, [mov])
    assert isinstance(job.moving_array.data, da.Array)
    widget.run()
    wait_for(widget)
    (done,) = widget.last_jobs
    np.testing.assert_allclose(done.full_shift, (1.7, -0.6), atol=0.02)
