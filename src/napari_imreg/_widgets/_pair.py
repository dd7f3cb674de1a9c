"""Widget 1: register image layers (pairs) against a reference.

Two parts, in the napari-animation manner:

* a headless model, :class:`PairRegistration`: options in, :class:`PairJob` objects planned from
  layers (main thread), registered by one core call each (worker thread), and turned into
  layers or a translate (main thread). Scripts and tests can use it without the widget.
* a thin widget, :class:`PairWidget`: magicgui controls that fill the options, a button that
  runs the jobs in a napari thread worker, and a text box with each shift and its 1-sigma error.

Nothing here computes a shift: that is :func:`napari_imreg.core.register` (or the DFT / Taylor
methods of :mod:`napari_imreg.core.crosscorr`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    PushButton,
    Select,
    SpinBox,
    TextEdit,
)
from napari.layers import Image
from napari.utils.colormaps import Colormap
from napari.utils.notifications import show_error, show_info

from napari_imreg._widgets._layers import (
    COMMON_TOOLTIPS,
    MULTISCALE_PIXEL_BUDGET,
    RGB_CHANNELS,
    LayerArray,
    RgbChannel,
    crop_to_common,
    describe,
    layer_array,
    set_tooltips,
)
from napari_imreg._widgets._worker import start_worker
from napari_imreg.core import delta_chi2_levels

if TYPE_CHECKING:
    import napari

Noise = Literal["estimate from data", "error layer", "scalar"]
Method = Literal["chi2", "dft", "taylor"]
Boundary = Literal["overlap", "wrap"]
Output = Literal["shifted copy", "in place (translate)"]

# The dropdowns offer exactly the values of the types above.
NOISE_CHOICES: tuple[str, ...] = get_args(Noise)
METHOD_CHOICES: tuple[str, ...] = get_args(Method)
BOUNDARY_CHOICES: tuple[str, ...] = get_args(Boundary)
OUTPUT_CHOICES: tuple[str, ...] = get_args(Output)

# Colours of the Δχ² map: inside 1σ, 1-2σ, 2-3σ, beyond 3σ.
_SIGMA_COLORS = np.array(
    [
        [1.00, 0.93, 0.35, 1.0],
        [0.96, 0.55, 0.20, 1.0],
        [0.55, 0.20, 0.55, 1.0],
        [0.08, 0.06, 0.18, 1.0],
    ]
)


@dataclass(frozen=True)
class PairOptions:
    """What the pair widget asks: how to register, and what to make of the result."""

    noise: Noise = "estimate from data"
    error_layer: Image | None = None
    error_value: float = 1.0
    method: Method = "chi2"
    upsample_factor: int | Literal["auto"] = "auto"
    boundary: Boundary = "overlap"
    zero_mean: bool = True
    rgb_channel: RgbChannel = "luminance"
    output: Output = "shifted copy"


@dataclass
class PairJob:
    """One moving layer to register onto the reference, with its arrays ready for the core."""

    reference: Image
    moving: Image
    reference_array: LayerArray
    moving_array: LayerArray
    error: np.ndarray | float | None
    notes: list[str] = field(default_factory=list)
    result: Any = None  # the core's RegistrationResult, once run
    shifted: Any = None  # the shifted copy of the moving data, once run (if asked for)

    @property
    def full_shift(self) -> np.ndarray:
        """The shift in full-resolution data pixels, numpy axis order."""
        return np.asarray(self.result.shift, dtype=float) * self.moving_array.factor

    @property
    def full_error(self) -> np.ndarray:
        """The 1-sigma error of :attr:`full_shift` (NaN where the method gave none)."""
        if self.result.error is None:
            return np.full(len(self.result.shift), np.nan)
        return np.asarray(self.result.error, dtype=float) * self.moving_array.factor


class PairRegistration:
    """The headless model behind :class:`PairWidget`.

    Examples
    --------
    In a script, with a viewer holding the sample pair::

        model = PairRegistration(viewer)
        jobs = model.plan(viewer.layers["extended reference"], [viewer.layers["extended moving"]])
        for job in jobs:
            model.run(job)
            model.apply(job)
    """

    def __init__(self, viewer: napari.viewer.Viewer, options: PairOptions | None = None):
        self.viewer = viewer
        self.options = options or PairOptions()
        #: Multiscale layers are registered at their finest level with at most this many pixels.
        self.pixel_budget = MULTISCALE_PIXEL_BUDGET

    # ---------------------------------------------------------------- planning (main thread)
    def plan(self, reference: Image | None, moving: Sequence[Image]) -> list[PairJob]:
        """Check the layers and extract their arrays; one job per moving layer.

        Raises
        ------
        ValueError
            With a message for the user if a pair cannot be registered (no layer chosen, the
            reference among the moving layers, different numbers of axes or pixel sizes, an
            error layer that does not fit).
        """
        if reference is None:
            raise ValueError("Choose a reference image layer.")
        moving = list(moving)
        if not moving:
            raise ValueError("Choose one or more moving image layers to register.")
        if any(layer is reference for layer in moving):
            raise ValueError(
                f"The reference {reference.name!r} is also selected as a moving layer; "
                "unselect it."
            )
        options = self.options
        ref_array = layer_array(
            reference, channel=options.rgb_channel, pixel_budget=self.pixel_budget
        )
        return [self._plan_one(reference, ref_array, layer) for layer in moving]

    def _plan_one(self, reference: Image, ref_array: LayerArray, moving: Image) -> PairJob:
        options = self.options
        mov_array = layer_array(
            moving, channel=options.rgb_channel, pixel_budget=self.pixel_budget
        )
        notes = [*ref_array.notes, *mov_array.notes]
        ref_data, mov_data = ref_array.data, mov_array.data
        if ref_data.ndim != mov_data.ndim:
            raise ValueError(
                f"Cannot register {describe(moving)} onto {describe(reference)}: they have "
                f"{mov_data.ndim} and {ref_data.ndim} axes. Register layers with the same "
                "number of axes (use the stack widget for a time or z axis)."
            )
        if not np.allclose(_spatial_scale(reference), _spatial_scale(moving)):
            raise ValueError(
                f"{reference.name!r} and {moving.name!r} have different pixel sizes (scale "
                f"{tuple(reference.scale)} and {tuple(moving.scale)}); resample one onto the "
                "other's grid first."
            )
        if not np.allclose(ref_array.factor, mov_array.factor):
            raise ValueError(
                f"{reference.name!r} and {moving.name!r} were read at different resolutions "
                f"(multiscale factors {tuple(ref_array.factor)} and {tuple(mov_array.factor)}); "
                "give them matching pyramids or register single-scale layers."
            )
        error = self._error_for(moving, mov_data.shape)
        if ref_data.shape != mov_data.shape:
            arrays = [ref_data, mov_data]
            if isinstance(error, np.ndarray):
                arrays.append(error)
            arrays, shape = crop_to_common(arrays)
            notes.append(
                f"Shapes differ ({tuple(ref_data.shape)} and {tuple(mov_data.shape)}): the "
                f"common region {shape} starting at pixel 0 is registered."
            )
            ref_data, mov_data = arrays[0], arrays[1]
            if isinstance(error, np.ndarray):
                error = arrays[2]
        if ref_data.dtype != mov_data.dtype:
            notes.append(
                f"dtypes differ ({ref_data.dtype} and {mov_data.dtype}): both are registered "
                "as floating point; the layers keep their dtypes."
            )
        return PairJob(
            reference=reference,
            moving=moving,
            reference_array=replace(ref_array, data=ref_data),
            moving_array=replace(mov_array, data=mov_data),
            error=error,
            notes=notes,
        )

    def _error_for(self, moving: Image, shape: tuple[int, ...]) -> np.ndarray | float | None:
        options = self.options
        if options.noise == "estimate from data":
            return None
        if options.noise == "scalar":
            if not options.error_value > 0:
                raise ValueError(
                    f"The noise value must be positive, got {options.error_value}; or choose "
                    "'estimate from data'."
                )
            return float(options.error_value)
        layer = options.error_layer
        if layer is None:
            raise ValueError("Choose the error layer, or another kind of noise.")
        if layer is moving:
            raise ValueError(f"The error layer {layer.name!r} is the moving layer itself.")
        error = _error_array(layer, options.rgb_channel)
        if error.ndim != len(shape) or any(e < s for e, s in zip(error.shape, shape, strict=True)):
            raise ValueError(
                f"The error layer {describe(layer)} does not cover the moving layer "
                f"{describe(moving)}; choose an error map of the same shape."
            )
        return error[tuple(slice(0, n) for n in shape)]

    # ---------------------------------------------------------------- computing (worker)
    def run(self, job: PairJob) -> PairJob:
        """Register one job with the core; fills ``job.result``. Safe off the GUI thread."""
        job.result = register_arrays(
            job.reference_array.data, job.moving_array.data, error=job.error, options=self.options
        )
        if self.options.output == "shifted copy":
            job.shifted = self._shifted_copy(job)
        return job

    def _shifted_copy(self, job: PairJob) -> Any:
        layer = job.moving
        shift = job.full_shift
        boundary = self.options.boundary
        if layer.multiscale:
            full = np.array(_spatial_shape(layer, layer.data[0].shape), dtype=float)
            out = []
            for level in layer.data:
                level_shift = shift * np.array(_spatial_shape(layer, level.shape)) / full
                out.append(_shift_image(np.asarray(level), level_shift, layer.rgb, boundary))
            return out
        return _shift_image(np.asarray(layer.data), shift, layer.rgb, boundary)

    # ---------------------------------------------------------------- results (main thread)
    def apply(self, job: PairJob) -> list[Any]:
        """Add the job's layers to the viewer (or set the translate); return the layers added."""
        reference, moving = job.reference, job.moving
        shift = job.full_shift
        record = registration_record(job, self.options)
        scale = np.asarray(reference.scale[-len(shift) :], dtype=float)
        target = np.asarray(reference.translate[-len(shift) :], dtype=float) + shift * scale
        added: list[Any] = []
        if self.options.output == "in place (translate)":
            moving.translate = _full_vector(moving.translate, target)
            moving.metadata = {**moving.metadata, "registration": record}
        else:
            metadata = _moved_fits_metadata(moving.metadata, shift)
            metadata["registration"] = record
            added.append(
                self.viewer.add_image(
                    job.shifted,
                    name=f"{moving.name} registered",
                    scale=moving.scale,
                    translate=reference.translate,
                    rgb=moving.rgb,
                    multiscale=moving.multiscale,
                    colormap=moving.colormap if not moving.rgb else None,
                    contrast_limits=moving.contrast_limits,
                    blending=moving.blending,
                    metadata=metadata,
                )
            )
        chi2_layer = self._add_delta_chi2(job)
        if chi2_layer is not None:
            added.append(chi2_layer)
        return added

    def _add_delta_chi2(self, job: PairJob) -> Any:
        result = job.result
        if getattr(result, "delta_chi2", None) is None or result.delta_chi2_coords is None:
            return None
        factor = job.moving_array.factor
        coords = [
            np.asarray(c, dtype=float) * f
            for c, f in zip(result.delta_chi2_coords, factor, strict=True)
        ]
        step = [c[1] - c[0] if c.size > 1 else 1.0 for c in coords]
        levels = delta_chi2_levels(len(coords))
        top = levels[-1] * 1.25
        controls = np.concatenate([[0.0], np.asarray(levels) / top, [1.0]])
        colormap = Colormap(
            colors=_SIGMA_COLORS, controls=controls, interpolation="zero", name="delta_chi2_sigma"
        )
        return self.viewer.add_image(
            np.asarray(result.delta_chi2),
            name=f"Δχ² {job.moving.name}",
            scale=step,
            translate=[c[0] for c in coords],
            colormap=colormap,
            contrast_limits=(0.0, top),
            metadata={
                "sigma_levels": levels,
                "units": "shift in pixels (the cursor reads the shift)",
                "registration": registration_record(job, self.options),
            },
        )


def register_arrays(
    reference: np.ndarray,
    moving: np.ndarray,
    *,
    error: np.ndarray | float | None,
    options: PairOptions,
) -> Any:
    """Call the core function for ``options.method`` and return its RegistrationResult."""
    from napari_imreg import core

    if options.method == "chi2":
        return core.register(
            reference,
            moving,
            error=error,
            upsample_factor=options.upsample_factor,
            boundary=options.boundary,
            zero_mean=options.zero_mean,
        )
    from napari_imreg.core import crosscorr

    if options.method == "dft":
        upsample = 10 if options.upsample_factor == "auto" else options.upsample_factor
        return crosscorr.register_dft(
            reference, moving, error=error, upsample_factor=upsample, zero_mean=options.zero_mean
        )
    if options.method == "taylor":
        return crosscorr.register_taylor(
            reference, moving, error=error, zero_mean=options.zero_mean
        )
    raise ValueError(f"method={options.method!r} is not one of {METHOD_CHOICES}.")


def registration_record(job: PairJob, options: PairOptions) -> dict[str, Any]:
    """What a layer's ``metadata["registration"]`` records about a registration."""
    result = job.result
    return {
        "reference": job.reference.name,
        "moving": job.moving.name,
        "shift": tuple(float(v) for v in job.full_shift),
        "error": tuple(float(v) for v in job.full_error),
        "method": options.method,
        "boundary": options.boundary,
        "noise": None if result.noise is None else float(result.noise),
        "filter_strength": result.filter_strength,
        "upsample_factor": result.upsample_factor,
        "multiscale_level": job.moving_array.level,
        "output": options.output,
    }


def format_result(job: PairJob) -> str:
    """One line per axis: the shift and its 1-sigma error, in pixels."""
    axes = _axis_names(len(job.full_shift))
    parts = [
        f"d{name} = {value:+.4f} ± {err:.4f}"
        if not np.isnan(err)
        else f"d{name} = {value:+.4f} (no error)"
        for name, value, err in zip(axes, job.full_shift, job.full_error, strict=True)
    ]
    noise = job.result.noise
    tail = f" (noise σ ≈ {noise:.3g}, estimated)" if noise is not None else ""
    return f"{job.moving.name} → {job.reference.name}: " + ", ".join(parts) + f" px{tail}"


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
        self._auto_upsample = CheckBox(text="auto upsample", value=True)
        self._upsample = SpinBox(label="upsample factor", value=20, min=1, max=1000)
        self._boundary = ComboBox(label="boundary", choices=BOUNDARY_CHOICES, value="overlap")
        self._zero_mean = CheckBox(text="zero mean", value=True)
        self._rgb_channel = ComboBox(label="RGB channel", choices=RGB_CHANNELS, value="luminance")
        self._output = ComboBox(label="output", choices=OUTPUT_CHOICES, value="shifted copy")
        self._run_button = PushButton(text="Register")
        self._cancel_button = PushButton(text="Cancel", enabled=False)
        self._plan_label = Label(value="")
        self._plan_label.native.setWordWrap(True)
        self._results = TextEdit(label="shifts", value="")
        self._results.read_only = True
        set_tooltips(self, {**COMMON_TOOLTIPS, **_TOOLTIPS})

        self.extend(
            [
                self._reference,
                self._moving,
                self._noise,
                self._error_layer,
                self._error_value,
                self._method,
                self._auto_upsample,
                self._upsample,
                self._boundary,
                self._zero_mean,
                self._rgb_channel,
                self._output,
                self._run_button,
                self._cancel_button,
                self._plan_label,
                self._results,
            ]
        )
        for widget in (self._noise, self._method, self._auto_upsample, self._reference):
            widget.changed.connect(self._update_visibility)
        self._moving.changed.connect(self._update_visibility)
        for widget in (self._reference, self._moving, self._noise, self._error_layer):
            widget.changed.connect(self._explain)
        self._run_button.changed.connect(self.run)
        self._cancel_button.changed.connect(self.cancel)
        for event in ("inserted", "removed", "moved", "changed"):
            getattr(viewer.layers.events, event).connect(self._on_layers_changed)
        self._preselect()
        self._update_visibility()

    # ---------------------------------------------------------------- public
    @property
    def options(self) -> PairOptions:
        """The options as currently set in the widget."""
        upsample: int | str = "auto" if self._auto_upsample.value else int(self._upsample.value)
        return PairOptions(
            noise=self._noise.value,
            error_layer=self._error_layer.value,
            error_value=float(self._error_value.value),
            method=self._method.value,
            upsample_factor=upsample,
            boundary=self._boundary.value,
            zero_mean=bool(self._zero_mean.value),
            rgb_channel=self._rgb_channel.value,
            output=self._output.value,
        )

    @property
    def busy(self) -> bool:
        """Whether a registration is running."""
        return self.worker is not None

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
        self.model.options = self.options
        try:
            jobs = self.model.plan(self._reference.value, self._moving.value)
        except (ValueError, TypeError) as exc:
            show_error(str(exc))
            self._plan_label.value = str(exc)
            return None
        notes = [note for job in jobs for note in job.notes]
        self._plan_label.value = "\n".join(dict.fromkeys(notes))
        self.last_jobs = []
        self._results.value = ""
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
        self.model.options = self.options
        try:
            jobs = self.model.plan(self._reference.value, self._moving.value or [])
        except (ValueError, TypeError) as exc:
            return str(exc)
        notes = [note for job in jobs for note in job.notes]
        return "\n".join(dict.fromkeys(notes))

    def _explain(self, event: Any = None) -> None:
        if not self.busy:
            self._plan_label.value = self.explain()

    def _on_job_done(self, job: PairJob) -> None:
        try:
            self.model.apply(job)
        except Exception as exc:  # a layer removed meanwhile, etc.: report, keep going
            show_error(f"Could not add the result for {job.moving.name!r}: {exc}")
            return
        self.last_jobs.append(job)
        line = format_result(job)
        self._results.value = f"{self._results.value}\n{line}".strip()

    def _on_error(self, exc: Exception) -> None:
        show_error(f"Registration failed: {exc}")
        self._plan_label.value = f"Registration failed: {exc}"

    def _on_finished(self) -> None:
        self.worker = None
        self._run_button.enabled = True
        self._cancel_button.enabled = False

    def _on_layers_changed(self, event: Any = None) -> None:
        self.reset_choices()

    def _image_choices(self, widget: Any = None) -> list[tuple[str, Image]]:
        return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, Image)]

    def _preselect(self) -> None:
        images = [layer for layer in self.viewer.layers if isinstance(layer, Image)]
        if len(images) >= 2:
            self._reference.value = images[0]
            self._moving.value = [images[1]]

    def _update_visibility(self, event: Any = None) -> None:
        noise = self._noise.value
        self._error_layer.visible = noise == "error layer"
        self._error_value.visible = noise == "scalar"
        self._upsample.visible = not self._auto_upsample.value and self._method.value != "taylor"
        self._auto_upsample.visible = self._method.value != "taylor"
        chosen = [self._reference.value, *(self._moving.value or [])]
        self._rgb_channel.visible = any(isinstance(layer, Image) and layer.rgb for layer in chosen)


def _run_jobs(model: PairRegistration, jobs: list[PairJob]) -> Iterator[PairJob]:
    for job in jobs:
        yield model.run(job)


def _error_array(layer: Image, channel: RgbChannel) -> np.ndarray:
    from napari_imreg.core.fits_io import error_from_uncertainty

    array = layer_array(layer, channel=channel).data
    kind = layer.metadata.get("fits_kind", "error")
    if kind in ("variance", "inverse_variance"):
        return error_from_uncertainty(array, kind)
    return np.asarray(array)


def _shift_image(data: np.ndarray, shift: np.ndarray, rgb: bool, boundary: str) -> np.ndarray:
    from napari_imreg.core import apply_shift

    if rgb:  # every channel (alpha too) moves the same way
        channels = [
            apply_shift(data[..., c], shift, boundary=boundary) for c in range(data.shape[-1])
        ]
        return np.stack(channels, axis=-1)
    return apply_shift(data, shift, boundary=boundary)


def _moved_fits_metadata(metadata: dict[str, Any], shift: np.ndarray) -> dict[str, Any]:
    """The FITS entries of a layer's metadata, for a copy whose content moved by ``shift``."""
    from napari_imreg.core.fits_io import header_for_shifted_data, wcs_from_header

    out = {key: value for key, value in metadata.items() if key.startswith("fits_")}
    header = out.get("fits_header")
    if header is not None and hasattr(header, "copy"):
        out["fits_header"] = header_for_shifted_data(header, shift)
        out["fits_wcs"] = wcs_from_header(out["fits_header"])
    return out


def _spatial_scale(layer: Image) -> np.ndarray:
    return np.asarray(layer.scale, dtype=float)


def _spatial_shape(layer: Image, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(shape[:-1]) if layer.rgb else tuple(shape)


def _full_vector(current: Sequence[float], tail: np.ndarray) -> np.ndarray:
    out = np.asarray(current, dtype=float).copy()
    out[-len(tail) :] = tail
    return out


def _axis_names(ndim: int) -> list[str]:
    names = ["x", "y", "z"]
    return [names[ndim - 1 - i] if ndim - 1 - i < 3 else f"axis{i}" for i in range(ndim)]
