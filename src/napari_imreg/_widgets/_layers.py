"""Turning napari layers into the arrays the core registers, and back into layer placement.

Shared by the pair and stack widgets. Nothing here changes pixel values except picking a colour
channel, or the standard luminance of an RGB layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import dask.array as da
import numpy as np
from napari.layers import Image, Layer

RgbChannel = Literal["luminance", "red", "green", "blue"]
RGB_CHANNELS: tuple[str, ...] = ("luminance", "red", "green", "blue")

# Rec. 709 luminance weights (the ones scikit-image's rgb2gray uses).
_LUMINANCE = np.array([0.2125, 0.7154, 0.0721])
#: A multiscale layer is registered at the finest level with at most this many pixels.
MULTISCALE_PIXEL_BUDGET = 1024 * 1024


@dataclass
class LayerArray:
    """A layer's pixels ready for the core, and how they relate to the layer.

    Attributes
    ----------
    data : numpy.ndarray or dask.array.Array
        The array to register (one channel; one multiscale level), lazy for a lazy layer.
    level : int
        The multiscale level used (0 for single-scale layers).
    factor : numpy.ndarray
        Full-resolution pixels per pixel of ``data``, per axis (1 for level 0).
    notes : list of str
        What was done to get ``data``, in words for the user.
    """

    data: np.ndarray
    level: int = 0
    factor: np.ndarray = field(default_factory=lambda: np.ones(0))
    notes: list[str] = field(default_factory=list)


def layer_array(
    layer: Image,
    *,
    channel: RgbChannel = "luminance",
    pixel_budget: int = MULTISCALE_PIXEL_BUDGET,
) -> LayerArray:
    """Return the array of an image layer that the core should register.

    A multiscale layer gives its finest level within ``pixel_budget`` pixels (shifts measured
    there are multiplied by ``factor`` to get full-resolution pixels). An RGB layer gives the
    chosen channel, or its luminance. The layer is never modified.
    """
    notes: list[str] = []
    level = 0
    if layer.multiscale:
        levels = list(layer.data)
        level = _choose_level([spatial_shape(layer, lv.shape) for lv in levels], pixel_budget)
        full = np.array(spatial_shape(layer, levels[0].shape), dtype=float)
        data = levels[level]
        factor = full / np.array(spatial_shape(layer, data.shape), dtype=float)
        if level:
            notes.append(
                f"{layer.name!r} is multiscale: registered at level {level} "
                f"(shape {tuple(spatial_shape(layer, data.shape))}); shifts are reported in "
                "full-resolution pixels."
            )
    else:
        data = layer.data
        factor = np.ones(layer.ndim)
    # Kept lazy: reading a dask or zarr layer would stall the GUI thread, where jobs are
    # planned. The worker reads it (see :func:`materialize`).
    array = data if isinstance(data, np.ndarray | da.Array) else da.from_array(data)
    if layer.rgb:
        array = rgb_to_channel(array, channel)
        notes.append(f"{layer.name!r} is RGB: registering its {channel}.")
    return LayerArray(data=array, level=level, factor=factor, notes=notes)


def materialize(array: Any) -> Any:
    """A numpy array of a lazy one (off the GUI thread); anything else as it is."""
    return np.asarray(array) if isinstance(array, da.Array) else array


def rgb_to_channel(rgb: np.ndarray, channel: RgbChannel) -> np.ndarray:
    """One channel of an RGB(A) array (channels last), or its Rec. 709 luminance."""
    if channel == "luminance":
        return rgb[..., :3].astype(np.float64) @ _LUMINANCE
    if channel not in RGB_CHANNELS:
        raise ValueError(f"channel={channel!r} is not one of {RGB_CHANNELS}.")
    return rgb[..., RGB_CHANNELS.index(channel) - 1]


def shifted_channels(data: Any, move: Callable[[Any], Any]) -> Any:
    """An RGB(A) array (channels last) with every channel, alpha too, moved the same way by
    ``move`` (one channel in, moved out): numpy or dask as ``move`` returns them. Integer
    data come back in their dtype (:func:`as_integers`): napari reads float RGB as 0-1, and a
    float copy of 0-255 data showed white, at 8x the memory."""
    channels = [move(data[..., c]) for c in range(data.shape[-1])]
    stack = da.stack if isinstance(channels[0], da.Array) else np.stack
    moved = stack(channels, axis=-1)
    return as_integers(moved, data.dtype) if np.issubdtype(data.dtype, np.integer) else moved


def as_integers(moved: Any, dtype: np.dtype) -> Any:
    """Resampled data back in their source's integer dtype, rounded and clipped to its range;
    a NaN (a stack's frame not measured, left blank) becomes 0 (no label, black)."""
    # dask's nan_to_num takes no ``nan=``: each block's numpy one does.
    if isinstance(moved, da.Array):
        filled = moved.map_blocks(np.nan_to_num, nan=0.0)
    else:
        filled = np.nan_to_num(moved, nan=0.0)
    info = np.iinfo(dtype)
    return np.clip(np.rint(filled), info.min, info.max).astype(dtype)


def crop_to_common(arrays: Sequence[np.ndarray]) -> tuple[list[np.ndarray], tuple[int, ...]]:
    """Crop arrays of the same ndim to their common shape, anchored at pixel 0 of every axis."""
    shape = tuple(int(n) for n in np.min([a.shape for a in arrays], axis=0))
    window = tuple(slice(0, n) for n in shape)
    return [a[window] for a in arrays], shape


@dataclass(frozen=True)
class Overlap:
    """Where two arrays overlap when the moving one is placed ``start`` whole pixels along
    the reference's grid (reference pixel = moving pixel + ``start``).

    Attributes
    ----------
    reference, moving : tuple of slice
        Each array's part of the overlap: the same shape, pixel for pixel as placed.
    start : numpy.ndarray
        The whole pixels between the arrays as placed (numpy order).
    """

    reference: tuple[slice, ...]
    moving: tuple[slice, ...]
    start: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(s.stop - s.start for s in self.reference)


def placed_overlap(
    reference_shape: Sequence[int], moving_shape: Sequence[int], start: Sequence[int]
) -> Overlap | None:
    """The :class:`Overlap` of two arrays placed ``start`` whole pixels apart, or None when
    they do not overlap. With ``start`` zero it is their common region from pixel 0."""
    start = np.asarray(start, dtype=int)
    ref_window, mov_window = [], []
    for n_ref, n_mov, move in zip(reference_shape, moving_shape, start, strict=True):
        low, high = max(0, int(move)), min(int(n_ref), int(n_mov) + int(move))
        if high <= low:
            return None
        ref_window.append(slice(low, high))
        mov_window.append(slice(low - int(move), high - int(move)))
    return Overlap(reference=tuple(ref_window), moving=tuple(mov_window), start=start)


def describe(layer: Layer) -> str:
    """A short description of a layer's array: name, shape, dtype."""
    data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    return f"{layer.name!r} {tuple(data.shape)} {data.dtype}"


def numbers(values: Sequence[float]) -> str:
    """A layer's scale, translate or factors as the user reads them: ``(0.5, 2)``, not a tuple
    of ``np.float64(...)``."""
    return "(" + ", ".join(f"{float(v):g}" for v in values) + ")"


def viewer_axis_labels(viewer: Any, layer: Layer) -> list[str]:
    """The viewer's axis labels of ``layer``'s axes (its last ``layer.ndim``; an RGB layer's
    channels are not an axis)."""
    return [str(label) for label in list(viewer.dims.axis_labels)[-layer.ndim :]]


def spatial_shape(layer: Image, shape: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` without an RGB layer's channel axis."""
    return tuple(shape[:-1]) if layer.rgb else tuple(shape)


def _choose_level(shapes: Sequence[tuple[int, ...]], budget: int) -> int:
    for index, shape in enumerate(shapes):
        if int(np.prod(shape)) <= budget:
            return index
    return len(shapes) - 1


#: The metadata key that marks a layer as this plugin's output: ``{"output": role, ...}`` naming
#: its sources. A new run on the same sources replaces it, and outputs are not offered as inputs.
OUTPUT_KEY = "napari_imreg_output"


def is_output(layer: Layer) -> bool:
    """Whether a layer was added by this plugin's widgets."""
    return OUTPUT_KEY in layer.metadata


def add_output(viewer: Any, kind: str, data: Any, **kwargs: Any) -> Layer:
    """Add an output layer (``kind`` "image" or "labels") in the place of the previous output
    with the same ``metadata[OUTPUT_KEY]``, which it replaces."""
    index = remove_output(viewer, kwargs["metadata"][OUTPUT_KEY])
    add = viewer.add_labels if kind == "labels" else viewer.add_image
    layer = add(data, **kwargs)
    if index is not None:
        viewer.layers.move(viewer.layers.index(layer), index)
    return layer


def remove_output(viewer: Any, tag: dict[str, str]) -> int | None:
    """Remove the output layers marked ``tag`` (a result they no longer show); return the
    position of the first, or None if there was none."""
    previous = [layer for layer in viewer.layers if layer.metadata.get(OUTPUT_KEY) == tag]
    index = viewer.layers.index(previous[0]) if previous else None
    for layer in previous:
        viewer.layers.remove(layer)
    return index


#: Tooltips of the controls shared by the pair and stack widgets.
COMMON_TOOLTIPS = {
    "_noise": "The 1-sigma noise of the images: estimated from the residual of the fit, "
    "a single value, or (pairs) a per-pixel error layer such as a FITS ERR/VAR extension.",
    "_error_value": "1-sigma noise per pixel, in the image's units.",
    "_auto_upsample": "Sample the Δχ² map finely enough to show the 1, 2 and 3 sigma regions. "
    "The chi2 shift and error do not depend on it.",
    "_upsample": "Samples per pixel of the Δχ² map (chi2) or of the peak search (dft).",
    "_boundary": "auto: wrap when both images are shown to wrap (their opposite edges join "
    "as smoothly as their interior), else overlap; overlap: compare the images only where "
    "they overlap (real images); wrap: treat them as periodic.",
    "_rgb_channel": "RGB layers are registered on one channel or on their luminance.",
}


@contextmanager
def kept_selection(select: Any) -> Iterator[None]:
    """Keep the layers chosen in a multiple-choice list across a refresh of its choices.

    magicgui's list matches its items by their text, the layer's name: the item of a renamed
    layer is replaced by a new, unselected one, so a run after a rename silently lost that
    layer. Layers that left the viewer are dropped from the choice.
    """
    chosen = list(select.value or [])
    yield
    kept = [layer for layer in chosen if layer in select.choices]
    if kept != list(select.value):
        select.value = kept


def set_tooltips(widget: Any, tooltips: dict[str, str]) -> None:
    """Give a widget's controls (attributes named in ``tooltips``) their tooltips; a control
    the widget lacks (an option the core no longer has) is skipped."""
    for name, tip in tooltips.items():
        if hasattr(widget, name):
            getattr(widget, name).tooltip = tip


MaskMode = Literal["mask: ignore the marked pixels", "region of interest: use only these pixels"]
#: How a mask layer is read: its marked pixels (non-zero labels, inside the shapes) are ignored,
#: or they are the only pixels used.
MASK_MODES: tuple[str, ...] = get_args(MaskMode)
#: The metadata key of a Labels layer holding a FITS file's DQ or MASK extension: the
#: ``fits_path`` of the image it belongs to (the widgets use it as that image's mask).
FITS_MASK_KEY = "fits_mask_of"


def mask_grid(
    mask_layer: Layer,
    image: Image,
    shape: tuple[int, ...],
    factor: Sequence[float] | None = None,
    *,
    frame_shape: tuple[int, ...] | None = None,
) -> np.ndarray:
    """The pixels a Labels or Shapes layer marks, on the grid of ``image`` (True = marked).

    ``shape`` is the grid registered (the image's spatial shape) and ``factor`` its multiscale
    step. A Labels layer must have that grid, or ``frame_shape`` (one frame of a stack, for
    every frame), and the image's scale and translate: it is not resampled. A Shapes layer is
    rasterised onto the grid through both layers' transforms, with its last two coordinates:
    a 2-D region, the same in every plane (of ``frame_shape`` if given, else of ``shape``).

    Raises
    ------
    ValueError
        If the layer's grid does not match the image's, naming both.
    """
    from napari.layers import Labels, Shapes

    ndim = len(shape)
    if isinstance(mask_layer, Labels):
        data = mask_layer.data[0] if mask_layer.multiscale else mask_layer.data
        grid = tuple(data.shape)
        n = len(grid)
        same_place = np.allclose(
            np.asarray(mask_layer.scale)[-n:], np.asarray(image.scale)[-n:]
        ) and np.allclose(np.asarray(mask_layer.translate)[-n:], np.asarray(image.translate)[-n:])
        if grid not in (tuple(shape), frame_shape) or not same_place:
            frames = "" if frame_shape is None else f" or one frame {frame_shape}"
            raise ValueError(
                f"The mask {mask_layer.name!r} {grid} (scale {numbers(mask_layer.scale)}) is not "
                f"on the grid of {image.name!r} {tuple(shape)}{frames} (scale "
                f"{numbers(image.scale)}); choose a labels layer of the image's shape and "
                "placement, or a shapes layer."
            )
        if factor is not None and not np.allclose(factor, 1):
            raise ValueError(
                f"{image.name!r} is registered at a coarser multiscale level; a labels mask "
                "needs full resolution. Use a shapes layer as the mask instead."
            )
        return np.asarray(data) != 0
    if isinstance(mask_layer, Shapes):
        if ndim < 2:
            raise ValueError(f"A shapes mask needs a 2-D image; {image.name!r} has {ndim} axes.")
        step = np.ones(2) if factor is None else np.asarray(factor, dtype=float)[-2:]
        vertices = []
        for shape_data in mask_layer.data:
            world = [mask_layer.data_to_world(v) for v in shape_data]
            pixels = np.array([image.world_to_data(w) for w in world], dtype=float)
            vertices.append(pixels[:, -2:] / step)
        plane = np.zeros(shape[-2:], dtype=bool)
        if vertices:
            flat = Shapes(vertices, shape_type=list(mask_layer.shape_type))
            plane = np.any(flat.to_masks(mask_shape=shape[-2:]), axis=0)
        return np.broadcast_to(plane, shape if frame_shape is None else frame_shape)
    raise ValueError(f"{mask_layer.name!r} is not a labels or shapes layer; it cannot be a mask.")


def ignored_pixels(marked: np.ndarray, mode: str) -> np.ndarray:
    """The core's mask (True = ignore) from the marked pixels and the mask mode."""
    return marked if mode == MASK_MODES[0] else ~marked


def fits_mask_layer(viewer: Any, image: Layer) -> Layer | None:
    """The Labels layer holding the DQ/MASK extension of the FITS file ``image`` came from
    (of the same ``EXTVER``, for files with several SCI/DQ sets), or None."""
    from napari.layers import Labels

    path = image.metadata.get("fits_path")
    if path is None or isinstance(image, Labels):
        return None
    version = _extver(image)
    return next(
        (
            layer
            for layer in viewer.layers
            if isinstance(layer, Labels)
            and layer.metadata.get(FITS_MASK_KEY) == path
            and _extver(layer) == version
        ),
        None,
    )


def _extver(layer: Layer) -> Any:
    header = layer.metadata.get("fits_header")
    return 1 if header is None else header.get("EXTVER", 1)
