"""Preparing the images: masks, invalid pixels, filtering, weights, whole-pixel moves, binning."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.ndimage

from . import _fft
from ._axis_messages import AXES, AxisValueError
from ._chi2 import outer_product
from ._filter import smooth
from ._filters import fill_invalid
from ._rows import block_rows
from ._taper import Taper

#: Width, in pixels, of the cosine taper at the edges of the weights (overlap mode).
TAPER_WIDTH = 8
#: Pixels past both tapers that keep an interior residual clear of the edges' leaks
#: (see ``taper_interior``).
INTERIOR_MARGIN = 8
#: The shortest axis the overlap mode registers (pixels).
MIN_AXIS = 4
#: When the filter's box would keep under 1/SCATTERED of the valid pixels (scattered
#: invalid ones: every 5 x 5 box holds one), they are filled from their neighbours
#: first. With 3-5% of the pixels masked at random in both images (a half to a
#: quarter kept) the erosion alone stays calibrated (pull rms 0.84-0.86 on 24 binned
#: real pairs); at 8% it gave 2.25 with a miss, at 15% 5 of 24 pairs measured and
#: pulls of 11-20 when only the moving image was masked (scratch masks4.py).
SCATTERED = 4
#: Width (pixels) of the fill of scattered pixels: each takes its nearest neighbours
#: (the fill's default of 2 px blurred more: NaN on every other pixel of the moving
#: image gave pull rms 1.49 and 2 misses in 24, against 1.00 and 1).
SCATTERED_FILL_SIGMA = 0.7
#: Gaussian sigma, in pixels, of the smoothing that turns a noise map into the
#: variance the weights use (see ``modelled_error``): weights this smooth bias
#: neither through the noise nor through the surface's interpolation (2 px
#: left 1.7x the scalar scatter on periodic Poisson pairs; 4 px matched it).
VARIANCE_SMOOTHING = 4.0
#: An error this many times a map's median marks a bad pixel: it is ignored, as NaN
#: is. Its weight would be a millionth of its neighbours', but its value (often
#: garbage) would still move through the interpolated surface, and a smoothed
#: variance would spread the flag over its neighbours.
FLAGGED = 1000.0
MEDIAN_SAMPLE = 4096
#: Axes this long or longer stay zero over 1/``LONG_EDGE`` of their length at each end
#: in overlap mode (see ``overlap_taper``).
LONG_AXIS = 1024
LONG_EDGE = 128


def overlap_taper(n: int, filter_margin: int) -> Taper:
    """The weight profile of an axis in overlap mode: zero over the filter's margin,
    then a raised-cosine ramp, ``TAPER_WIDTH`` pixels together.

    Axes of ``LONG_AXIS`` pixels or more stay zero over ``n // LONG_EDGE`` pixels
    (under 1% of the axis at each end): on the large-image road the cross term of a
    shift up to twice that, less the room the search needs, then needs no padding
    (``cross_padding``), and its FFTs keep the image's own size, a power of two
    for the usual sizes.
    """
    taper = Taper.for_axis(n, TAPER_WIDTH, filter_margin)
    if n >= LONG_AXIS:
        taper = Taper(n, taper.width, max(taper.margin, n // LONG_EDGE))
    return taper


def taper_interior(tapers, shift, margin: int = INTERIOR_MARGIN) -> tuple[slice, ...] | None:
    """The pixels ``margin`` or more past both images' ``tapers`` (one per axis)
    when the moving one is moved by ``shift``; None when an axis keeps fewer than
    ``margin`` of them (a thin image's short axis is all taper)."""
    reach = np.ceil(np.abs(shift)).astype(int)
    inside = []
    for taper, k in zip(tapers, reach, strict=True):
        start = taper.margin + taper.width + margin + k
        if taper.n - 2 * start < margin:
            return None
        inside.append(slice(start, taper.n - start))
    return tuple(inside)


def materialize(weight, shape, *, ones: bool = True):
    """A weight as a full array (``ones``: None becomes an array of ones)."""
    if weight is None:
        return np.ones(shape) if ones else None
    return outer_product(weight) if isinstance(weight, list) else weight


def zero_edges(values: np.ndarray, margins) -> np.ndarray:
    """``values`` with the outer ``margins`` pixels of each axis set to zero (in place):
    there the filter reached outside the image."""
    for axis, (n, m) in enumerate(zip(values.shape, margins, strict=True)):
        edge = [slice(None)] * values.ndim
        edge[axis] = np.r_[0:m, n - m : n]
        values[tuple(edge)] = 0.0
    return values


#: :func:`bin_blocks`' blocks of rows, in blocks of the other passes (``block_rows``):
#: 2048² by 16 15.5 -> 11.7 ms, by 4 9.3 -> 7.3 ms (one thread; 1, 2, 4, 8 tried).
BIN_BLOCKS = 4


def bin_blocks(values: np.ndarray, factors) -> np.ndarray:
    """Means of blocks of ``factors`` pixels along each axis (a last partial block dropped).

    Each axis is summed as its ``f`` interleaved slices, the last axis first:
    numpy reduces a short inner axis far more slowly than it adds arrays. A large
    array is summed a few whole blocks of rows at a time, so that the slices of
    each are read from cache (the same additions in the same order). The blocks are
    :data:`BIN_BLOCKS` of the other passes' (``block_rows``): each costs ``2 f``
    small additions whose calls, not the reading, bounded the smaller blocks.
    """
    values = values[tuple(slice(0, n - n % f) for n, f in zip(values.shape, factors, strict=True))]
    step = int(factors[0])
    rows = max(1, BIN_BLOCKS * block_rows(values) // step) * step
    if rows >= values.shape[0]:
        return _block_sums(values, factors) / float(np.prod(factors))
    out = np.empty([n // int(f) for n, f in zip(values.shape, factors, strict=True)])
    for start in range(0, values.shape[0], rows):
        out[start // step : (start + rows) // step] = _block_sums(
            values[start : start + rows], factors
        )
    return np.divide(out, float(np.prod(factors)), out=out)


def _block_sums(values: np.ndarray, factors) -> np.ndarray:
    """Sums of blocks of ``factors`` pixels (every axis a whole number of blocks)."""
    out = values
    for axis in reversed(range(values.ndim)):
        f = factors[axis]
        if f > 1:
            parts = [out[(slice(None),) * axis + (slice(i, None, f),)] for i in range(f)]
            out = np.add(parts[0], parts[1], dtype=np.float64)
            for part in parts[2:]:
                out += part
    return out


def box_eroded(valid: np.ndarray, sizes, *, outside: bool = False) -> np.ndarray:
    """``valid`` (bool) eroded by a box of ``sizes`` pixels per axis (odd): True where
    the whole box around a pixel is valid, pixels outside the array counting as
    ``outside``.

    The box is the product of one run per axis, so the erosion is one run after
    another (exactly ``scipy.ndimage.binary_erosion`` with a box and
    ``border_value=outside``), each an AND of the axis' shifted slices: a few fast
    passes where the generic erosion visits the box at every pixel (2 ms against
    65 ms for a 5 x 5 box on 2048 x 2048). ``~box_eroded(~mask, sizes,
    outside=True)`` is the dilation of ``mask`` by the box.
    """
    out = np.array(valid, dtype=bool)
    for axis, size in enumerate(sizes):
        half, n = size // 2, out.shape[axis]
        if half == 0:
            continue
        source = out.copy()

        def cut(start, stop, axis=axis):
            return tuple(slice(start, stop) if a == axis else slice(None) for a in range(out.ndim))

        for j in range(1, min(half, n - 1) + 1):
            out[cut(j, None)] &= source[cut(None, n - j)]
            out[cut(None, n - j)] &= source[cut(j, None)]
        if not outside:
            out[cut(None, half)] = False
            out[cut(max(0, n - half), None)] = False
    return out


def move(values: np.ndarray, offsets, *, wrap: bool) -> np.ndarray:
    """``values`` moved by whole pixels (content to higher indices), periodic or zero-filled."""
    if wrap:
        return np.roll(values, tuple(offsets), axis=tuple(range(values.ndim)))
    out = np.zeros_like(values)
    target = []
    source = []
    for n, k in zip(values.shape, offsets, strict=True):
        k = int(np.clip(k, -n, n))
        target.append(slice(max(k, 0), n + min(k, 0)))
        source.append(slice(max(-k, 0), n - max(k, 0)))
    out[tuple(target)] = values[tuple(source)]
    return out


def unknown_pixels(error: np.ndarray) -> np.ndarray:
    """The pixels of a noise map to ignore: NaN, or ``FLAGGED`` times its median
    (of up to ``MEDIAN_SAMPLE`` pixels evenly spread: a threshold needs no more)."""
    known = np.isfinite(error)
    values = error[known]
    values = values[:: max(1, values.size // MEDIAN_SAMPLE)]
    with np.errstate(invalid="ignore"):
        return ~known | (error > FLAGGED * float(np.median(values)))


def ignore_unknown_noise(mask, error):
    """Add the pixels whose noise map is NaN or flags them (``FLAGGED``) to ``mask``
    (True: ignore)."""
    if not isinstance(error, np.ndarray):
        return mask
    unknown = unknown_pixels(error)
    if not unknown.any():
        return mask
    return unknown if mask is None else mask | unknown


def edge_fill(image: np.ndarray) -> np.ndarray | None:
    """The fill at the image's edges, which is not data: True where a pixel holds a
    value that no pixel outside such runs holds and that is reached from an edge by a
    run of that value along an axis, where these pixels hold a whole line across the
    image or a solid block (:func:`_solid`); None where there is none.

    An image resampled or padded before it came here (a reprojected exposure, a
    stitched tile, either image moved onto a common grid) carries a fill value
    where it had no data: bands along its edges, wedges at its corners where a
    turned footprint was put on a square grid. Fill at the same place in both images
    is a sharp edge that does not move with the scene, and it pulls the match to no
    shift (zero-filled 2-8 px borders on real pairs: 0.4-0.55 px off at up to 155
    sigma; zero corner wedges in both: 0.22-0.43 px rms, 5 of 72 beyond 4 sigma).
    A value found elsewhere is a level of the scene (a dark sky clipped at zero, or
    photon counts of zero, recur inside the image and are kept), and so is a
    constant image, and so is a rare level of integer data found only in a few
    neighbouring edge pixels.
    """
    values = np.asarray(image)
    candidates = _repeated_edge_values(values)
    candidates = [v for v in candidates if _lattice_reaches_edges(values, v)]
    if not candidates:  # the usual case, noise in every edge pixel: no full-size work
        return None
    fill = np.zeros(values.shape, dtype=bool)
    for value in candidates:
        held = values == value
        runs = _runs_from_edges(held)
        if not runs.all() and np.count_nonzero(runs) == np.count_nonzero(held) and _solid(runs):
            fill |= runs
    return fill if fill.any() else None


def _repeated_edge_values(values: np.ndarray) -> np.ndarray:
    """The finite values of the edge pixels that have a neighbour of their own value,
    along the edge or inwards: fill can start nowhere else."""
    found = []
    for axis, n in enumerate(values.shape):
        if n < 2:
            continue
        for index, inward in ((0, 1), (n - 1, n - 2)):
            edge = np.take(values, index, axis=axis)
            found.append(edge[edge == np.take(values, inward, axis=axis)])
            for along in range(edge.ndim):
                line = np.moveaxis(edge, along, 0)  # a view: neighbours along the edge
                found.append(line[:-1][line[:-1] == line[1:]])
    found = np.unique(np.concatenate([f.ravel() for f in found])) if found else np.array([])
    return found[np.isfinite(found)]


def _lattice_reaches_edges(values: np.ndarray, value) -> bool:
    """Whether every pixel of a coarse lattice (about 4096 pixels) that holds ``value``
    reaches an edge through pixels of it along some axis: a cheap refusal of a level
    of the scene (a clipped background recurs inside, away from any edge)."""
    step = max(1, round((values.size / 4096) ** (1 / values.ndim)))
    lattice = values[(slice(None, None, step),) * values.ndim]
    for point in np.argwhere(lattice == value) * step:
        if not any(
            np.all(line == value)
            for axis in range(values.ndim)
            for line in _lines_to_edges(values, tuple(point), axis)
        ):
            return False
    return True


def _lines_to_edges(values: np.ndarray, point: tuple, axis: int):
    """The pixels from ``point`` to either end of its line along ``axis``."""
    before = (*point[:axis], slice(0, point[axis] + 1), *point[axis + 1 :])
    after = (*point[:axis], slice(point[axis], None), *point[axis + 1 :])
    return values[before], values[after]


def _solid(region: np.ndarray) -> bool:
    """Whether ``region`` holds a whole line across the image (a band, a dead column)
    or a block two pixels wide along every axis: more than a rare level of integer
    data sitting by chance in a few neighbouring edge pixels (photon counts do that
    in about one image of ten)."""
    if any(region.all(axis=axis).any() for axis in range(region.ndim)):
        return True
    block = region
    for axis in range(region.ndim):
        pairs = np.moveaxis(block, axis, 0)  # a view: both pixels of each pair held
        block = np.moveaxis(pairs[:-1] & pairs[1:], 0, axis)
    return bool(block.any())


def _runs_from_edges(held: np.ndarray) -> np.ndarray:
    """True where a pixel is reached from an edge through ``held`` pixels along an axis."""
    runs = np.zeros(held.shape, dtype=bool)
    for axis in range(held.ndim):
        runs |= _held_from_start(held, axis)
        runs |= np.flip(_held_from_start(np.flip(held, axis), axis), axis)
    return runs


def _held_from_start(held: np.ndarray, axis: int) -> np.ndarray:
    """True where every pixel from the start of its line along ``axis`` is held.

    Along the last axis numpy's accumulate is quick; along the others it walks one
    line at a time (22 ms at 2048²), so the planes are combined in turn (1.2 ms).
    """
    if axis == held.ndim - 1:
        return np.logical_and.accumulate(held, axis=axis)
    out = np.array(held)
    planes = np.moveaxis(out, axis, 0)
    for index in range(1, planes.shape[0]):
        np.logical_and(planes[index - 1], planes[index], out=planes[index])
    return out


def set_aside(mask, error, image):
    """``mask`` (True: ignore) with the pixels whose noise map ``error`` flags
    (:func:`ignore_unknown_noise`) and the fill at the image's edges (:func:`edge_fill`)."""
    mask = ignore_unknown_noise(mask, error)
    fill = edge_fill(image)
    if fill is None:
        return mask
    return fill if mask is None else mask | fill


def modelled_error(error, *, wrap: bool, smooth: float = VARIANCE_SMOOTHING):
    """A per-pixel noise map as the weights use it: its variance smoothed in the
    image's own frame (scalars and None unchanged).

    Weights read from a map made from the noisy data (Poisson: ``sqrt(counts)``)
    are high where the counts fluctuated low, so the weighted chi2 lines up the
    fluctuations and the shift is biased; weights that vary from pixel to pixel
    also bias the interpolated surface, whose terms are shifted one by one
    (docs/how-it-works.md, "Noise maps"). The smoothed variance is what the noise
    would be at the model: a pixel's own fluctuation enters its weight by the
    Gaussian's peak, ``1 / (2 pi smooth**2)`` in 2-D (1% at 4 px), and the map's
    structure (a brighter star, a noisier region) stays on scales beyond ``smooth``.
    Pixels whose error is NaN or flags them (``FLAGGED``) are smoothed from the
    known pixels near them, so no unknown value reaches the weights; the caller
    masks them first (``ignore_unknown_noise``).

    Parameters
    ----------
    error : None, float or numpy.ndarray
        The validated error (see ``check_error``): positive where finite.
    wrap : bool
        Smooth periodically (``boundary="wrap"``); else the image's edges bound it.
    smooth : float
        The Gaussian's sigma, pixels.

    Returns
    -------
    None, float or numpy.ndarray
        The error whose square is the smoothed variance (float64, finite).
    """
    if not isinstance(error, np.ndarray):
        return error
    known = ~unknown_pixels(error)
    variance = np.where(known, np.square(error), 0.0)
    mode = "wrap" if wrap else "constant"
    total = scipy.ndimage.gaussian_filter(variance, smooth, mode=mode)
    if known.all() and wrap:
        model = total
    else:
        # Normalised convolution: the mean of the known pixels near each pixel (with
        # every pixel known, the share is the product of the axes' edge profiles).
        if known.all():
            share = outer_product(
                [
                    scipy.ndimage.gaussian_filter1d(np.ones(n), smooth, mode=mode)
                    for n in error.shape
                ]
            )
        else:
            share = scipy.ndimage.gaussian_filter(known.astype(np.float64), smooth, mode=mode)
        with np.errstate(divide="ignore", invalid="ignore"):
            model = total / share
        far = ~(share > 1e-6)  # nothing known nearby: the map's mean
        if far.any():
            model[far] = float(np.mean(variance[known]))
    return np.sqrt(model)


def split_mask(mask, shape):
    if mask is None:
        return None, None
    if isinstance(mask, tuple | list) and len(mask) == 2 and np.ndim(mask[0]) == len(shape):
        return mask[0], mask[1]
    return mask, mask


def check_mask(mask, shape, name):
    if mask is None:
        return None
    array = np.asarray(mask)
    if array.dtype != bool:
        raise TypeError(
            f"{name} must be a boolean array (True marks pixels to ignore), got {array.dtype}."
        )
    if array.shape != tuple(shape):
        raise ValueError(
            f"{name} has shape {array.shape} but the images have shape {tuple(shape)}."
        )
    return array


def check_overlap_axes(shape, margins, name: str) -> None:
    """Refuse an axis too short for the overlap mode: its taper needs two pixels inside
    the filter's edges (``margins``), and a shift of one pixel must leave an overlap."""
    for axis, (n, m) in enumerate(zip(shape, margins, strict=True)):
        needed = max(MIN_AXIS, 2 * m + 2)
        if n < needed:
            colour = " (a colour image? register one channel, or its luminance)"
            raise AxisValueError(
                f"{name} is too small to register without wrapping: {AXES} has {n} "
                f"pixel(s), and it needs {needed} (the filter's edges take {2 * m}). Register "
                "with boundary='wrap', or drop the axis (e.g. image[0] for a 1 x N image)"
                f"{colour if axis == len(shape) - 1 and n == 3 else ''}.",
                [axis],
            )


@dataclass
class PreparedImage:
    """An image ready for correlation: invalid pixels zeroed, optionally zero-mean."""

    data: np.ndarray
    valid: np.ndarray | None  # None: every pixel valid but the outer ``margins`` per axis
    margins: tuple[int, ...]
    source: np.ndarray | None = None  # the image as given (read only)
    mean: float = 0.0  # subtracted when centred (the filter keeps a mean)

    @classmethod
    def prepare(
        cls, image: np.ndarray, mask, *, zero_mean: bool, kernels, name: str, overlap: bool = True
    ) -> PreparedImage:
        """The image copied (the caller's array is never touched), invalid pixels zeroed,
        optionally centred, and filtered with one kernel per axis (``kernels`` None:
        not filtered). ``overlap``: refuse axes too short for the overlap mode."""
        ndim = image.ndim
        margins = (0,) * ndim if kernels is None else tuple(k.size // 2 for k in kernels)
        if overlap:
            check_overlap_axes(image.shape, margins, name)
        total = float(np.sum(image, dtype=np.float64))
        if mask is None and np.isfinite(total):  # a finite sum: no NaN or inf
            mean = total / image.size if zero_mean else 0.0
            if kernels is None:
                data = _fft.empty(image.shape)
                np.subtract(image, mean, out=data)  # the copy and the centring in one pass
                return cls(data, None, margins, image, mean)
            data = smooth(image, kernels, subtract=mean)
            return cls(zero_edges(data, margins), None, margins, image, mean)
        data = _fft.empty(image.shape)
        np.copyto(data, image)
        invalid = ~np.isfinite(data)
        if mask is not None:
            invalid |= mask
        if invalid.all():
            raise ValueError(f"{name} has no valid pixel (all NaN, infinite or masked).")
        valid = None
        if invalid.any():
            valid = ~invalid
            data[invalid] = 0.0
            total = float(data.sum())
        mean = 0.0
        if zero_mean:
            mean = total / (data.size if valid is None else np.count_nonzero(valid))
            data -= mean
            if valid is not None:
                data[~valid] = 0.0
        if kernels is None:
            return cls(data, valid, margins, image, mean)
        sizes = [kernel.size for kernel in kernels]
        if valid is None:
            return cls(zero_edges(smooth(data, kernels), margins), None, margins, image, mean)
        # Pixels whose filter reached outside the image or an invalid pixel.
        eroded = box_eroded(valid, sizes)
        if np.count_nonzero(eroded) < np.count_nonzero(valid) // SCATTERED:
            # Scattered invalid pixels (bad columns, a cosmic-ray mask): filled from their
            # valid neighbours before filtering, the filter keeps the valid pixels.
            data = fill_invalid(data, valid, sigma=SCATTERED_FILL_SIGMA)
            eroded = valid & box_eroded(np.ones_like(valid), sizes)
        data = smooth(data, kernels)
        valid = eroded
        if not valid.any():
            raise ValueError(f"{name} is too masked to register.")
        data[~valid] = 0.0
        return cls(data, valid, (0,) * ndim, image, mean)

    def values(self) -> np.ndarray:
        """The valid pixels' values (a flat array, or the interior block)."""
        if self.valid is not None:
            return self.data[self.valid]
        return self.data[
            tuple(slice(m, n - m) for n, m in zip(self.data.shape, self.margins, strict=True))
        ]

    def is_flat(self) -> bool:
        values = self.values()
        first = values.flat[:64]
        if first.max() != first.min():  # the usual case, told without a pass over the image
            return False
        return bool(values.max() == values.min())
