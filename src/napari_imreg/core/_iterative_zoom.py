"""Locating the minimum (or maximum) of a sampled surface by repeated Fourier zooms.

Each step magnifies a small window around the current best sample with the
band-limited interpolant of the whole array (:func:`~napari_imreg.core._fourier.fourier_zoom`)
and moves to the best sample of the window, until neighbouring samples differ by less
than a threshold. It works in any number of dimensions.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._fourier import fourier_zoom
from ._validation import as_image, check_choice

__all__ = ["ZoomResult", "zoom_to_extremum"]

logger = logging.getLogger(__name__)

#: Safety limit on the number of zoom steps.
MAX_STEPS = 64


@dataclass(frozen=True)
class ZoomResult:
    """The outcome of :func:`zoom_to_extremum`.

    Attributes
    ----------
    position : numpy.ndarray
        The extremum, in pixel coordinates of the input array (numpy axis order).
    offset : numpy.ndarray
        ``position - (shape - 1) / 2``: the extremum relative to the array centre.
    zoom : float
        The magnification of the last window (samples per input pixel).
    zoomed : numpy.ndarray
        The last window, centred on the previous best sample.
    coordinates : tuple of numpy.ndarray
        For each axis, the input pixel coordinate of each sample of `zoomed`.
    steps : int
        The number of zoom steps taken.
    """

    position: np.ndarray
    offset: np.ndarray
    zoom: float
    zoomed: np.ndarray
    coordinates: tuple[np.ndarray, ...]
    steps: int


def _neighbour_step(values: np.ndarray, best: np.ndarray) -> float:
    """Largest difference between the best sample and its direct neighbours."""
    centre = values[tuple(best)]
    step = 0.0
    for axis, n in enumerate(values.shape):
        for delta in (-1, 1):
            index = best.copy()
            index[axis] += delta
            if 0 <= index[axis] < n:
                step = max(step, abs(float(values[tuple(index)] - centre)))
    return step


def zoom_to_extremum(
    image,
    *,
    min_difference: float = 1.0,
    zoom_shape=10,
    zoom_step: float = 2.0,
    find: Literal["min", "max"] = "min",
) -> ZoomResult:
    """Zoom in on the minimum or maximum of an array until it is resolved.

    Parameters
    ----------
    image : array_like
        Real array of any dimension, treated as band-limited and periodic (e.g. a
        chi-squared map).
    min_difference : float, keyword-only
        Stop once the best sample differs from each of its direct neighbours by at most
        this (for a chi-squared map, 1 means the samples resolve Delta chi2 = 1).
    zoom_shape : int or sequence of int, keyword-only
        Samples per axis of each window.
    zoom_step : float, keyword-only
        Factor by which the magnification grows at each step (> 1).
    find : {"min", "max"}, keyword-only
        Which extremum to locate.

    Returns
    -------
    ZoomResult
        The position of the extremum and the last window.

    Raises
    ------
    ValueError
        For a non-positive `min_difference`, `zoom_step` <= 1, a window smaller than 2
        samples or an unknown `find`.

    Warns
    -----
    RuntimeWarning
        If the threshold is not reached within ``MAX_STEPS`` steps.

    Notes
    -----
    Step ``k`` samples the interpolant on a window of `zoom_shape` samples spaced
    ``zoom_step**-k`` pixel, centred on the best sample of step ``k - 1`` (step 0 is
    the array itself). The window is ``zoom_shape / zoom_step**k`` pixels wide, so the
    extremum stays inside it as long as each step's best sample is within half a
    window of the true extremum.

    Examples
    --------
    >>> x = np.arange(32.0)
    >>> bowl = 1 - np.cos(2 * np.pi * (x - 10.3) / 32)
    >>> result = zoom_to_extremum(bowl, min_difference=1e-9)
    >>> round(float(result.position[0]), 3)
    10.3
    """
    data = np.asarray(as_image(image, "image"), dtype=np.float64)
    check_choice(find, "find", ("min", "max"))
    if not min_difference > 0:
        raise ValueError(f"min_difference must be positive, got {min_difference!r}.")
    if not zoom_step > 1:
        raise ValueError(f"zoom_step must be greater than 1, got {zoom_step!r}; e.g. 2.")
    shape = tuple(int(n) for n in np.broadcast_to(zoom_shape, (data.ndim,)))
    if min(shape) < 2:
        raise ValueError(f"zoom_shape must be at least 2 samples per axis, got {zoom_shape!r}.")
    if not np.all(np.isfinite(data)):
        raise ValueError("image contains NaN or infinite values; replace them first.")
    pick = np.argmin if find == "min" else np.argmax

    window = data
    coordinates = tuple(np.arange(n, dtype=np.float64) for n in data.shape)
    zoom = 1.0
    steps = 0
    best = np.array(np.unravel_index(int(pick(window)), window.shape))
    position = np.array([c[i] for c, i in zip(coordinates, best, strict=True)])
    while _neighbour_step(window, best) > min_difference:
        if steps == MAX_STEPS:
            warnings.warn(
                f"zoom_to_extremum stopped after {MAX_STEPS} steps at zoom {zoom:g} without "
                f"reaching min_difference={min_difference}; raise min_difference.",
                RuntimeWarning,
                stacklevel=2,
            )
            break
        zoom *= zoom_step
        steps += 1
        window = fourier_zoom(data, zoom, center=position, output_shape=shape)
        coordinates = tuple(
            p + (np.arange(m) - (m - 1) / 2.0) / zoom for p, m in zip(position, shape, strict=True)
        )
        best = np.array(np.unravel_index(int(pick(window)), window.shape))
        position = np.array([c[i] for c, i in zip(coordinates, best, strict=True)])
        logger.debug("zoom %g: best sample at %s", zoom, position)
        if np.ptp(window) == 0:
            break
        if not math.isfinite(zoom):  # pragma: no cover - needs ~1000 steps
            break
    return ZoomResult(
        position=position,
        offset=position - (np.asarray(data.shape) - 1) / 2.0,
        zoom=zoom,
        zoomed=window,
        coordinates=coordinates,
        steps=steps,
    )
