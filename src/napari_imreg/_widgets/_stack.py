"""Widget 2: register the frames of a stack (time-lapse or z-drift) and apply the drift.

As for the pair widget, a headless model (:class:`StackRegistration`, usable from scripts) and a
thin widget (:class:`StackWidget`). The model plans a :class:`StackJob` from a layer and yields
the frames' registrations in batches (the core does the work; the widget runs this generator in
a napari thread worker, so the viewer stays responsive, the progress bar moves and Cancel stops
after the current batch), and turns the shifts into registered copies of the stack and of any
other layers with the same frames (channels, labels). Shifts save to and load from CSV.

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

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import dask.array as da
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
from napari.utils.notifications import show_error, show_info

from napari_imreg._shift_table import load_shifts_csv, save_shifts_csv
from napari_imreg._widgets._layers import (
    COMMON_TOOLTIPS,
    MASK_MODES,
    OUTPUT_KEY,
    MaskMode,
    RgbChannel,
    add_output,
    fits_mask_layer,
    ignored_pixels,
    is_output,
    kept_selection,
    mask_grid,
    rgb_to_channel,
    set_tooltips,
)
from napari_imreg._widgets._options import add_common_controls
from napari_imreg._widgets._plot import ShiftPlot
from napari_imreg._widgets._worker import start_worker
from napari_imreg.core import Options, StackWorkers

if TYPE_CHECKING:
    import napari

Reference = Literal["first frame", "frame index", "mean", "previous frame"]
StackNoise = Literal["estimate from data", "scalar"]
# The dropdowns offer exactly the values of the types above.
REFERENCE_CHOICES: tuple[str, ...] = get_args(Reference)
NOISE_CHOICES: tuple[str, ...] = get_args(StackNoise)
# How the model's reference choice is spelled for the core's iter_register_stack.
_CORE_REFERENCE = {"mean": "mean", "previous frame": "previous"}
#: The widget redraws its plot and status at most this often (seconds).
UPDATE_SECONDS = 0.25


@dataclass(frozen=True)
class StackOptions:
    """What the stack widget asks."""

    axis: int = 0
    reference: Reference = "first frame"
    reference_index: int = 0
    noise: StackNoise = "estimate from data"
    error_value: float = 1.0
    #: The core's options (upsample_factor, boundary, zero_mean, prefilter, ...).
    core: Options = field(default_factory=Options)
    #: A Labels or Shapes layer marking pixels, read as ``mask_mode`` says (None: no mask):
    #: one frame's grid for every frame, or the stack's grid for a mask per frame.
    mask_layer: Layer | None = None
    mask_mode: MaskMode = MASK_MODES[0]
    #: Ignore the pixels flagged by the stack's FITS DQ or MASK extension, when it has one.
    fits_masks: bool = True
    rgb_channel: RgbChannel = "luminance"


@dataclass
class StackJob:
    """A stack to register, and the frames registered so far."""

    layer: Image
    stack: Any  # numpy, or dask for a lazy layer (never read whole on the GUI thread)
    axis: int
    #: The pixels to ignore (True), frames first: one frame's mask, or one per frame; or None.
    mask: np.ndarray | None = None
    #: What the plan did that the user should know, in words.
    notes: list[str] = field(default_factory=list)
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
        model.close()  # ends the worker processes that registered the frames
    """

    def __init__(self, viewer: napari.viewer.Viewer, options: StackOptions | None = None):
        self.viewer = viewer
        self.options = options or StackOptions()
        #: The worker processes that register the frames: started on the first stack,
        #: kept for the next ones, ended by :meth:`close`.
        self.workers = StackWorkers()

    def close(self) -> None:
        """End the worker processes (they start again if another stack is registered)."""
        self.workers.close()

    def plan(self, layer: Image | None) -> StackJob:
        """Check the layer and take its array (the chosen colour channel of an RGB layer).

        Raises
        ------
        ValueError
            If no layer is chosen, it has fewer than 3 axes, the axis does not exist or holds
            one frame, or the reference frame index is outside the stack.
        """
        if layer is None:
            raise ValueError("Choose an image layer with a time or z axis.")
        if layer.multiscale:
            raise ValueError(
                f"{layer.name!r} is multiscale; stack registration needs a single-scale layer."
            )
        options = self.options
        stack = _array_or_dask(layer.data)
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
        if n_frames < 2:
            raise ValueError(
                f"{layer.name!r} has 1 frame along axis {axis} (shape {stack.shape}): there is "
                "no drift to measure. Choose the time or z axis, or use the pair widget."
            )
        if options.reference == "frame index" and not 0 <= options.reference_index < n_frames:
            raise ValueError(
                f"The reference frame {options.reference_index} is outside the stack "
                f"({n_frames} frames along axis {axis}); choose 0 to {n_frames - 1}."
            )
        if options.noise == "scalar" and not options.error_value > 0:
            raise ValueError(f"The noise value must be positive, got {options.error_value}.")
        notes: list[str] = []
        mask = self._mask_for(layer, tuple(stack.shape), axis, notes)
        return StackJob(layer=layer, stack=stack, axis=axis, mask=mask, notes=notes)

    def _mask_for(
        self, layer: Image, shape: tuple[int, ...], axis: int, notes: list[str]
    ) -> np.ndarray | None:
        """The pixels to ignore, frames first: the chosen mask or region of interest, and the
        stack's FITS DQ/MASK extension. A mask of one frame's grid applies to every frame."""
        options = self.options
        frame_shape = tuple(n for i, n in enumerate(shape) if i != axis)
        dq = fits_mask_layer(self.viewer, layer) if options.fits_masks else None
        found = [(options.mask_layer, options.mask_mode), (dq, MASK_MODES[0])]
        found = [(mask, mode) for mask, mode in found if mask is not None]
        if not found:
            return None
        if dq is not None:
            notes.append(f"{layer.name!r}: ignoring the pixels its {dq.name!r} flags.")
        ignored = np.zeros(frame_shape, dtype=bool)
        for mask_layer, mode in found:
            marked = mask_grid(mask_layer, layer, shape, frame_shape=frame_shape)
            if marked.shape == shape:
                marked = np.moveaxis(marked, axis, 0)
            ignored = ignored | ignored_pixels(marked, mode)
        if not np.any(~ignored):
            raise ValueError("The mask leaves no pixel to register; draw it over the image.")
        return ignored

    def frames(self, job: StackJob) -> Iterator[FrameResult]:
        """Register the frames in order, yielding each as it is done (fills ``job``)."""
        for batch in self.batches(job):
            yield from batch

    def batches(self, job: StackJob) -> Iterator[list[FrameResult]]:
        """Register the frames in order, yielding them in batches as they are done (fills
        ``job``). Stopping the iterator stops after the batch in progress."""
        options = self.options
        core_options = {
            "error": options.error_value if options.noise == "scalar" else None,
            **options.core.as_dict(),
        }
        if job.mask is not None:
            core_options["mask"] = job.mask
        if options.reference in _CORE_REFERENCE:
            reference = _CORE_REFERENCE[options.reference]
        else:
            reference = 0 if options.reference == "first frame" else options.reference_index
        # Closed with this generator (a cancel): the core then calls its chunks back.
        with contextlib.closing(self._in_batches(job, reference, core_options)) as results:
            for batch in results:
                job.shifts.extend(frame.shift for frame in batch)
                job.errors.extend(frame.error for frame in batch)
                yield batch

    def _in_batches(
        self, job: StackJob, reference: int | str, core_options: dict[str, Any]
    ) -> Iterator[list[FrameResult]]:
        """The core's frame-by-frame registration in the model's worker processes, the
        frames grouped for at most :data:`UPDATE_SECONDS`."""
        # Frames first, as the mask is.
        stack = _frames_first(job.stack, job.axis)
        frames = _core_frames(stack, reference=reference, processes=self.workers, **core_options)
        with contextlib.closing(frames):
            yield from self._grouped(frames, job.n_frames)

    @staticmethod
    def _grouped(frames: Iterator[tuple[int, Any]], count: int) -> Iterator[list[FrameResult]]:
        """The frames' results grouped for at most :data:`UPDATE_SECONDS` each."""
        batch: list[FrameResult] = []
        began = time.perf_counter()
        for index, result in frames:
            batch.append(
                FrameResult(
                    index=int(index),
                    shift=np.asarray(result.shift, dtype=float),
                    error=np.asarray(result.error, dtype=float),
                )
            )
            if time.perf_counter() - began >= UPDATE_SECONDS or index == count - 1:
                yield batch
                batch, began = [], time.perf_counter()
        if batch:
            yield batch

    def shifted_layer_data(
        self, layer: Layer, shifts: np.ndarray, *, axis: int | None = None
    ) -> tuple[Any, dict[str, Any], str]:
        """The registered copy of ``layer`` as napari layer data: the first ``len(shifts)``
        frames, named and marked as partial when that is fewer than the layer has. Labels are
        moved by whole nearest pixels so that they stay labels. A lazy layer gives a lazy copy.
        """
        axis = self.options.axis if axis is None else axis
        data = _array_or_dask(layer.data)
        shifts = np.asarray(shifts, dtype=float)
        n, total = shifts.shape[0], data.shape[axis]
        if total < n:
            raise ValueError(
                f"{layer.name!r} has {total} frames along axis {axis}, fewer than "
                f"the {n} shifts; choose a layer with the same frames."
            )
        frames = data[(slice(None),) * axis + (slice(0, n),)]
        is_labels = isinstance(layer, Labels)
        rgb = bool(getattr(layer, "rgb", False))
        order = 0 if is_labels else 3
        if rgb:
            channels = [
                _apply_shifts(
                    frames[..., c], shifts, axis=axis, boundary=self.options.core.boundary, order=3
                )
                for c in range(frames.shape[-1])
            ]
            stack = da.stack if isinstance(channels[0], da.Array) else np.stack
            moved = stack(channels, axis=-1)
        else:
            moved = _apply_shifts(
                frames,
                shifts,
                axis=axis,
                boundary="overlap" if is_labels else self.options.core.boundary,
                order=order,
            )
        if is_labels:
            moved = moved.astype(data.dtype)
        partial = n < total
        name = f"{layer.name} registered"
        if partial:
            name += f" (partial: frames 0-{n - 1} of {total})"
        kwargs: dict[str, Any] = {
            "name": name,
            "scale": layer.scale,
            "translate": layer.translate,
            "units": layer.units,
            "metadata": {
                "stack_registration": {
                    "shifts": shifts,
                    "axis": axis,
                    "frames": n,
                    "of": total,
                    "partial": partial,
                },
                OUTPUT_KEY: {"output": "registered stack", "source": layer.name},
            },
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
            added.append(add_output(self.viewer, kind, data, **kwargs))
        return added


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
            _forward,
            self._batches,
            total=job.n_frames,
            desc=f"Registering {job.layer.name}",
            yielded=self._on_batch,
            errored=self._on_error,
            finished=self._on_finished,
            count=len,
        )

    def cancel(self) -> None:
        """Stop after the batch being registered; the frames done are kept, and applying
        them stays the user's choice."""
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
        try:
            self.model.options = self.options
        except (ValueError, TypeError) as exc:
            show_error(str(exc))
            return None
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
        self.plot.set_data(shifts, errors, len(shifts))
        return True

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
        self.plot.set_data(self.shifts, self.errors, job.n_frames)

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
        if job.done < job.n_frames:
            self._status.value = (
                f"Cancelled: kept the {job.done} of {job.n_frames} frames registered (frames "
                f"0-{job.done - 1}). 'Apply shifts' adds a copy of those frames only, marked "
                "partial."
            )
            return
        self._status.value = f"Registered {job.done} frames."
        if self._apply_when_done.value:
            self.apply_shifts()

    def _add_layer(self, layer_data: tuple[Any, dict[str, Any], str]) -> None:
        data, kwargs, kind = layer_data
        self.last_added.append(add_output(self.viewer, kind, data, **kwargs))

    def _on_apply_error(self, exc: Exception) -> None:
        show_error(f"Could not apply the shifts: {exc}")

    def _on_apply_finished(self) -> None:
        self.worker = None
        self._run_button.enabled = self._apply_button.enabled = True
        self._cancel_button.enabled = False

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
        labels = list(self.viewer.dims.axis_labels)[-layer.ndim :]
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


class StackRegistrationError(Exception):
    """The core's registration stopped (a worker process ended unexpectedly)."""


def _forward(batches: Iterator[list[FrameResult]]) -> Iterator[list[FrameResult]]:
    """The model's batches, for napari's generator worker, which takes a RuntimeError
    raised inside for its own end and would report nothing: raised as
    :class:`StackRegistrationError` instead."""
    try:
        yield from batches
    except RuntimeError as exc:
        raise StackRegistrationError(str(exc)) from exc


def _shifted_layers(
    model: StackRegistration, layers: Sequence[Layer], shifts: np.ndarray
) -> Iterator[tuple[np.ndarray, dict[str, Any], str]]:
    for layer in layers:
        yield model.shifted_layer_data(layer, shifts)


def _core_frames(stack: Any, **options: Any) -> Iterator[tuple[int, Any]]:
    """``(index, RegistrationResult)`` per frame, in frame order, from the core."""
    from napari_imreg.core import iter_register_stack

    yield from iter_register_stack(stack, **options)


def _array_or_dask(data: Any) -> Any:
    """A layer's data as numpy or dask, without reading it: numpy and dask stay as they are,
    other array-likes (zarr, tifffile stores) are wrapped in dask."""
    if isinstance(data, np.ndarray | da.Array):
        return data
    return da.from_array(data)


def _frames_first(stack: Any, axis: int) -> Any:
    move = da.moveaxis if isinstance(stack, da.Array) else np.moveaxis
    return move(stack, axis, 0)


def _apply_shifts(frames: Any, shifts: np.ndarray, *, axis: int, boundary: str, order: int) -> Any:
    """Each frame moved by its shift (the core's :func:`~napari_imreg.apply_shifts`): numpy
    for numpy frames, a lazy dask array for dask frames."""
    from napari_imreg import apply_shifts

    moved = apply_shifts(frames, shifts, axis=axis, boundary=boundary, order=order)
    return moved if isinstance(frames, da.Array) else np.asarray(moved)
