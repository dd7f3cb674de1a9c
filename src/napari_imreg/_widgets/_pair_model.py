"""The pair registration model, headless: options in, :class:`PairJob` objects planned from
layers (main thread), registered by one core call each (worker thread), and turned into layers or
a translate (main thread). Scripts and tests can use it without the widget (:mod:`._pair`).

Nothing here computes a shift: that is :func:`napari_imreg.core.register` (or the DFT / Taylor
methods, :func:`~napari_imreg.core.register_dft` and :func:`~napari_imreg.core.register_taylor`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, get_args

import dask.array as da
import numpy as np
from napari.layers import Image, Layer, Shapes
from napari.utils.colormaps import Colormap

from napari_imreg._widgets._delta_map import map_coords, map_placement
from napari_imreg._widgets._layers import (
    MASK_MODES,
    MULTISCALE_PIXEL_BUDGET,
    OUTPUT_KEY,
    LayerArray,
    MaskMode,
    Overlap,
    RgbChannel,
    add_output,
    crop_to_common,
    describe,
    fits_mask_layer,
    ignored_pixels,
    layer_array,
    mask_grid,
    materialize,
    numbers,
    placed_overlap,
    remove_output,
    shifted_channels,
    spatial_shape,
)
from napari_imreg._widgets._plot import SIGMA_COLORS
from napari_imreg._widgets._verdict import Verdict, registered_name, verdict_of
from napari_imreg.core import Options, delta_chi2_levels

if TYPE_CHECKING:
    import napari

Noise = Literal["estimate from data", "error layer", "scalar"]
Method = Literal["chi2", "dft", "taylor"]
Output = Literal["shifted copy", "in place (translate)"]

# The dropdowns offer exactly the values of the types above.
NOISE_CHOICES: tuple[str, ...] = get_args(Noise)
METHOD_CHOICES: tuple[str, ...] = get_args(Method)
OUTPUT_CHOICES: tuple[str, ...] = get_args(Output)


@dataclass(frozen=True)
class PairOptions:
    """What the pair widget asks: how to register, and what to make of the result."""

    noise: Noise = "estimate from data"
    error_layer: Image | None = None
    error_value: float = 1.0
    method: Method = "chi2"
    #: The core's options (upsample_factor, boundary, zero_mean, prefilter, ...).
    core: Options = field(default_factory=Options)
    #: A Labels or Shapes layer marking pixels, read as ``mask_mode`` says (None: no mask).
    mask_layer: Layer | None = None
    mask_mode: MaskMode = MASK_MODES[0]
    #: Ignore the pixels flagged by each image's FITS DQ or MASK extension, when it has one.
    fits_masks: bool = True
    rgb_channel: RgbChannel = "luminance"
    output: Output = "shifted copy"
    delta_chi2_map: bool = True


@dataclass
class PairJob:
    """One moving layer to register onto the reference, with its arrays ready for the core."""

    reference: Image
    moving: Image
    reference_array: LayerArray
    moving_array: LayerArray
    #: The noise: a scalar, or a map kept lazy until the worker reads it; None: estimated.
    error: np.ndarray | da.Array | float | None
    #: The pixels to ignore in (reference, moving), True = ignore; None: none.
    mask: tuple[np.ndarray, np.ndarray] | None = None
    notes: list[str] = field(default_factory=list)
    result: Any = None  # the core's RegistrationResult, once run
    shifted: Any = None  # the shifted copy of the moving data, once run (if asked for)
    #: Why the core refused the pair (its message), when it did; ``result`` is then None.
    failure: str | None = None
    #: The whole pixels (of the arrays registered) by which the layers' placement moves the
    #: moving array on the reference's grid: the search starts there, and the arrays
    #: registered are the overlap as placed (see :func:`_overlap_as_placed`).
    start: np.ndarray | None = None
    #: Where the moving layer was placed on the reference's grid when planned (its translate
    #: less the reference's, over the scale), in full-resolution data pixels; and its
    #: translate then (an "in place" result changes it).
    placement_offset: np.ndarray | None = None
    placed_translate: tuple[float, ...] = ()
    #: The (reference, moving) layers' data when planned: the result is measured on it,
    #: not on data that replaced it while the pair registered.
    planned_data: tuple[Any, ...] = ()

    @property
    def verdict(self) -> Verdict:
        """Whether the result is a measurement, a flagged one, or none (see :mod:`._verdict`)."""
        return verdict_of(self.result)

    @property
    def full_shift(self) -> np.ndarray:
        """The shift between the two layers' arrays, in full-resolution data pixels, numpy
        axis order: ``translate = reference translate + full_shift * scale`` overlays the
        moving layer on the reference."""
        return (np.asarray(self.result.shift, dtype=float) + self.start_pixels) * (
            self.moving_array.factor
        )

    @property
    def start_pixels(self) -> np.ndarray:
        """:attr:`start` (zero when not set), in pixels of the arrays registered."""
        start = 0.0 if self.start is None else self.start
        return np.broadcast_to(np.asarray(start, dtype=float), np.shape(self.result.shift))

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
        # Layers compare with ==: napari hands plugins proxies, a new one per access.
        if any(layer == reference for layer in moving):
            raise ValueError(
                f"The reference {reference.name!r} is also selected as a moving layer; "
                "unselect it."
            )
        for layer in (reference, *moving):
            _check_axis_aligned(layer)
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
        _check_pair(reference, ref_array, moving, mov_array, notes)
        error = self._error_for(moving, mov_data.shape)
        mask = self._mask_for(reference, ref_array, moving, mov_array, notes)
        overlap, offset = _overlap_as_placed(reference, ref_array, moving, mov_array, notes)
        ref_data, mov_data = ref_data[overlap.reference], mov_data[overlap.moving]
        if isinstance(error, np.ndarray):
            error = error[overlap.moving]
        if mask is not None:
            mask = (mask[0][overlap.reference], mask[1][overlap.moving])
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
            mask=mask,
            notes=notes,
            start=overlap.start,
            placement_offset=offset,
            placed_translate=tuple(float(v) for v in moving.translate),
            planned_data=(reference.data, moving.data),
        )

    def _mask_for(
        self,
        reference: Image,
        ref_array: LayerArray,
        moving: Image,
        mov_array: LayerArray,
        notes: list[str],
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The pixels to ignore in each image: the chosen mask or region of interest (the
        same pixels in both), and each image's FITS DQ/MASK extension. None: no mask."""
        options = self.options
        layers = [options.mask_layer] if options.mask_layer is not None else []
        if options.fits_masks:
            found = [fits_mask_layer(self.viewer, layer) for layer in (reference, moving)]
            layers += [layer for layer in found if layer is not None]
        if not layers:
            return None
        if options.method != "chi2":
            if options.mask_layer is not None:
                raise ValueError(
                    f"The {options.method} method takes no mask; choose the chi2 method to "
                    f"use {options.mask_layer.name!r}, or no mask."
                )
            notes.append(f"The {options.method} method takes no mask: the FITS DQ is not used.")
            return None
        # A labels mask lies on the reference's grid, and the core uses the same pixels of
        # the moving image (a detector's hot pixels); a shapes mask, drawn in the world, is
        # rasterised onto each image where it is placed (a window around a cell).
        shared = None
        if options.mask_layer is not None:
            marked = mask_grid(
                options.mask_layer, reference, tuple(ref_array.data.shape), ref_array.factor
            )
            shared = ignored_pixels(marked, options.mask_mode)
        masks = []
        for image, array in ((reference, ref_array), (moving, mov_array)):
            if isinstance(options.mask_layer, Shapes) and image is moving:
                shape = tuple(array.data.shape)
                marked = mask_grid(options.mask_layer, image, shape, array.factor)
                shared = ignored_pixels(marked, options.mask_mode)
            parts = [] if shared is None else [shared]
            dq = fits_mask_layer(self.viewer, image) if options.fits_masks else None
            if dq is not None:
                parts.append(mask_grid(dq, image, tuple(array.data.shape), array.factor))
                notes.append(f"{image.name!r}: ignoring the pixels its {dq.name!r} flags.")
            ignored = np.zeros(array.data.shape, dtype=bool)
            for part in parts:  # cropped to the common region when the shapes differ
                part, ignored = crop_to_common([part, ignored])[0]
                ignored = ignored | part
            masks.append(ignored)
        if options.mask_layer is not None:
            kept = int(np.count_nonzero(~masks[0]))
            notes.append(
                f"{options.mask_layer.name!r} as the {options.mask_mode.split(':')[0]}: "
                f"{kept} of {masks[0].size} reference pixels are used."
            )
            if kept == 0:
                raise ValueError(
                    f"The {options.mask_mode.split(':')[0]} {options.mask_layer.name!r} leaves "
                    "no pixel to register; draw it over the image, or switch mask and region "
                    "of interest."
                )
        return masks[0], masks[1]

    def _error_for(
        self, moving: Image, shape: tuple[int, ...]
    ) -> np.ndarray | da.Array | float | None:
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
        if layer == moving:
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
        """Register one job with the core; fills ``job.result``, or ``job.failure`` with the
        core's message when it refuses the pair (the other jobs carry on). The shifted copy
        is made only for a result that may move the layer. Safe off the GUI thread."""
        try:
            job.result = register_arrays(
                materialize(job.reference_array.data),
                materialize(job.moving_array.data),
                error=materialize(job.error),
                mask=job.mask,
                options=self.options,
            )
        except (ValueError, TypeError) as exc:
            job.failure = str(exc)
            return job
        if self.options.output == "shifted copy" and job.verdict.moves:
            job.shifted = self._shifted_copy(job)
        return job

    def _shifted_copy(self, job: PairJob) -> Any:
        """The moving data resampled by the shift beyond the whole pixels :attr:`PairJob.start`
        (which the copy's translate holds, see :meth:`apply`)."""
        layer = job.moving
        shift = job.full_shift - job.start_pixels * job.moving_array.factor
        # The chi2 method's model ("auto" resolved); the others follow the option.
        boundary = (
            job.result.boundary if self.options.method == "chi2" else self.options.core.boundary
        )
        if layer.multiscale:
            full = np.array(spatial_shape(layer, layer.data[0].shape), dtype=float)
            out = []
            for level in layer.data:
                level_shift = shift * np.array(spatial_shape(layer, level.shape)) / full
                out.append(_shift_image(np.asarray(level), level_shift, layer.rgb, boundary))
            return out
        return _shift_image(np.asarray(layer.data), shift, layer.rgb, boundary)

    # ---------------------------------------------------------------- results (main thread)
    def apply(self, job: PairJob) -> list[Any]:
        """Add the job's layers to the viewer (or set the translate); return the layers added.

        A pair that was refused or not measured adds nothing and moves nothing (the outputs
        of an earlier run of the pair go: they no longer describe it). A flagged result is
        applied, and its copy's name and ``metadata["registration"]`` say so.
        """
        reference, moving = job.reference, job.moving
        if job.failure is not None or not job.verdict.moves:
            for role in ("registered copy", "delta_chi2"):
                remove_output(self.viewer, _output_tag(role, job))
            return []
        shift = job.full_shift
        record = registration_record(job, self.options)
        scale = np.asarray(reference.scale[-len(shift) :], dtype=float)
        target = np.asarray(reference.translate[-len(shift) :], dtype=float) + shift * scale
        # The copy is resampled by the shift beyond the whole pixels it starts from, and
        # placed those whole pixels along the reference's grid: it keeps its content.
        whole = job.start_pixels * job.moving_array.factor
        copy_translate = _full_vector(reference.translate, target - (shift - whole) * scale)
        added: list[Any] = []
        if self.options.output == "in place (translate)":
            moving.translate = _full_vector(moving.translate, target)
            moving.metadata = {**moving.metadata, "registration": record}
        else:
            metadata = _moved_fits_metadata(moving.metadata, shift - whole)
            metadata["registration"] = record
            metadata[OUTPUT_KEY] = _output_tag("registered copy", job)
            added.append(
                add_output(
                    self.viewer,
                    "image",
                    job.shifted,
                    name=registered_name(moving.name, flagged=job.verdict.kind == "flagged"),
                    scale=moving.scale,
                    translate=copy_translate,
                    units=moving.units,
                    rgb=moving.rgb,
                    multiscale=moving.multiscale,
                    colormap=moving.colormap if not moving.rgb else None,
                    contrast_limits=moving.contrast_limits,
                    blending=moving.blending,
                    metadata=metadata,
                )
            )
        if self.options.delta_chi2_map:
            chi2_layer = self._add_delta_chi2(job)
            if chi2_layer is not None:
                added.append(chi2_layer)
        return added

    def _add_delta_chi2(self, job: PairJob) -> Any:
        result = job.result
        if getattr(result, "delta_chi2", None) is None or result.delta_chi2_coords is None:
            return None
        levels = delta_chi2_levels(result.delta_chi2.ndim)
        top = levels[-1] * 1.25
        controls = np.concatenate([[0.0], np.asarray(levels) / top, [1.0]])
        colormap = Colormap(
            colors=SIGMA_COLORS, controls=controls, interpolation="zero", name="delta_chi2_sigma"
        )
        scale, translate = map_placement(job.reference, result.delta_chi2.shape)
        return add_output(
            self.viewer,
            "image",
            np.asarray(result.delta_chi2),
            name=f"Δχ² {job.moving.name}",
            scale=scale,
            translate=translate,
            units=job.reference.units,
            colormap=colormap,
            contrast_limits=(0.0, top),
            metadata={
                "sigma_levels": levels,
                "shift_coords": map_coords(job),
                "about": "Δχ² around the best shift, placed beside the reference (its position "
                "is not the shift): 1σ yellow, 2σ orange, 3σ purple. shift_coords holds the "
                "shift in pixels of each sample, per axis.",
                "registration": registration_record(job, self.options),
                OUTPUT_KEY: _output_tag("delta_chi2", job),
            },
        )


def register_arrays(
    reference: np.ndarray,
    moving: np.ndarray,
    *,
    error: np.ndarray | float | None,
    options: PairOptions,
    mask: tuple[np.ndarray, np.ndarray] | None = None,
) -> Any:
    """Call the core function for ``options.method`` and return its RegistrationResult.

    The chi2 method takes every option of the core's :class:`~napari_imreg.core.Options` and the
    mask; the DFT and Taylor methods take the upsample factor (DFT) and zero mean only.
    """
    from napari_imreg import core

    settings = options.core
    if options.method == "chi2":
        return core.register(reference, moving, error=error, mask=mask, **settings.as_dict())
    if options.method == "dft":
        upsample = 10 if settings.upsample_factor == "auto" else settings.upsample_factor
        return core.register_dft(
            reference, moving, error=error, upsample_factor=upsample, zero_mean=settings.zero_mean
        )
    if options.method == "taylor":
        return core.register_taylor(reference, moving, error=error, zero_mean=settings.zero_mean)
    raise ValueError(f"method={options.method!r} is not one of {METHOD_CHOICES}.")


def registration_record(job: PairJob, options: PairOptions) -> dict[str, Any]:
    """What a layer's ``metadata["registration"]`` records about a registration."""
    result = job.result
    verdict = job.verdict
    return {
        "reference": job.reference.name,
        "moving": job.moving.name,
        "shift": tuple(float(v) for v in job.full_shift),
        "error": tuple(float(v) for v in job.full_error),
        # The layers' placement, the whole pixels the search started from, and the shift
        # from the placement (in pixels and in the world: the change of the translate).
        "placement_offset": tuple(float(v) for v in job.placement_offset),
        "start": tuple(float(v) for v in job.start_pixels * job.moving_array.factor),
        "from_placement": tuple(float(v) for v in job.full_shift - job.placement_offset),
        "from_placement_world": tuple(
            float(v)
            for v in (job.full_shift - job.placement_offset)
            * np.asarray(job.reference.scale, dtype=float)[-len(job.full_shift) :]
        ),
        "measured": verdict.kind == "measured",
        "flagged": verdict.reason,
        "method": options.method,
        "boundary": result.boundary if options.method == "chi2" else options.core.boundary,
        "mask": None if options.mask_layer is None else options.mask_layer.name,
        "noise": None if result.noise is None else float(result.noise),
        "filter_strength": result.filter_strength,
        "upsample_factor": result.upsample_factor,
        "multiscale_level": job.moving_array.level,
        "output": options.output,
    }


def _error_array(layer: Image, channel: RgbChannel) -> np.ndarray | da.Array:
    """The error layer's 1-sigma map, not read: a dask or zarr layer stays lazy, and a
    variance or inverse variance is turned into an error as its chunks are read, by the
    worker (:func:`~._layers.materialize`), not on the GUI thread where jobs are planned."""
    from napari_imreg.core import error_from_uncertainty

    array = layer_array(layer, channel=channel).data
    kind = layer.metadata.get("fits_kind", "error")
    if kind not in ("variance", "inverse_variance"):
        return array
    lazy = da.asarray(array)
    dtype = np.float32 if lazy.dtype == np.float32 else np.float64
    return lazy.map_blocks(error_from_uncertainty, kind, dtype=dtype)


def _shift_image(data: np.ndarray, shift: np.ndarray, rgb: bool, boundary: str) -> np.ndarray:
    from napari_imreg.core import apply_shift

    if rgb:  # every channel (alpha too) moves the same way
        return shifted_channels(
            data, lambda channel: apply_shift(channel, shift, boundary=boundary)
        )
    return apply_shift(data, shift, boundary=boundary)


def _moved_fits_metadata(metadata: dict[str, Any], shift: np.ndarray) -> dict[str, Any]:
    """The FITS entries of a layer's metadata, for a copy whose content moved by ``shift``."""
    from napari_imreg.core import header_for_shifted_data, wcs_from_header

    out = {key: value for key, value in metadata.items() if key.startswith("fits_")}
    header = out.get("fits_header")
    if header is not None and hasattr(header, "copy"):
        out["fits_header"] = header_for_shifted_data(header, shift)
        out["fits_wcs"] = wcs_from_header(out["fits_header"])
    return out


def _check_pair(
    reference: Image,
    ref_array: LayerArray,
    moving: Image,
    mov_array: LayerArray,
    notes: list[str],
) -> None:
    """Refuse a pair the core cannot compare as the layers hold it (different numbers of axes,
    pixel sizes or multiscale levels); note a pair of 4 or more axes.

    Raises
    ------
    ValueError
        With a message for the user, naming both layers.
    """
    if ref_array.data.ndim != mov_array.data.ndim:
        raise ValueError(
            f"Cannot register {describe(moving)} onto {describe(reference)}: they have "
            f"{mov_array.data.ndim} and {ref_array.data.ndim} axes. Register layers with the same "
            "number of axes (use the stack widget for a time or z axis)."
        )
    if ref_array.data.ndim > 3:
        notes.append(
            f"{ref_array.data.ndim} axes: every one is registered as space (a time or channel "
            "axis too); for frames along a time or z axis, use the stack widget."
        )
    if not np.allclose(_spatial_scale(reference), _spatial_scale(moving)):
        raise ValueError(
            f"{reference.name!r} and {moving.name!r} have different pixel sizes (scale "
            f"{numbers(reference.scale)} and {numbers(moving.scale)}); resample one onto the "
            "other's grid first."
        )
    if not np.allclose(ref_array.factor, mov_array.factor):
        raise ValueError(
            f"{reference.name!r} and {moving.name!r} were read at different resolutions "
            f"(multiscale factors {numbers(ref_array.factor)} and "
            f"{numbers(mov_array.factor)}); "
            "give them matching pyramids or register single-scale layers."
        )


def _overlap_as_placed(
    reference: Image,
    ref_array: LayerArray,
    moving: Image,
    mov_array: LayerArray,
    notes: list[str],
) -> tuple[Overlap, np.ndarray]:
    """The two arrays' overlap with the moving layer where its translate places it on the
    reference's grid, to whole pixels of the arrays registered: the search for the shift
    starts from the layers' placement (tiles placed at their stage positions, say), and
    layers placed alike give their common region from pixel 0. Also returns the placement:
    the moving layer's translate less the reference's, in full-resolution pixels.

    Raises
    ------
    ValueError
        If the layers do not overlap as placed.
    """
    ndim = ref_array.data.ndim
    scale = np.asarray(reference.scale, dtype=float)[-ndim:]
    offset = (np.asarray(moving.translate, dtype=float) - reference.translate)[-ndim:] / scale
    start = np.round(offset / ref_array.factor).astype(int)
    overlap = placed_overlap(ref_array.data.shape, mov_array.data.shape, start)
    placed = (
        f"{moving.name!r} is placed at translate {numbers(moving.translate)}, "
        f"{reference.name!r} at {numbers(reference.translate)}"
    )
    if overlap is None:
        raise ValueError(
            f"{placed}: they do not overlap. Move {moving.name!r} to where it roughly lies on "
            f"{reference.name!r} (its translate), or give both the same translate to compare "
            "their arrays as stored."
        )
    if not np.allclose(offset, 0):
        notes.append(
            f"{placed}, {numbers(offset)} px apart: the search starts from there, on their "
            f"overlap as placed {overlap.shape}. The shift is given between the arrays and "
            "from the placement."
        )
    elif ref_array.data.shape != mov_array.data.shape:
        notes.append(
            f"Shapes differ ({tuple(ref_array.data.shape)} and {tuple(mov_array.data.shape)}): "
            f"the common region {overlap.shape} starting at pixel 0 is registered."
        )
    return overlap, offset


def _check_axis_aligned(layer: Image) -> None:
    """Refuse a layer whose data axes are not the world axes: a shift in data pixels then
    does not map to a translate (a rotate of 90 degrees put the copy about 2 units off)."""
    linear = np.asarray(layer.affine.affine_matrix, dtype=float)[:-1, :-1]
    rotate = np.asarray(layer.rotate, dtype=float)
    turned = not np.allclose(rotate, np.eye(len(rotate))) or np.any(np.asarray(layer.shear))
    if turned or not np.allclose(linear, np.diag(np.diag(linear))):
        raise ValueError(
            f"{layer.name!r} is rotated, sheared or has an affine transform; the plugin "
            "registers axis-aligned layers only. Reset its rotate, shear and affine (the "
            "pixels stay as they are) and register again."
        )


def _output_tag(role: str, job: PairJob) -> dict[str, str]:
    return {"output": role, "reference": job.reference.name, "moving": job.moving.name}


def _spatial_scale(layer: Image) -> np.ndarray:
    return np.asarray(layer.scale, dtype=float)


def _full_vector(current: Sequence[float], tail: np.ndarray) -> np.ndarray:
    out = np.asarray(current, dtype=float).copy()
    out[-len(tail) :] = tail
    return out
