"""N-dimensional FFT convolution, smoothing kernels and block downsampling.

These are the generic array tools behind the drop-in ``fft_tools.convolve_nd``,
``fft_tools.smooth_tools`` and ``fft_tools.downsample`` modules. They work for any
number of dimensions, never modify their inputs, and keep ``float32`` as ``float32``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.special

__all__ = [
    "block_reduce",
    "convolve_fft",
    "correlate_fft",
    "fill_invalid",
    "grid_sums",
    "make_kernel",
]

logger = logging.getLogger(__name__)

_BOUNDARIES = ("fill", "wrap")
#: The Gaussian width (pixels) of :func:`fill_invalid`'s average at each level.
FILL_SIGMA = 2.0
_KERNELS = ("gaussian", "boxcar", "tophat", "airy", "brickwall", "trapezoid")


def _float_dtype(*arrays: np.ndarray) -> np.dtype:
    """float32 if every input is float32 (or smaller), float64 otherwise."""
    if all(a.dtype in (np.float32, np.float16) for a in arrays):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _as_real_array(value, name: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must be a real numeric array, got dtype {array.dtype}; "
            "pass the real part (np.real) or a float array."
        )
    if array.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension, got a scalar {array!r}.")
    return array


def convolve_fft(
    array,
    kernel,
    *,
    boundary: Literal["fill", "wrap"] = "fill",
    fill_value: float = 0.0,
    normalize_kernel: bool | Callable[[np.ndarray], float] = False,
    nan_treatment: Literal["fill", "interpolate"] = "fill",
    ignore_edge: bool = False,
    min_weight: float = 0.0,
) -> np.ndarray:
    """Convolve an N-D array with an N-D kernel through FFTs.

    Parameters
    ----------
    array : array_like
        The data, any number of dimensions. NaNs are treated according to
        `nan_treatment`.
    kernel : array_like
        The kernel, with the same number of dimensions as `array`. Its origin is the
        element at index ``size // 2`` along each axis (the centre of an odd-sized
        kernel), as in :func:`scipy.ndimage.convolve`.
    boundary : {"fill", "wrap"}, keyword-only
        ``"fill"`` treats the data outside `array` as `fill_value` (the array is
        zero-padded by the kernel size, so nothing wraps around); ``"wrap"`` treats
        the data as periodic.
    fill_value : float, keyword-only
        The value outside the array for ``boundary="fill"``.
    normalize_kernel : bool or callable, keyword-only
        ``True`` divides the kernel by its sum; a callable ``f`` divides it by
        ``f(kernel)``; ``False`` uses the kernel as given.
    nan_treatment : {"fill", "interpolate"}, keyword-only
        ``"fill"`` counts NaNs as zero; ``"interpolate"`` leaves them out and
        renormalises by the kernel weight that fell on valid data (only when the
        kernel sums to one; otherwise the NaNs count as zero).
    ignore_edge : bool, keyword-only
        With ``boundary="fill"``, leave the padding out of the kernel weight, as for
        NaNs (only when the kernel sums to one).
    min_weight : float, keyword-only
        With renormalisation, output points whose valid kernel weight is below this
        value become NaN; with the default 0, points with no valid weight at all
        become 0.

    Returns
    -------
    numpy.ndarray
        The convolution, with the shape of `array`; float32 for a float32 `array`,
        float64 otherwise.

    Raises
    ------
    ValueError
        If the dimensions differ, or `boundary`/`nan_treatment` is unknown.
    TypeError
        If an input is not real-valued.

    Notes
    -----
    The result is ``out[i] = sum_j a[i - j + c] k[j]`` with ``c = k.shape // 2``,
    evaluated as ``ifft(fft(a) * fft(k))`` on a grid padded by the kernel size (for
    ``"fill"``) or on the array's own grid (for ``"wrap"``). With renormalisation,
    the result is divided by the convolution of the validity mask with the
    normalised kernel, which is how NaNs are interpolated over.

    Examples
    --------
    >>> convolve_fft([1.0, 0.0, 3.0], [1.0, 1.0, 1.0])
    array([1., 4., 3.])
    """
    data = _as_real_array(array, "array")
    kern = _as_real_array(kernel, "kernel")
    if data.ndim != kern.ndim:
        raise ValueError(
            f"kernel must have as many dimensions as array: array.ndim={data.ndim}, "
            f"kernel.ndim={kern.ndim}; reshape the kernel (e.g. kernel[None, :])."
        )
    if boundary not in _BOUNDARIES:
        raise ValueError(
            f"boundary must be one of {_BOUNDARIES}, got {boundary!r}; 'fill' pads "
            "with fill_value, 'wrap' is periodic."
        )
    if nan_treatment not in ("fill", "interpolate"):
        raise ValueError(f"nan_treatment must be 'fill' or 'interpolate', got {nan_treatment!r}.")
    dtype = _float_dtype(data)
    data = data.astype(np.float64)
    kern = kern.astype(np.float64)

    nan_mask = np.isnan(data)
    if np.isnan(kern).any():
        kern = np.where(np.isnan(kern), 0.0, kern)
    if nan_mask.any():
        data = np.where(nan_mask, 0.0, data)

    if normalize_kernel is True:
        kern = kern / kern.sum()
    elif callable(normalize_kernel):
        kern = kern / normalize_kernel(kern)
    kernel_sum = kern.sum()
    normalized = bool(abs(kernel_sum - 1.0) < 1e-8)
    renormalize = normalized and (
        (nan_treatment == "interpolate" and bool(nan_mask.any()))
        or (ignore_edge and boundary == "fill")
    )

    if boundary == "fill":
        padded = tuple(
            scipy.fft.next_fast_len(n + m, real=True)
            for n, m in zip(data.shape, kern.shape, strict=True)
        )
    else:
        padded = tuple(max(n, m) for n, m in zip(data.shape, kern.shape, strict=True))
    axes = tuple(range(data.ndim))

    def placed(values: np.ndarray, fill: float) -> np.ndarray:
        big = np.full(padded, fill, dtype=np.float64)
        big[tuple(slice(0, n) for n in values.shape)] = values
        return big

    # the kernel's origin (index size // 2) goes to index 0 of the periodic grid
    big_kernel = np.zeros(padded)
    big_kernel[tuple(slice(0, m) for m in kern.shape)] = kern
    big_kernel = np.roll(big_kernel, tuple(-(m // 2) for m in kern.shape), axis=axes)
    kernel_ft = scipy.fft.rfftn(big_kernel, axes=axes)

    fill = fill_value if boundary == "fill" else 0.0
    result = scipy.fft.irfftn(
        scipy.fft.rfftn(placed(data, fill), axes=axes) * kernel_ft, padded, axes=axes
    )
    crop = tuple(slice(0, n) for n in data.shape)
    result = result[crop]

    if renormalize:
        valid = (~nan_mask).astype(np.float64) if nan_treatment == "interpolate" else None
        if valid is None:
            valid = np.ones(data.shape)
        edge_fill = 0.0 if ignore_edge else 1.0
        weight = scipy.fft.irfftn(
            scipy.fft.rfftn(placed(valid, edge_fill), axes=axes) * kernel_ft / kernel_sum,
            padded,
            axes=axes,
        )[crop]
        weight[weight < 1e-12] = 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            result = result / weight
        if min_weight > 0:
            result[weight < min_weight] = np.nan
        else:
            result[weight == 0] = 0.0
    elif nan_mask.any():
        logger.debug("convolve_fft: %d NaNs counted as zero", int(nan_mask.sum()))
    return result.astype(dtype, copy=False)


def correlate_fft(first, second, *, boundary: Literal["fill", "wrap"] = "wrap", **options):
    """Cross-correlate two N-D arrays through FFTs, zero shift at the centre.

    Parameters
    ----------
    first, second : array_like
        Arrays with the same number of dimensions.
    boundary : {"fill", "wrap"}, keyword-only
        As in :func:`convolve_fft`.
    **options
        Other keyword options of :func:`convolve_fft`.

    Returns
    -------
    numpy.ndarray
        ``out[c + s] = sum_x first(x + s) second(x)`` with ``c = (n - 1) // 2`` per axis,
        for arrays of equal shape; the shape of `first`.

    Notes
    -----
    This is the convolution of `first` with `second` reversed along every axis.

    Examples
    --------
    >>> out = correlate_fft([0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0])
    >>> int(np.argmax(out)) - (4 - 1) // 2
    1
    """
    second = np.asarray(second)
    flipped = second[(slice(None, None, -1),) * second.ndim] if second.ndim else second
    return convolve_fft(first, flipped, boundary=boundary, **options)


def make_kernel(
    shape: Sequence[int],
    *,
    width: float = 3.0,
    kind: Literal["gaussian", "boxcar", "tophat", "airy", "brickwall", "trapezoid"] = "gaussian",
    slope: float | None = None,
    normalize: Callable[[np.ndarray], float] | None = np.sum,
) -> np.ndarray:
    """Build a centred N-D smoothing kernel.

    Parameters
    ----------
    shape : sequence of int
        The kernel shape; its length sets the number of dimensions. The centre is the
        element at index ``size // 2`` along each axis, the origin used by
        :func:`convolve_fft`, so smoothing with any of these kernels does not move
        the image.
    width : float, keyword-only
        ``"gaussian"``: the standard deviation in pixels; ``"boxcar"``: the side of
        the box; ``"tophat"``, ``"trapezoid"``: the radius of the flat part;
        ``"airy"``/``"brickwall"``: the radial scale of the Airy pattern
        ``J1(r / width) / (r / width)``.
    kind : str, keyword-only
        The kernel profile, one of ``"gaussian"``, ``"boxcar"``, ``"tophat"``,
        ``"airy"``, ``"brickwall"``, ``"trapezoid"``.
    slope : float, keyword-only
        The slope of the trapezoid's sides (value per pixel); required for
        ``"trapezoid"``.
    normalize : callable or None, keyword-only
        The kernel is divided by ``normalize(kernel)``; the default makes it sum to
        one. ``None`` leaves the peak at one.

    Returns
    -------
    numpy.ndarray
        float64 array of `shape`.

    Raises
    ------
    ValueError
        For an unknown `kind`, a non-positive `width`, or a trapezoid without slope.

    Examples
    --------
    >>> k = make_kernel((5, 5), width=1.0)
    >>> float(k.sum()), np.unravel_index(k.argmax(), k.shape)
    (1.0, (np.int64(2), np.int64(2)))
    """
    if kind not in _KERNELS:
        raise ValueError(f"kind must be one of {_KERNELS}, got {kind!r}.")
    if not np.isfinite(width) or width <= 0:
        raise ValueError(f"width must be a positive number of pixels, got {width!r}.")
    shape = tuple(int(n) for n in shape)
    if not shape or min(shape) < 1:
        raise ValueError(f"shape must be a non-empty sequence of positive sizes, got {shape!r}.")
    grids = np.meshgrid(*[np.arange(n) - n // 2 for n in shape], indexing="ij", sparse=True)
    radius = np.sqrt(sum(g.astype(float) ** 2 for g in grids))
    if kind == "gaussian":
        kernel = np.exp(-(radius**2) / (2.0 * width**2))
    elif kind == "boxcar":
        side = max(int(np.round(width)), 1)
        kernel = np.ones(shape)
        for g in grids:
            kernel = kernel * ((g >= -(side // 2)) & (g < (side + 1) // 2))
    elif kind == "tophat":
        kernel = (radius < width).astype(float)
    elif kind in ("airy", "brickwall"):
        scaled = radius / width
        with np.errstate(invalid="ignore", divide="ignore"):
            kernel = np.where(scaled == 0, 0.5, scipy.special.j1(scaled) / scaled)
    else:
        if slope is None:
            raise ValueError(
                "kind='trapezoid' needs slope (value drop per pixel outside the flat "
                "radius), e.g. slope=0.1."
            )
        kernel = np.clip(1.0 - (radius - width) * slope, 0.0, 1.0)
        kernel[radius < width] = 1.0
    kernel = np.broadcast_to(kernel, shape).astype(np.float64)
    if normalize is not None:
        norm = normalize(kernel)
        if norm == 0:
            raise ValueError(
                f"the {kind} kernel of shape {shape} and width {width} is all zero; "
                "use a larger width or shape."
            )
        kernel = kernel / norm
    return kernel


def block_reduce(
    array,
    factor: int | Sequence[int],
    *,
    func: Callable[..., np.ndarray] = np.nanmean,
    axes: Sequence[int] | None = None,
    pad: bool = False,
) -> np.ndarray:
    """Downsample an N-D array by reducing non-overlapping blocks.

    Parameters
    ----------
    array : array_like
        The data.
    factor : int or sequence of int
        Block size along each reduced axis (one value for all axes, or one per axis).
    func : callable, keyword-only
        Reduction applied over each block, called as ``func(blocks, axis=...)``;
        the default is :func:`numpy.nanmean`.
    axes : sequence of int, keyword-only
        The axes to reduce; default all.
    pad : bool, keyword-only
        If the length is not a multiple of the factor, ``False`` drops the trailing
        partial block and ``True`` pads it with NaN (so ``nanmean`` averages the
        pixels that exist).

    Returns
    -------
    numpy.ndarray
        The reduced array; each reduced axis has length ``n // factor`` (or
        ``ceil(n / factor)`` with `pad`).

    Raises
    ------
    ValueError
        If a factor is not a positive integer or an axis is out of range.

    Examples
    --------
    >>> block_reduce(np.arange(6.0).reshape(2, 3), 2)
    array([[2.]])
    """
    data = np.asarray(array)
    if data.ndim == 0:
        raise ValueError("array must have at least one dimension, got a scalar.")
    if axes is None:
        axes = tuple(range(data.ndim))
    else:
        axes = tuple(int(a) for a in np.atleast_1d(axes))
        for axis in axes:
            if not -data.ndim <= axis < data.ndim:
                raise ValueError(f"axes contains {axis}, out of range for a {data.ndim}-D array.")
        axes = tuple(a % data.ndim for a in axes)
    factors = np.broadcast_to(np.atleast_1d(factor), (len(axes),))
    per_axis = {}
    for axis, f in zip(axes, factors, strict=True):
        if int(f) != f or f < 1:
            raise ValueError(
                f"factor must be a positive integer (per axis), got {factor!r}; use e.g. factor=2."
            )
        per_axis[axis] = int(f)
    if pad and data.dtype.kind not in "fc":
        data = data.astype(np.float64)
    slices = []
    pad_width = []
    for axis, n in enumerate(data.shape):
        f = per_axis.get(axis, 1)
        extra = (-n) % f
        if pad:
            pad_width.append((0, extra))
            slices.append(slice(None))
        else:
            pad_width.append((0, 0))
            slices.append(slice(0, n - n % f))
    data = data[tuple(slices)]
    if pad and any(p[1] for p in pad_width):
        data = np.pad(data, pad_width, constant_values=np.nan)
    new_shape = []
    reduce_axes = []
    for axis, n in enumerate(data.shape):
        f = per_axis.get(axis, 1)
        if axis in per_axis:
            new_shape.extend([n // f, f])
            reduce_axes.append(len(new_shape) - 1)
        else:
            new_shape.append(n)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
        return func(data.reshape(new_shape), axis=tuple(reduce_axes))


def grid_sums(values: np.ndarray, block: int) -> np.ndarray:
    """Sum over blocks of ``block`` along every axis but the last, keeping the grid shape."""
    ndim = values.ndim - 1
    pad = [(0, (-n) % block) for n in values.shape[:-1]] + [(0, 0)]
    padded = np.pad(values, pad) if any(h for _, h in pad) else values
    shape = []
    for n in padded.shape[:-1]:
        shape += [n // block, block]
    summed = padded.reshape([*shape, values.shape[-1]])
    return summed.sum(axis=tuple(range(1, 2 * ndim, 2)))


def fill_invalid(image, valid, *, sigma: float = FILL_SIGMA) -> np.ndarray:
    """``image`` with its invalid pixels filled from their valid neighbours.

    A pull-push fill (Gortler et al. 1996): each invalid pixel takes the Gaussian
    average of ``sigma`` pixels over the valid pixels around it, and the share of
    the Gaussian's weight that falls on invalid pixels from the same fill made on
    the image binned 2x (each bin the mean of its valid pixels), interpolated back
    linearly. Each level doubles the reach at a fraction of the cost, so holes of
    any size are filled, and the fill is continuous: a pixel next to a hole takes
    mostly its neighbours, one deep inside it the coarse levels. A hole's sharp
    edge (a zeroed pixel next to a bright one) rings through any interpolation that
    reaches across it, a cubic spline's prefilter or a Fourier shift; the filled
    hole continues the image smoothly.

    Parameters
    ----------
    image : array_like
        Any dimension; invalid pixels may hold anything (NaN too).
    valid : array_like of bool
        True where ``image`` is to be kept.
    sigma : float
        Width of the Gaussian, pixels (at every level).

    Returns
    -------
    numpy.ndarray
        float64; the valid pixels as given (``image`` itself when all are valid,
        zeros when none is: there is nothing to fill from).

    Examples
    --------
    >>> image = np.array([2.0, np.nan, np.nan, 2.0, 2.0])
    >>> fill_invalid(image, np.isfinite(image)).tolist()
    [2.0, 2.0, 2.0, 2.0, 2.0]
    """
    valid = np.asarray(valid, dtype=bool)
    if valid.all():
        return image
    if not valid.any():
        return np.zeros(valid.shape)
    kept = np.where(valid, image, 0.0)
    support = scipy.ndimage.gaussian_filter(valid.astype(np.float64), sigma, mode="nearest")
    local = scipy.ndimage.gaussian_filter(kept, sigma, mode="nearest")
    holes = ~valid
    # The weight that fell on invalid pixels goes to the coarser fill.
    missing = np.clip(1.0 - support[holes], 0.0, 1.0)
    kept[holes] = local[holes] + missing * _coarse_fill(kept, valid, sigma)
    return kept


def _coarse_fill(kept, valid, sigma) -> np.ndarray:
    """:func:`fill_invalid` of the image binned 2x along every axis (each bin the
    mean of its valid pixels, valid where it has one), linearly interpolated at
    the invalid pixels (in ``np.nonzero`` order)."""
    pad = [(0, n % 2) for n in valid.shape]
    sums = block_reduce(np.pad(kept, pad), 2, func=np.sum)
    counts = block_reduce(np.pad(valid.astype(np.float64), pad), 2, func=np.sum)
    binned = fill_invalid(sums / np.maximum(counts, 1.0), counts > 0, sigma=sigma)
    # Pixel i's centre lies at (i - 0.5) / 2 on the binned grid.
    points = (np.array(np.nonzero(~valid), dtype=np.float64) - 0.5) / 2.0
    return scipy.ndimage.map_coordinates(binned, points, order=1, mode="nearest")
