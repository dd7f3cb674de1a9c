"""Widget 1: register image layers (pairs) against a reference.

Two parts, in the napari-animation manner:

* a headless model, :class:`PairRegistration` (in :mod:`._pair_model`): options in,
  :class:`PairJob` objects planned from layers (main thread), registered by one core call each
  (worker thread), and turned into layers or a translate (main thread). Scripts and tests can
  use it without the widget.
* a thin widget, :class:`PairWidget`: magicgui controls that fill the options, a button that
  runs the jobs in a napari thread worker, a text box with each shift and its 1-sigma error (in
  pixels, and in µm or arcsec when the layer has a scale, units or a WCS), and a plot of the
  Δχ² map with its 1σ/2σ/3σ regions and fitted ellipses.

The Δχ² map also becomes a layer, placed beside the reference image and sized to be seen with
it (its samples are a small fraction of a pixel of shift apart: placed at the shift values, it
would be a speck, and a 3-D one would wreck the dims sliders). Registering the same pair again
replaces its outputs, and the outputs are not offered as inputs.

The widget only collects options and shows results: :mod:`._pair_model` plans the jobs and
calls the core for every number.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    PushButton,
    Select,
    TextEdit,
)
from napari.layers import Image, Labels, Layer, Shapes
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QSizePolicy

from napari_imreg._shift_table import axis_names
from napari_imreg._widgets._delta_map import map_plane
from napari_imreg._widgets._layers import (
    COMMON_TOOLTIPS,
    fits_mask_layer,
    is_output,
    kept_selection,
    numbers,
    set_tooltips,
    viewer_axis_labels,
)
from napari_imreg._widgets._options import PEAK_OPTIONS, add_common_controls
from napari_imreg._widgets._pair_model import (
    METHOD_CHOICES,
    NOISE_CHOICES,
    OUTPUT_CHOICES,
    PairJob,
    PairOptions,
    PairRegistration,
)
from napari_imreg._widgets._plot import DeltaChi2Plot
from napari_imreg._widgets._verdict import FLAGGED
from napari_imreg._widgets._worker import start_worker
from napari_imreg.core import delta_chi2_levels

if TYPE_CHECKING:
    import napari


def format_result(job: PairJob, labels: Sequence[str] | None = None) -> str:
    """The pair, then one line per axis: the shift and its 1-sigma error in pixels, and in
    physical units (the layer's scale and units, or its FITS WCS in arcsec) when it has any.
    A pair refused or not measured gets one line saying why; a flagged one, a line more.
    ``labels``: the moving layer's axis labels in the viewer, which name the axes where
    they are names (:func:`~napari_imreg._shift_table.axis_names`)."""
    pair = f"{job.moving.name} → {job.reference.name}"
    if job.failure is not None:
        return f"{pair}: not registered: {job.failure}"
    verdict = job.verdict
    if not verdict.moves:
        return f"{pair}: not measured, {verdict.reason}. Nothing was added or moved."
    axes = axis_names(len(job.full_shift), labels)
    physical = physical_units(job.moving)
    lines = [f"{pair}:"]

    def measures(shift: np.ndarray) -> list[str]:
        out = []
        for axis, (name, value, err) in enumerate(zip(axes, shift, job.full_error, strict=True)):
            text = f"d{name if len(name) == 1 else f'({name})'} = {format_measure(value, err)} px"
            if physical is not None:
                factor, unit = physical[axis]
                text += f" = {format_measure(value * factor, err * factor)} {unit}"
            out.append(text)
        return out

    lines += [f"  {text}" for text in measures(job.full_shift)]
    offset = job.placement_offset
    if not np.allclose(offset, 0):  # the layers were placed apart: how far the moving one moves
        lines.append(
            f"  from where it was placed (translate {numbers(job.placed_translate)}): "
            + ", ".join(measures(job.full_shift - offset))
        )
    noise = job.result.noise
    if noise is not None:
        lines.append(f"  (noise σ ≈ {noise:.3g}, estimated from the data)")
    if verdict.kind == "flagged":
        lines.append(f"  {FLAGGED}: {verdict.reason}.")
    return "\n".join(lines)


def format_measure(value: float, error: float) -> str:
    """``value ± error`` with two significant digits of the error, and the value to the same
    decimal place (an error of 3e-5 is not printed as 0.0000)."""
    if not np.isfinite(error) or error <= 0:
        text = f"{value:+.4f}"
        if np.isnan(error):
            return f"{text} (no error)"
        return f"{text} ± {error:.4g}"
    decimals = max(0, 1 - int(np.floor(np.log10(error))))
    return f"{value:+.{decimals}f} ± {error:.{decimals}f}"


def physical_units(layer: Image) -> list[tuple[float, str]] | None:
    """Per axis, the size of one data pixel and its unit: arcsec from a celestial FITS WCS,
    else the layer's scale and units. None when both are plain pixels."""
    wcs = layer.metadata.get("fits_wcs")
    if wcs is not None and getattr(wcs, "has_celestial", False) and layer.ndim == 2:
        from astropy.wcs.utils import proj_plane_pixel_scales

        # The WCS counts axes x first; numpy's order is y first.
        degrees = proj_plane_pixel_scales(wcs.celestial)[::-1]
        return [(float(d) * 3600.0, "arcsec") for d in degrees]
    scale = np.asarray(layer.scale, dtype=float)
    units = [f"{unit:~P}" for unit in layer.units]
    if np.allclose(scale, 1.0) and all(unit == "pixel" for unit in units):
        return None
    names = [unit if unit != "pixel" else "world units" for unit in units]
    return list(zip((float(s) for s in scale), names, strict=True))


_TOOLTIPS = {
    "_reference": "The image the others are registered onto.",
    "_moving": "The images to register (select several with Ctrl or Shift).",
    "_error_layer": "A layer holding the moving image's 1-sigma error per pixel (or its "
    "variance, for a FITS VAR extension).",
    "_method": "chi2: the chi-squared shift with calibrated errors and the Δχ² map; dft: the "
    "upsampled cross-correlation peak; taylor: the peak refined by a Taylor expansion.",
    "_output": "shifted copy: add a resampled copy of each moving layer; in place: set the "
    "moving layer's translate (no resampling, the pixels are untouched).",
    "_run_button": "Register each moving layer in the background; the viewer stays usable.",
    "_cancel_button": "Stop after the layer being registered; finished ones are kept.",
    "_show_map": "Add the Δχ² map as a layer beside the reference, and plot it here: the "
    "1σ/2σ/3σ regions of the shift, the fitted ellipses and the shift.",
    "_mask_layer": "A labels layer (non-zero pixels) or a shapes layer (inside the shapes) "
    "marking pixels of the reference's grid, used for both images as 'mask means' says. "
    "Shapes are drawn in world coordinates and rasterised onto each image's grid.",
    "_mask_mode": "mask: the marked pixels are ignored (hot pixels, a satellite trail, an "
    "unrelated bright object); region of interest: only the marked pixels are used (a cell, a "
    "star field).",
    "_fits_masks": "Ignore the pixels flagged (non-zero) in each image's FITS DQ or MASK "
    "extension, opened as a labels layer beside the image.",
    "_y_up": "Show images with the y axis up, as DS9 shows FITS images (only the view turns; "
    "the data and shifts are unchanged).",
}


class PairWidget(Container):
    """Dock widget: register image layers onto a reference, show shifts with errors."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self.viewer = viewer
        self.model = PairRegistration(viewer)
        self.worker = None
        self.last_jobs: list[PairJob] = []

        self._reference = ComboBox(label="reference", choices=self._image_choices)
        self._moving = Select(label="moving", choices=self._image_choices, allow_multiple=True)
        self._noise = ComboBox(label="noise", choices=NOISE_CHOICES, value=NOISE_CHOICES[0])
        self._error_layer = ComboBox(label="error layer", choices=self._image_choices)
        self._error_value = FloatSpinBox(label="noise σ", value=1.0, min=1e-9, max=1e9, step=0.01)
        self._method = ComboBox(label="method", choices=METHOD_CHOICES, value="chi2")
        add_common_controls(self, self._mask_choices)
        self._output = ComboBox(label="output", choices=OUTPUT_CHOICES, value="shifted copy")
        self._show_map = CheckBox(text="Δχ² map (layer and plot)", value=True)
        self._y_up = CheckBox(text="y axis up (FITS, as DS9)", value=_y_is_up(viewer))
        self._run_button = PushButton(text="Register")
        self._cancel_button = PushButton(text="Cancel", enabled=False)
        self._plan_label = Label(value="")
        self._plan_label.native.setWordWrap(True)
        self._results = TextEdit(label="shifts", value="")
        self._results.read_only = True
        # Long notes and results wrap instead of widening the dock (and squeezing the canvas).
        for text in (self._plan_label, self._results):
            text.native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.plot = DeltaChi2Plot()
        set_tooltips(self, {**COMMON_TOOLTIPS, **_TOOLTIPS})

        self.extend(
            [
                self._reference,
                self._moving,
                self._noise,
                self._error_layer,
                self._error_value,
                self._method,
                self._mask_layer,
                self._mask_mode,
                self._fits_masks,
                *self.option_controls.widgets,
                self._rgb_channel,
                self._output,
                self._show_map,
                self._y_up,
                self._run_button,
                self._cancel_button,
                self._plan_label,
                self._results,
            ]
        )
        self.native.layout().addWidget(self.plot)
        for widget in (self._noise, self._method, self._reference, self._mask_layer):
            widget.changed.connect(self._update_visibility)
        self._moving.changed.connect(self._update_visibility)
        for widget in (
            self._reference,
            self._moving,
            self._noise,
            self._error_layer,
            self._mask_layer,
            self._mask_mode,
            self._fits_masks,
        ):
            widget.changed.connect(self._explain)
        self._run_button.changed.connect(self.run)
        self._cancel_button.changed.connect(self.cancel)
        self._show_map.changed.connect(self._on_show_map)
        self._y_up.changed.connect(self._on_y_up)
        for event in ("inserted", "removed", "moved", "changed"):
            getattr(viewer.layers.events, event).connect(self._on_layers_changed)
        self._preselect()
        self._update_visibility()

    # ---------------------------------------------------------------- public
    @property
    def options(self) -> PairOptions:
        """The options as currently set in the widget.

        Raises
        ------
        ValueError, TypeError
            From the core's :class:`~napari_imreg.core.Options`, for a value it refuses.
        """
        return PairOptions(
            noise=self._noise.value,
            error_layer=self._error_layer.value,
            error_value=float(self._error_value.value),
            method=self._method.value,
            core=self.option_controls.options(),
            mask_layer=self._mask_layer.value,
            mask_mode=self._mask_mode.value,
            fits_masks=bool(self._fits_masks.value),
            rgb_channel=self._rgb_channel.value,
            output=self._output.value,
            delta_chi2_map=bool(self._show_map.value),
        )

    @property
    def busy(self) -> bool:
        """Whether a registration is running."""
        return self.worker is not None

    def reset_choices(self, *args: Any) -> None:
        """Refresh the layer lists (napari calls it as layers come, go or are renamed); the
        moving layers chosen stay chosen through a rename."""
        with kept_selection(self._moving):
            super().reset_choices(*args)

    def set_layers(self, reference: Image, moving: Sequence[Image]) -> None:
        """Choose the reference and moving layers (what a user does with the dropdowns)."""
        self.reset_choices()
        self._reference.value = reference
        self._moving.value = list(moving)

    def run(self) -> Any:
        """Plan and start the registration in a thread worker; returns the worker or None."""
        if self.busy:
            show_info("A registration is already running.")
            return None
        try:
            self.model.options = self.options
            jobs = self.model.plan(self._reference.value, self._moving.value)
        except (ValueError, TypeError) as exc:
            show_error(str(exc))
            self._plan_label.value = str(exc)
            self._clear_results()
            return None
        notes = [note for job in jobs for note in job.notes]
        self._plan_label.value = "\n".join(dict.fromkeys(notes))
        self._clear_results()
        return start_worker(
            self,
            _run_jobs,
            self.model,
            jobs,
            total=len(jobs),
            desc="Registering",
            yielded=self._on_job_done,
            errored=self._on_error,
            finished=self._on_finished,
        )

    def cancel(self) -> None:
        """Stop after the registration in progress; finished ones are kept."""
        if self.worker is not None:
            self.worker.quit()

    # ---------------------------------------------------------------- callbacks
    def explain(self) -> str:
        """What a run would do with the layers chosen: notes (crops, channels, levels,
        dtypes), or why it would refuse. Shown under the buttons as the choice changes."""
        try:
            self.model.options = self.options
            jobs = self.model.plan(self._reference.value, self._moving.value or [])
        except (ValueError, TypeError) as exc:
            return str(exc)
        notes = [note for job in jobs for note in job.notes]
        return "\n".join(dict.fromkeys(notes))

    def _explain(self, event: Any = None) -> None:
        if not self.busy:
            self._plan_label.value = self.explain()

    def _on_job_done(self, job: PairJob) -> None:
        # Layers compare with ==: napari hands plugins proxies, a new one per access.
        present = list(self.viewer.layers)
        gone = [layer.name for layer in (job.moving, job.reference) if layer not in present]
        if gone:  # removed while it ran: a result for it would bring it back
            show_info(
                f"{' and '.join(map(repr, gone))} left the viewer during the registration: "
                f"the result for {job.moving.name!r} is not added."
            )
            return
        layers = (job.reference, job.moving)
        changed = [
            layer.name
            for layer, data in zip(layers, job.planned_data, strict=True)
            if layer.data is not data
        ]
        if changed:  # the result was measured on the data they had
            show_info(
                f"The data of {' and '.join(map(repr, changed))} changed during the "
                f"registration: the result for {job.moving.name!r} is not added."
            )
            return
        if job.failure is not None:
            show_error(
                f"Could not register {job.moving.name!r} onto {job.reference.name!r}: "
                f"{job.failure}"
            )
        try:
            self.model.apply(job)
        except Exception as exc:  # report any failure, keep going with the next job
            show_error(f"Could not add the result for {job.moving.name!r}: {exc}")
            return
        self.last_jobs.append(job)
        line = format_result(job, viewer_axis_labels(self.viewer, job.moving))
        self._results.value = f"{self._results.value}\n{line}".strip()
        self._show_plot(job)

    def _on_error(self, exc: Exception) -> None:
        show_error(f"Registration failed: {exc}")
        self._plan_label.value = f"Registration failed: {exc}"

    def _on_finished(self) -> None:
        self.worker = None
        self._run_button.enabled = True
        self._cancel_button.enabled = False

    def _on_layers_changed(self, event: Any = None) -> None:
        self.reset_choices()
        self._update_visibility()  # a FITS DQ/MASK layer opened or closed
        if self.busy:
            return
        # Results of layers that are gone no longer describe the viewer.
        present = list(self.viewer.layers)
        if any(
            job.moving not in present or job.reference not in present for job in self.last_jobs
        ):
            self._clear_results()
        if self._reference.value is None or not self._moving.value:
            self._preselect()  # layers opened after the widget was docked

    def _clear_results(self) -> None:
        self.last_jobs = []
        self._results.value = ""
        self.plot.clear()

    def _show_plot(self, job: PairJob) -> None:
        if (
            not self._show_map.value
            or job.failure is not None
            or not job.verdict.moves
            or job.result.delta_chi2 is None
            or job.result.delta_chi2.ndim < 2
        ):
            self.plot.clear()
            return
        plane, coords, shift, covariance = map_plane(job)
        levels = delta_chi2_levels(job.result.delta_chi2.ndim)
        plane_note = "" if job.result.delta_chi2.ndim == 2 else " (plane through the best dz)"
        self.plot.set_map(
            plane, coords, levels, shift, covariance, f"{job.moving.name}{plane_note}"
        )

    def _on_show_map(self, event: Any = None) -> None:
        self.plot.setVisible(bool(self._show_map.value))

    def _on_y_up(self, event: Any = None) -> None:
        camera = _camera(self.viewer)
        camera.orientation2d = ("up" if self._y_up.value else "down", camera.orientation2d[1])

    def _image_choices(self, widget: Any = None) -> list[tuple[str, Image]]:
        return [(layer.name, layer) for layer in _inputs(self.viewer)]

    def _mask_choices(self, widget: Any = None) -> list[tuple[str, Layer | None]]:
        masks = [
            (layer.name, layer)
            for layer in self.viewer.layers
            if isinstance(layer, Labels | Shapes) and not is_output(layer)
        ]
        return [("none", None), *masks]

    def _preselect(self) -> None:
        images = _inputs(self.viewer)
        if len(images) >= 2:
            self._reference.value = images[0]
            self._moving.value = [images[1]]

    def _update_visibility(self, event: Any = None) -> None:
        noise = self._noise.value
        self._error_layer.visible = noise == "error layer"
        self._error_value.visible = noise == "scalar"
        method = self._method.value
        peak = {"dft": PEAK_OPTIONS, "taylor": ("brightness",)}
        self.option_controls.show_only(peak.get(method))
        self._mask_mode.visible = self._mask_layer.value is not None
        self._fits_masks.visible = any(
            fits_mask_layer(self.viewer, layer) is not None for layer in _inputs(self.viewer)
        )
        chosen = [self._reference.value, *(self._moving.value or [])]
        self._rgb_channel.visible = any(isinstance(layer, Image) and layer.rgb for layer in chosen)


def _inputs(viewer: napari.viewer.Viewer) -> list[Image]:
    """The image layers a user may register: not this plugin's outputs."""
    return [layer for layer in viewer.layers if isinstance(layer, Image) and not is_output(layer)]


def _camera(viewer: napari.viewer.Viewer) -> Any:
    """The viewer's camera (``viewer.scene.camera`` since napari 0.9, ``viewer.camera`` before)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


def _y_is_up(viewer: napari.viewer.Viewer) -> bool:
    return str(getattr(_camera(viewer).orientation2d[0], "value", "")) == "up"


def _run_jobs(model: PairRegistration, jobs: list[PairJob]) -> Iterator[PairJob]:
    for job in jobs:
        yield model.run(job)
