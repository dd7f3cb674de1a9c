"""Widget 2: register the frames of a stack (time-lapse or z-drift) and apply the drift.

As for the pair widget, a headless model (:class:`StackRegistration`, usable from scripts, in
:mod:`._stack_model`) and a thin widget (:class:`StackWidget`, whose actions on the shifts it
holds, apply and CSV save/load, are in :mod:`._stack_shifts`). The model plans a :class:`StackJob`
from a layer and yields the frames' registrations in batches (the core does the work; the widget
runs this generator in a napari thread worker, so the viewer stays responsive, the progress bar
moves and Cancel stops after the current batch), and turns the shifts into registered copies of the
stack and of any other layers with the same frames (channels, labels). Shifts save to and load from
CSV.

Speed: the frames are registered by the core's :func:`iter_register_stack` in worker
processes that the model keeps (:class:`~napari_imreg.core.StackWorkers`), a few frames per
chunk, so both cores are busy as in the headless :func:`register_stack`, which forks its workers.
This process runs Qt and must not be forked: the workers come from a fork server started as a
fresh interpreter, on the first stack, and end when the widget closes. In threads of this
process the frames share the interpreter lock, and the widget ran at about half the headless
speed. The widget redraws its plot at most every :data:`UPDATE_SECONDS` (a frame at a time, with
the plot redrawn every few frames, it ran at a quarter of the headless speed). Dask- and
zarr-backed layers stay lazy: each chunk reads only its frames, and the registered copies are
lazy layers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

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
from napari.layers import Image, Labels, Layer, Shapes
from napari.utils.notifications import show_error, show_info, show_warning

from napari_imreg._shift_table import axis_names, is_axis_name

# The CSV functions, importable from here as before the shifts-held actions moved out.
from napari_imreg._shift_table import load_shifts_csv as load_shifts_csv
from napari_imreg._shift_table import save_shifts_csv as save_shifts_csv
from napari_imreg._widgets._layers import (
    COMMON_TOOLTIPS,
    fits_mask_layer,
    is_output,
    kept_selection,
    set_tooltips,
    viewer_axis_labels,
)
from napari_imreg._widgets._options import add_common_controls
from napari_imreg._widgets._plot import ShiftPlot
from napari_imreg._widgets._stack_model import (
    NOISE_CHOICES,
    REFERENCE_CHOICES,
    UPDATE_SECONDS,
    FrameResult,
    StackJob,
    StackOptions,
    StackRegistration,
    forward_batches,
    in_layer_axes,
)
from napari_imreg._widgets._stack_shifts import HeldShifts
from napari_imreg._widgets._worker import start_worker

if TYPE_CHECKING:
    import napari


_TOOLTIPS = {
    "_layer": "An image layer with a time or z axis (3 or more axes).",
    "_axis": "The axis along which the frames are stacked.",
    "_reference": "What each frame is registered onto: the first frame, a chosen frame, the "
    "mean of all frames, or the previous frame (the drift then accumulates from frame 0).",
    "_reference_index": "The reference frame's index along the frame axis.",
    "_mask_layer": "A labels layer (non-zero pixels) or a shapes layer (inside the shapes) "
    "marking pixels: of one frame's grid (used for every frame) or of the stack's grid (a "
    "mask per frame), read as 'mask means' says.",
    "_mask_mode": "mask: the marked pixels are ignored; region of interest: only the marked "
    "pixels are used.",
    "_fits_masks": "Ignore the pixels flagged (non-zero) in the stack's FITS DQ or MASK "
    "extension, opened as a labels layer beside it.",
    "_apply_to": "Other layers with the same frames (channels, labels) to move the same way.",
    "_cancel_button": "Stop after the batch of frames being registered; the frames done are "
    "kept, and 'Apply shifts' adds a copy of those frames only, marked partial.",
    "_apply_when_done": "Add the registered copies as soon as the whole stack is registered "
    "(after a cancel, only on 'Apply shifts').",
    "_save_button": "Write the shifts and errors, one row per frame, to a CSV file.",
    "_load_button": "Read shifts from a CSV file written by this widget.",
    "_apply_button": "Add registered copies of the stack and the 'apply to' layers.",
}


class StackWidget(HeldShifts, Container):
    """Dock widget: register a stack along a time or z axis and apply the drift to layers."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self.viewer = viewer
        self.model = StackRegistration(viewer)
        self.worker = None
        self.job: StackJob | None = None
        self.shifts: np.ndarray | None = None
        self.errors: np.ndarray | None = None
        #: The frames of the shifts held that the core flagged (not a single measurement).
        self.flagged: list[int] = []
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
        add_common_controls(self, self._mask_choices)
        self._apply_to = Select(label="apply to", choices=self._other_choices)
        self._apply_when_done = CheckBox(text="apply shifts when done", value=True)
        self._run_button = PushButton(text="Register stack")
        self._cancel_button = PushButton(text="Cancel", enabled=False)
        self._progress = ProgressBar(label="progress", value=0, min=0, max=1)
        self._status = Label(value="")
        self._status.native.setWordWrap(True)
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
                self._mask_layer,
                self._mask_mode,
                self._fits_masks,
                *self.option_controls.widgets,
                self._rgb_channel,
                self._apply_to,
                self._apply_when_done,
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
        self.plot = ShiftPlot()
        self.native.layout().addWidget(self.plot)
        self._last_update = 0.0
        self._batches: Iterator[list[FrameResult]] = iter(())
        workers = self.model.workers
        self.native.destroyed.connect(lambda *_: workers.close())

        self._layer.changed.connect(self._on_layer_changed)
        for widget in (self._reference, self._noise, self._mask_layer):
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
        """The options as currently set in the widget.

        Raises
        ------
        ValueError, TypeError
            From the core's :class:`~napari_imreg.core.Options`, for a value it refuses.
        """
        return StackOptions(
            axis=int(self._axis.value or 0),
            reference=self._reference.value,
            reference_index=int(self._reference_index.value),
            noise=self._noise.value,
            error_value=float(self._error_value.value),
            core=self.option_controls.options(),
            mask_layer=self._mask_layer.value,
            mask_mode=self._mask_mode.value,
            fits_masks=bool(self._fits_masks.value),
            rgb_channel=self._rgb_channel.value,
        )

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def reset_choices(self, *args: Any) -> None:
        """Refresh the layer lists (napari calls it as layers come, go or are renamed); the
        layers chosen to apply the drift to stay chosen through a rename."""
        with kept_selection(self._apply_to):
            super().reset_choices(*args)

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
        try:
            self.model.options = self.options
            job = self.model.plan(self._layer.value)
        except (ValueError, TypeError) as exc:
            show_error(str(exc))
            self._status.value = str(exc)
            return None
        self.job = job
        self.shifts = self.errors = None
        self.flagged = []
        self._progress.max = job.n_frames
        self._progress.value = 0
        for note in job.notes:
            show_info(note)
        self._status.value = f"Registering {job.n_frames} frames…"
        self._apply_button.enabled = self._save_button.enabled = False
        self.plot.set_data(None, None, job.n_frames)
        self._batches = self.model.batches(job)
        return start_worker(
            self,
            forward_batches,
            self._batches,
            total=job.n_frames,
            desc=f"Registering {job.layer.name}",
            yielded=self._on_batch,
            errored=self._on_error,
            finished=self._on_finished,
            count=len,
            warned=self._on_warning,
        )

    def cancel(self) -> None:
        """Stop after the batch being registered; the frames done are kept, and applying
        them stays the user's choice."""
        if self.worker is not None:
            self.worker.quit()

    # ---------------------------------------------------------------- callbacks
    def _on_batch(self, batch: list[FrameResult]) -> None:
        # The plot and status are redrawn a few times a second, not per frame: per-frame
        # redraws cost more than registering the frames.
        now = time.perf_counter()
        if self.job is None or now - self._last_update < UPDATE_SECONDS:
            return
        self._last_update = now
        self._show_progress(self.job)

    def _show_progress(self, job: StackJob) -> None:
        self._progress.value = job.done
        if self.busy:
            self._status.value = f"Registering {job.n_frames} frames… {job.done} done."
        self.shifts, self.errors = np.array(job.shifts), np.array(job.errors)
        self.flagged = [i for i, verdict in enumerate(job.verdicts) if verdict.kind == "flagged"]
        self.plot.set_data(self.shifts, self.errors, job.n_frames, self._frame_axis_names(job))

    def _frame_axis_names(self, job: StackJob) -> tuple[str, ...]:
        """The names of a frame's shift components: the layer's axes but the frame axis,
        named by the viewer's labels where they are names."""
        labels = viewer_axis_labels(self.viewer, job.layer)
        del labels[job.axis]
        ndim = job.layer.ndim - 1
        return axis_names(ndim, labels if len(labels) == ndim else None)

    def _on_warning(self, warning: tuple) -> None:
        # The core warns about one frame: its axes are told as the layer's.
        message = warning[0]
        show_warning(str(message) if self.job is None else in_layer_axes(message, self.job))

    def _on_error(self, exc: Exception) -> None:
        show_error(f"Stack registration failed: {exc}")
        self._status.value = f"Stack registration failed: {exc}"

    def _on_finished(self) -> None:
        # After a cancel, the chunks handed to the worker processes are called back and
        # those running waited for, freeing their shared memory.
        self._batches.close()
        job = self.job
        self.worker = None
        self._run_button.enabled = True
        self._cancel_button.enabled = False
        if job is None or not job.done:
            return
        self._show_progress(job)
        self._save_button.enabled = self._apply_button.enabled = True
        summary = job.summary()
        if job.done < job.n_frames:
            self._status.value = (
                f"Cancelled: kept the {job.done} of {job.n_frames} frames registered (frames "
                f"0-{job.done - 1}). 'Apply shifts' adds a copy of those frames only, marked "
                f"partial. {summary}"
            ).strip()
            return
        self._status.value = f"Registered {job.done} frames. {summary}".strip()
        if self._apply_when_done.value:
            self.apply_shifts(job=job)

    def _on_layers_changed(self, event: Any = None) -> None:
        self.reset_choices()
        self._update_visibility()  # a FITS DQ/MASK layer opened or closed

    def _on_layer_changed(self, event: Any = None) -> None:
        self._axis.reset_choices()
        self._apply_to.reset_choices()
        self._update_visibility()

    def _image_choices(self, widget: Any = None) -> list[tuple[str, Image]]:
        return [
            (layer.name, layer)
            for layer in self.viewer.layers
            if isinstance(layer, Image)
            and layer.ndim >= 3
            and not layer.multiscale
            and not is_output(layer)
        ]

    def _axis_choices(self, widget: Any = None) -> list[tuple[str, int]]:
        layer = self._layer.value if hasattr(self, "_layer") else None
        if layer is None:
            return [("0", 0)]
        labels = viewer_axis_labels(self.viewer, layer)
        return [(_axis_title(axis, label), axis) for axis, label in enumerate(labels)]

    def _other_choices(self, widget: Any = None) -> list[tuple[str, Layer]]:
        chosen = self._layer.value if hasattr(self, "_layer") else None
        return [
            (layer.name, layer)
            for layer in self.viewer.layers
            if isinstance(layer, Image | Labels)
            and layer != chosen
            and layer.ndim >= 3
            and not is_output(layer)
        ]

    def _mask_choices(self, widget: Any = None) -> list[tuple[str, Layer | None]]:
        masks = [
            (layer.name, layer)
            for layer in self.viewer.layers
            if isinstance(layer, Labels | Shapes) and not is_output(layer)
        ]
        return [("none", None), *masks]

    def _preselect(self) -> None:
        choices = self._image_choices()
        if choices:
            self._layer.value = choices[0][1]

    def _update_visibility(self, event: Any = None) -> None:
        self._reference_index.visible = self._reference.value == "frame index"
        self._error_value.visible = self._noise.value == "scalar"
        self.option_controls.update_visibility()
        self._mask_mode.visible = self._mask_layer.value is not None
        layer = self._layer.value
        dq = None if layer is None else fits_mask_layer(self.viewer, layer)
        self._fits_masks.visible = dq is not None
        self._rgb_channel.visible = bool(layer is not None and layer.rgb)


def _axis_title(axis: int, label: str) -> str:
    """``"axis 0"``, with the viewer's axis label when it is a name (not a default number)."""
    name = str(label)
    if not is_axis_name(name):
        return f"axis {axis}"
    return f"axis {axis} ({name})"
