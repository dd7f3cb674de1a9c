"""Widget 2: register the frames of a stack (time-lapse or z-drift) and apply the drift.

As for the pair widget, a headless model (:class:`StackRegistration`, usable from scripts) and a
thin widget (:class:`StackWidget`). The model plans a :class:`StackJob` from a layer, yields one
frame's registration at a time (the core does the work; the widget runs this generator in a
napari thread worker, so the viewer stays responsive, the progress bar moves and Cancel stops
after the current frame), and turns the shifts into registered copies of the stack and of any
other layers with the same frames (channels, labels). Shifts save to and load from CSV.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    ProgressBar,
    PushButton,
    Select,
    SpinBox,
)
from napari.layers import Image, Labels, Layer
from napari.utils.notifications import show_error, show_info

from napari_imreg._shift_table import load_shifts_csv, save_shifts_csv
from napari_imreg._widgets._layers import (
    COMMON_TOOLTIPS,
    RGB_CHANNELS,
    RgbChannel,
    rgb_to_channel,
    set_tooltips,
)
from napari_imreg._widgets._worker import start_worker

if TYPE_CHECKING:
    import napari

Reference = Literal["first frame", "frame index", "mean", "previous frame"]
StackNoise = Literal["estimate from data", "scalar"]
Boundary = Literal["overlap", "wrap"]
# The dropdowns offer exactly the values of the types above.
REFERENCE_CHOICES: tuple[str, ...] = get_args(Reference)
NOISE_CHOICES: tuple[str, ...] = get_args(StackNoise)
BOUNDARY_CHOICES: tuple[str, ...] = get_args(Boundary)
# How the model's reference choice is spelled for the core's iter_register_stack.
_CORE_REFERENCE = {"first frame": 0, "mean": "mean", "previous frame": "previous"}


@dataclass(frozen=True)
class StackOptions:
    """What the stack widget asks."""

    axis: int = 0
    reference: Reference = "first frame"
    reference_index: int = 0
    noise: StackNoise = "estimate from data"
    error_value: float = 1.0
    upsample_factor: int | Literal["auto"] = "auto"
    boundary: Boundary = "overlap"
    zero_mean: bool = True
    rgb_channel: RgbChannel = "luminance"


@dataclass
class StackJob:
    """A stack to register, and the frames registered so far."""

    layer: Image
    stack: np.ndarray
    axis: int
    shifts: list[np.ndarray] = field(default_factory=list)
    errors: list[np.ndarray] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        return int(self.stack.shape[self.axis])

    @property
    def done(self) -> int:
        """Number of frames registered (the first ``done`` frames)."""
        return len(self.shifts)


@dataclass(frozen=True)
class FrameResult:
    """One frame's registration: its index, shift and 1-sigma error (numpy axis order)."""

    index: int
    shift: np.ndarray
    error: np.ndarray


class StackRegistration:
    """The headless model behind :class:`StackWidget`.

    Examples
    --------
    With a viewer holding the drifting time-lapse sample::

        model = StackRegistration(viewer)
        job = model.plan(viewer.layers["drifting stack"])
        for frame in model.frames(job):
            pass  # job.shifts fills up, one frame at a time
        model.apply(job.layer, np.array(job.shifts))
    """

    def __init__(self, viewer: napari.viewer.Viewer, options: StackOptions | None = None):
        self.viewer = viewer
        self.options = options or StackOptions()

    def plan(self, layer: Image | None) -> StackJob:
        """Check the layer and take its array (the chosen colour channel of an RGB layer).

        Raises
        ------
        ValueError
            If no layer is chosen, it has fewer than 3 axes, the axis does not exist or the
            reference frame index is outside the stack.
        """
        if layer is None:
            raise ValueError("Choose an image layer with a time or z axis.")
        if layer.multiscale:
            raise ValueError(
                f"{layer.name!r} is multiscale; stack registration needs a single-scale layer."
            )
        options = self.options
        stack = np.asarray(layer.data)
        if layer.rgb:
            stack = rgb_to_channel(stack, options.rgb_channel)
        if stack.ndim < 3:
            raise ValueError(
                f"{layer.name!r} has shape {stack.shape}: a stack needs a frame axis and at "
                "least two image axes. Use the pair widget for single images."
            )
        if not -stack.ndim <= options.axis < stack.ndim:
            raise ValueError(
                f"axis={options.axis} does not exist in {layer.name!r} (shape {stack.shape})."
            )
        axis = options.axis % stack.ndim
        n_frames = stack.shape[axis]
        if options.reference == "frame index" and not 0 <= options.reference_index < n_frames:
            raise ValueError(
                f"The reference frame {options.reference_index} is outside the stack "
                f"({n_frames} frames along axis {axis}); choose 0 to {n_frames - 1}."
            )
        if options.noise == "scalar" and not options.error_value > 0:
            raise ValueError(f"The noise value must be positive, got {options.error_value}.")
        return StackJob(layer=layer, stack=stack, axis=axis)

    def frames(self, job: StackJob) -> Iterator[FrameResult]:
        """Register the frames in order, yielding each as it is done (fills ``job``)."""
        options = self.options
        reference = _CORE_REFERENCE.get(options.reference, options.reference_index)
        error = options.error_value if options.noise == "scalar" else None
        for index, result in _core_frames(
            job.stack,
            axis=job.axis,
            reference=reference,
            error=error,
            upsample_factor=options.upsample_factor,
            boundary=options.boundary,
            zero_mean=options.zero_mean,
        ):
            frame = FrameResult(
                index=int(index),
                shift=np.asarray(result.shift, dtype=float),
                error=np.asarray(result.error, dtype=float),
            )
            job.shifts.append(frame.shift)
            job.errors.append(frame.error)
            yield frame

    def shifted_layer_data(
        self, layer: Layer, shifts: np.ndarray, *, axis: int | None = None
    ) -> tuple[np.ndarray, dict[str, Any], str]:
        """The registered copy of ``layer`` as napari layer data (the first ``len(shifts)``
        frames; labels are moved by whole nearest pixels so that they stay labels)."""
        axis = self.options.axis if axis is None else axis
        data = np.asarray(layer.data)
        shifts = np.asarray(shifts, dtype=float)
        n = shifts.shape[0]
        if data.shape[axis] < n:
            raise ValueError(
                f"{layer.name!r} has {data.shape[axis]} frames along axis {axis}, fewer than "
                f"the {n} shifts; choose a layer with the same frames."
            )
        frames = np.take(data, np.arange(n), axis=axis)
        is_labels = isinstance(layer, Labels)
        rgb = bool(getattr(layer, "rgb", False))
        order = 0 if is_labels else 3
        if rgb:
            channels = [
                _apply_shifts(
                    frames[..., c], shifts, axis=axis, boundary=self.options.boundary, order=3
                )
                for c in range(frames.shape[-1])
            ]
            moved = np.stack(channels, axis=-1)
        else:
            moved = _apply_shifts(
                frames,
                shifts,
                axis=axis,
                boundary="overlap" if is_labels else self.options.boundary,
                order=order,
            )
        if is_labels:
            moved = moved.astype(data.dtype)
        kwargs: dict[str, Any] = {
            "name": f"{layer.name} registered",
            "scale": layer.scale,
            "translate": layer.translate,
            "metadata": {"stack_registration": {"shifts": shifts, "axis": axis}},
        }
        if not is_labels:
            kwargs.update(
                colormap=layer.colormap if not rgb else None,
                contrast_limits=layer.contrast_limits,
                blending=layer.blending,
                rgb=rgb,
            )
        return moved, kwargs, "labels" if is_labels else "image"

    def apply(self, layers: Sequence[Layer], shifts: np.ndarray) -> list[Layer]:
        """Add registered copies of ``layers`` to the viewer; the layers are not modified."""
        added = []
        for layer in layers:
            data, kwargs, kind = self.shifted_layer_data(layer, shifts)
            add = self.viewer.add_labels if kind == "labels" else self.viewer.add_image
            added.append(add(data, **kwargs))
        return added


_TOOLTIPS = {
    "_layer": "An image layer with a time or z axis (3 or more axes).",
    "_axis": "The axis along which the frames are stacked.",
    "_reference": "What each frame is registered onto: the first frame, a chosen frame, the "
    "mean of all frames, or the previous frame (the drift then accumulates from frame 0).",
    "_reference_index": "The reference frame's index along the frame axis.",
    "_apply_to": "Other layers with the same frames (channels, labels) to move the same way.",
    "_cancel_button": "Stop after the frame being registered; the frames done are kept.",
    "_save_button": "Write the shifts and errors, one row per frame, to a CSV file.",
    "_load_button": "Read shifts from a CSV file written by this widget.",
    "_apply_button": "Add registered copies of the stack and the 'apply to' layers.",
}


class StackWidget(Container):
    """Dock widget: register a stack along a time or z axis and apply the drift to layers."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self.viewer = viewer
        self.model = StackRegistration(viewer)
        self.worker = None
        self.job: StackJob | None = None
        self.shifts: np.ndarray | None = None
        self.errors: np.ndarray | None = None
        #: The layers added by the last "apply shifts".
        self.last_added: list[Layer] = []

        self._layer = ComboBox(label="stack", choices=self._image_choices)
        self._axis = ComboBox(label="frame axis", choices=self._axis_choices)
        self._reference = ComboBox(
            label="reference", choices=REFERENCE_CHOICES, value="first frame"
        )
        self._reference_index = SpinBox(label="frame index", value=0, min=0, max=1_000_000)
        self._noise = ComboBox(label="noise", choices=NOISE_CHOICES, value=NOISE_CHOICES[0])
        self._error_value = FloatSpinBox(label="noise σ", value=1.0, min=1e-9, max=1e9, step=0.01)
        self._auto_upsample = CheckBox(text="auto upsample", value=True)
        self._upsample = SpinBox(label="upsample factor", value=20, min=1, max=1000)
        self._boundary = ComboBox(label="boundary", choices=BOUNDARY_CHOICES, value="overlap")
        self._zero_mean = CheckBox(text="zero mean", value=True)
        self._rgb_channel = ComboBox(label="RGB channel", choices=RGB_CHANNELS, value="luminance")
        self._apply_to = Select(label="apply to", choices=self._other_choices)
        self._run_button = PushButton(text="Register stack")
        self._cancel_button = PushButton(text="Cancel", enabled=False)
        self._progress = ProgressBar(label="progress", value=0, min=0, max=1)
        self._status = Label(value="")
        self._save_button = PushButton(text="Save shifts (CSV)…", enabled=False)
        self._load_button = PushButton(text="Load shifts (CSV)…")
        self._apply_button = PushButton(text="Apply shifts", enabled=False)
        self.extend(
            [
                self._layer,
                self._axis,
                self._reference,
                self._reference_index,
                self._noise,
                self._error_value,
                self._auto_upsample,
                self._upsample,
                self._boundary,
                self._zero_mean,
                self._rgb_channel,
                self._apply_to,
                self._run_button,
                self._cancel_button,
                self._progress,
                self._status,
                self._save_button,
                self._load_button,
                self._apply_button,
            ]
        )
        set_tooltips(self, {**COMMON_TOOLTIPS, **_TOOLTIPS})
        self._figure, self._canvas = _make_plot()
        if self._canvas is not None:
            self.native.layout().addWidget(self._canvas)

        self._layer.changed.connect(self._on_layer_changed)
        for widget in (self._reference, self._noise, self._auto_upsample):
            widget.changed.connect(self._update_visibility)
        self._run_button.changed.connect(self.run)
        self._cancel_button.changed.connect(self.cancel)
        self._save_button.changed.connect(self._ask_save)
        self._load_button.changed.connect(self._ask_load)
        self._apply_button.changed.connect(self.apply_shifts)
        for event in ("inserted", "removed", "moved", "changed"):
            getattr(viewer.layers.events, event).connect(self._on_layers_changed)
        self._preselect()
        self._update_visibility()

    # ---------------------------------------------------------------- public
    @property
    def options(self) -> StackOptions:
        """The options as currently set in the widget."""
        upsample: int | str = "auto" if self._auto_upsample.value else int(self._upsample.value)
        return StackOptions(
            axis=int(self._axis.value or 0),
            reference=self._reference.value,
            reference_index=int(self._reference_index.value),
            noise=self._noise.value,
            error_value=float(self._error_value.value),
            upsample_factor=upsample,
            boundary=self._boundary.value,
            zero_mean=bool(self._zero_mean.value),
            rgb_channel=self._rgb_channel.value,
        )

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def set_layer(self, layer: Image, *, apply_to: Sequence[Layer] = ()) -> None:
        """Choose the stack layer and the layers to apply its drift to."""
        self.reset_choices()
        self._layer.value = layer
        self._apply_to.value = list(apply_to)

    def run(self) -> Any:
        """Start registering the stack in a thread worker; returns the worker (or None)."""
        if self.busy:
            show_info("A stack registration is already running.")
            return None
        self.model.options = self.options
        try:
            job = self.model.plan(self._layer.value)
        except (ValueError, TypeError) as exc:
            show_error(str(exc))
            self._status.value = str(exc)
            return None
        self.job = job
        self.shifts = self.errors = None
        self._progress.max = job.n_frames
        self._progress.value = 0
        self._status.value = f"Registering {job.n_frames} frames…"
        return start_worker(
            self,
            _iterate,
            self.model,
            job,
            total=job.n_frames,
            desc=f"Registering {job.layer.name}",
            yielded=self._on_frame,
            errored=self._on_error,
            finished=self._on_finished,
        )

    def cancel(self) -> None:
        """Stop after the frame being registered; the frames done are kept and applied."""
        if self.worker is not None:
            self.worker.quit()

    def apply_shifts(self, event: Any = None) -> Any:
        """Add registered copies of the stack and the 'apply to' layers, with the shifts held
        (measured or loaded). The frames are resampled in a thread worker; the copies appear
        in the viewer (and in :attr:`last_added`) as each layer is done. Returns the worker,
        or None if there is nothing to apply."""
        if self.shifts is None or not len(self.shifts):
            show_info("No shifts yet: register the stack or load shifts from a CSV file.")
            return None
        if self.busy:
            show_info("Wait for the running registration to finish, or cancel it.")
            return None
        self.model.options = self.options
        targets = [self._layer.value, *(self._apply_to.value or [])]
        targets = [layer for layer in dict.fromkeys(targets) if layer is not None]
        self.last_added = []
        worker = start_worker(
            self,
            _shifted_layers,
            self.model,
            targets,
            np.array(self.shifts),
            total=len(targets),
            desc="Applying shifts",
            yielded=self._add_layer,
            errored=self._on_apply_error,
            finished=self._on_apply_finished,
        )
        self._apply_button.enabled = False
        return worker

    def save_csv(self, path: str | os.PathLike) -> Path | None:
        """Save the shifts held to a CSV file."""
        if self.shifts is None:
            show_info("No shifts to save yet.")
            return None
        return save_shifts_csv(path, self.shifts, self.errors)

    def load_csv(self, path: str | os.PathLike) -> bool:
        """Load shifts from a CSV file (then "Apply shifts" re-applies them)."""
        try:
            shifts, errors = load_shifts_csv(path)
        except (OSError, ValueError) as exc:
            show_error(f"Could not load shifts: {exc}")
            return False
        self.shifts, self.errors = shifts, errors
        self._apply_button.enabled = self._save_button.enabled = True
        self._status.value = f"Loaded {len(shifts)} shifts from {Path(path).name}."
        self._plot()
        return True

    # ---------------------------------------------------------------- callbacks
    def _on_frame(self, frame: FrameResult) -> None:
        self._progress.value = min(self._progress.value + 1, self._progress.max)
        if self.job is not None:
            self.shifts = np.array(self.job.shifts)
            self.errors = np.array(self.job.errors)
        if frame.index % 4 == 0 or self.job is None or self.job.done == self.job.n_frames:
            self._plot()

    def _on_error(self, exc: Exception) -> None:
        show_error(f"Stack registration failed: {exc}")
        self._status.value = f"Stack registration failed: {exc}"

    def _on_finished(self) -> None:
        job = self.job
        self.worker = None
        self._run_button.enabled = True
        self._cancel_button.enabled = False
        if job is None or not job.done:
            return
        self.shifts, self.errors = np.array(job.shifts), np.array(job.errors)
        self._plot()
        complete = job.done == job.n_frames
        self._status.value = (
            f"Registered {job.done} frames."
            if complete
            else f"Cancelled: kept the {job.done} of {job.n_frames} frames registered."
        )
        self._save_button.enabled = self._apply_button.enabled = True
        self.apply_shifts()

    def _add_layer(self, layer_data: tuple[np.ndarray, dict[str, Any], str]) -> None:
        data, kwargs, kind = layer_data
        add = self.viewer.add_labels if kind == "labels" else self.viewer.add_image
        self.last_added.append(add(data, **kwargs))

    def _on_apply_error(self, exc: Exception) -> None:
        show_error(f"Could not apply the shifts: {exc}")

    def _on_apply_finished(self) -> None:
        self.worker = None
        self._run_button.enabled = self._apply_button.enabled = True
        self._cancel_button.enabled = False

    def _on_layers_changed(self, event: Any = None) -> None:
        self.reset_choices()

    def _on_layer_changed(self, event: Any = None) -> None:
        self._axis.reset_choices()
        self._apply_to.reset_choices()
        self._update_visibility()

    def _image_choices(self, widget: Any = None) -> list[tuple[str, Image]]:
        return [
            (layer.name, layer)
            for layer in self.viewer.layers
            if isinstance(layer, Image) and layer.ndim >= 3 and not layer.multiscale
        ]

    def _axis_choices(self, widget: Any = None) -> list[tuple[str, int]]:
        layer = self._layer.value if hasattr(self, "_layer") else None
        if layer is None:
            return [("0", 0)]
        labels = list(self.viewer.dims.axis_labels)[-layer.ndim :]
        return [(_axis_title(axis, label), axis) for axis, label in enumerate(labels)]

    def _other_choices(self, widget: Any = None) -> list[tuple[str, Layer]]:
        chosen = self._layer.value if hasattr(self, "_layer") else None
        return [
            (layer.name, layer)
            for layer in self.viewer.layers
            if isinstance(layer, Image | Labels) and layer is not chosen and layer.ndim >= 3
        ]

    def _preselect(self) -> None:
        choices = self._image_choices()
        if choices:
            self._layer.value = choices[0][1]

    def _update_visibility(self, event: Any = None) -> None:
        self._reference_index.visible = self._reference.value == "frame index"
        self._error_value.visible = self._noise.value == "scalar"
        self._upsample.visible = not self._auto_upsample.value
        layer = self._layer.value
        self._rgb_channel.visible = bool(layer is not None and layer.rgb)

    def _plot(self) -> None:
        if self._figure is None or self.shifts is None:
            return
        _draw_shifts(self._figure, self.shifts, self.errors)
        self._canvas.draw_idle()

    def _ask_save(self, event: Any = None) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(
            self.native, "Save shifts", "shifts.csv", "CSV (*.csv)"
        )
        if path:
            self.save_csv(path)

    def _ask_load(self, event: Any = None) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self.native, "Load shifts", "", "CSV (*.csv)")
        if path:
            self.load_csv(path)


def _axis_title(axis: int, label: str) -> str:
    """``"axis 0"``, with the viewer's axis label when it is a name (not a default number)."""
    name = str(label)
    if not name or name.lstrip("-").isdigit():
        return f"axis {axis}"
    return f"axis {axis} ({name})"


def _iterate(model: StackRegistration, job: StackJob) -> Iterator[FrameResult]:
    yield from model.frames(job)


def _shifted_layers(
    model: StackRegistration, layers: Sequence[Layer], shifts: np.ndarray
) -> Iterator[tuple[np.ndarray, dict[str, Any], str]]:
    for layer in layers:
        yield model.shifted_layer_data(layer, shifts)


def _core_frames(stack: np.ndarray, **options: Any) -> Iterator[tuple[int, Any]]:
    """``(index, RegistrationResult)`` per frame, in frame order, from the core."""
    from napari_imreg.core import iter_register_stack

    yield from iter_register_stack(stack, **options)


def _apply_shifts(
    frames: np.ndarray, shifts: np.ndarray, *, axis: int, boundary: str, order: int
) -> np.ndarray:
    """Each frame moved by its shift (the core's :func:`~napari_imreg.core.apply_shifts`)."""
    from napari_imreg.core import apply_shifts

    return np.asarray(apply_shifts(frames, shifts, axis=axis, boundary=boundary, order=order))


def _make_plot() -> tuple[Any, Any]:
    """A small matplotlib canvas for shift against frame, or (None, None) without matplotlib."""
    try:
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - matplotlib is in the napari extra
        return None, None
    figure = Figure(figsize=(4, 2.4), tight_layout=True)
    canvas = FigureCanvasQTAgg(figure)
    canvas.setMinimumHeight(180)
    return figure, canvas


def _draw_shifts(figure: Any, shifts: np.ndarray, errors: np.ndarray | None) -> None:
    figure.clear()
    axes = figure.add_subplot(1, 1, 1)
    frames = np.arange(len(shifts))
    names = ["x", "y", "z"]
    ndim = shifts.shape[1]
    for i in range(ndim):
        name = names[ndim - 1 - i] if ndim - 1 - i < 3 else f"axis {i}"
        error = None if errors is None else np.nan_to_num(errors[:, i], nan=0.0, posinf=0.0)
        axes.errorbar(
            frames, shifts[:, i], yerr=error, marker="o", ms=3, capsize=2, label=f"d{name}"
        )
    axes.set_xlabel("frame")
    axes.set_ylabel("shift [pixels]")
    axes.legend(loc="best", fontsize="small")
    axes.grid(alpha=0.3)
