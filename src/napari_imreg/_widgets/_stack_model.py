"""The stack registration model, headless (:class:`StackRegistration`, usable from scripts):
it plans a :class:`StackJob` from a layer, yields the frames' registrations in batches of at most
:data:`UPDATE_SECONDS` (the core does the work, in worker processes the model keeps), and turns
the shifts into registered copies of the stack and of other layers with the same frames. The
widget that runs it is :mod:`._stack`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

import dask.array as da
import numpy as np
from napari.layers import Image, Labels, Layer

from napari_imreg._shift_table import is_axis_name
from napari_imreg._widgets._layers import (
    MASK_MODES,
    OUTPUT_KEY,
    MaskMode,
    RgbChannel,
    add_output,
    as_integers,
    fits_mask_layer,
    ignored_pixels,
    mask_grid,
    rgb_to_channel,
    shifted_channels,
    viewer_axis_labels,
)
from napari_imreg._widgets._verdict import FLAGGED, Verdict, registered_name, verdict_of
from napari_imreg.core import AxisMessage, Options, StackWorkers

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
    #: The viewer's labels of the layer's axes (names, or napari's default numbers).
    axis_labels: tuple[str, ...] = ()
    #: The layer's data when planned: the shifts are measured on it, not on data that
    #: replaced it while the frames registered.
    data: Any = None
    shifts: list[np.ndarray] = field(default_factory=list)
    errors: list[np.ndarray] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        return int(self.stack.shape[self.axis])

    def summary(self) -> str:
        """The frames that are not measurements, in words ("" when every frame is one): a
        flagged frame in the pair widget's words, and the copy named as the pair's is."""
        parts = []
        for kind, words, fate in (
            ("not measured", "not measured", "left blank in the registered copy"),
            ("flagged", FLAGGED, "moved, the copy named '(flagged)' and listing them"),
        ):
            frames = [i for i, verdict in enumerate(self.verdicts) if verdict.kind == kind]
            if not frames:
                continue
            listed = ", ".join(map(str, frames[:10])) + (", ..." if len(frames) > 10 else "")
            reasons = dict.fromkeys(self.verdicts[i].reason for i in frames)
            parts.append(
                f"{len(frames)} {words} (frame{'s' if len(frames) > 1 else ''} {listed}: "
                f"{'; '.join(reasons)}): {fate}."
            )
        return " ".join(parts)

    @property
    def done(self) -> int:
        """Number of frames registered (the first ``done`` frames)."""
        return len(self.shifts)


@dataclass(frozen=True)
class FrameResult:
    """One frame's registration: its index, shift and 1-sigma error (numpy axis order), and
    its :class:`~._verdict.Verdict`. A frame that is not measured has a NaN shift: nothing
    moves it, and the registered copy leaves it blank."""

    index: int
    shift: np.ndarray
    error: np.ndarray
    verdict: Verdict


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
            If no layer is chosen, it is not an image layer, it has fewer than 3 axes, the
            axis does not exist or holds one frame, or the reference frame index is outside
            the stack.
        """
        if layer is None:
            raise ValueError("Choose an image layer with a time or z axis.")
        if not isinstance(layer, Image):
            raise ValueError(
                f"{layer.name!r} is a {type(layer).__name__.lower()} layer: a stack is "
                "registered from an image layer (labels and other images with the same "
                "frames follow its drift through 'apply to')."
            )
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
        labels = tuple(viewer_axis_labels(self.viewer, layer))
        return StackJob(
            layer=layer,
            stack=stack,
            axis=axis,
            mask=mask,
            notes=notes,
            axis_labels=labels,
            data=layer.data,
        )

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
            try:
                for batch in results:
                    job.shifts.extend(frame.shift for frame in batch)
                    job.errors.extend(frame.error for frame in batch)
                    job.verdicts.extend(frame.verdict for frame in batch)
                    yield batch
            except (ValueError, TypeError) as exc:
                if not isinstance(exc, AxisMessage):
                    raise
                # The core's, about one frame's axes: told as the layer's.
                raise ValueError(in_layer_axes(exc, job)) from exc

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
            verdict = verdict_of(result)
            shift = np.asarray(result.shift, dtype=float)
            batch.append(
                FrameResult(
                    index=int(index),
                    shift=shift if verdict.moves else np.full_like(shift, np.nan),
                    error=np.asarray(result.error, dtype=float),
                    verdict=verdict,
                )
            )
            if time.perf_counter() - began >= UPDATE_SECONDS or index == count - 1:
                yield batch
                batch, began = [], time.perf_counter()
        if batch:
            yield batch

    def shifted_layer_data(
        self,
        layer: Layer,
        shifts: np.ndarray,
        *,
        axis: int | None = None,
        flagged: Sequence[int] = (),
    ) -> tuple[Any, dict[str, Any], str]:
        """The registered copy of ``layer`` as napari layer data: the first ``len(shifts)``
        frames, named and marked as partial when that is fewer than the layer has. Labels are
        moved by whole nearest pixels so that they stay labels. A lazy layer gives a lazy copy.
        A frame whose shift is NaN (not measured) is left blank (NaN; no labels); its index,
        and the ``flagged`` frames', are in the copy's ``metadata["stack_registration"]``;
        a copy with flagged frames is named "(flagged)", as the pair widget names a copy
        that a flagged shift moved (:func:`~._verdict.registered_name`).
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
            boundary = self.options.core.boundary
            moved = shifted_channels(
                frames,
                lambda channel: _apply_shifts(
                    channel, shifts, axis=axis, boundary=boundary, order=3
                ),
            )
        else:
            moved = _apply_shifts(
                frames,
                shifts,
                axis=axis,
                boundary="overlap" if is_labels else self.options.core.boundary,
                order=order,
            )
        if is_labels:
            moved = as_integers(moved, data.dtype)
        partial = n < total
        name = registered_name(layer.name, flagged=len(flagged) > 0)
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
                    "not_measured": [int(i) for i in np.flatnonzero(np.isnan(shifts).all(1))],
                    "flagged": list(flagged),
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

    def apply(
        self, layers: Sequence[Layer], shifts: np.ndarray, *, flagged: Sequence[int] = ()
    ) -> list[Layer]:
        """Add registered copies of ``layers`` to the viewer; the layers are not modified."""
        added = []
        for layer in layers:
            data, kwargs, kind = self.shifted_layer_data(layer, shifts, flagged=flagged)
            added.append(add_output(self.viewer, kind, data, **kwargs))
        return added


def in_layer_axes(message: object, job: StackJob) -> str:
    """A core error or warning about one frame, its axes told as the stack layer's.

    The core registers frames: its axis 0 is a frame's first axis, which is the layer's
    axis 1 when the frames lie along axis 0. A message that names axes
    (:class:`~napari_imreg.core.AxisMessage`, which keeps them as numbers) names the
    layer's, with the viewer's label where it is a name, and the layer; any other is
    told as it is.
    """
    if not isinstance(message, AxisMessage):
        return str(message)

    def named(axes: tuple[int, ...]) -> str:
        told = []
        for axis in axes:
            layer_axis = axis + (axis >= job.axis)
            label = job.axis_labels[layer_axis] if layer_axis < len(job.axis_labels) else ""
            told.append(f"{layer_axis} ({label})" if is_axis_name(label) else str(layer_axis))
        return f"axis {', '.join(told)} of {job.layer.name!r}"

    return message.told(named)


class StackRegistrationError(Exception):
    """The core's registration stopped (a worker process ended unexpectedly)."""


def forward_batches(batches: Iterator[list[FrameResult]]) -> Iterator[list[FrameResult]]:
    """The model's batches, for napari's generator worker, which takes a RuntimeError
    raised inside for its own end and would report nothing: raised as
    :class:`StackRegistrationError` instead."""
    try:
        yield from batches
    except RuntimeError as exc:
        raise StackRegistrationError(str(exc)) from exc


def shifted_layers(
    model: StackRegistration,
    layers: Sequence[Layer],
    shifts: np.ndarray,
    flagged: Sequence[int] = (),
) -> Iterator[tuple[np.ndarray, dict[str, Any], str]]:
    for layer in layers:
        yield model.shifted_layer_data(layer, shifts, flagged=flagged)


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
