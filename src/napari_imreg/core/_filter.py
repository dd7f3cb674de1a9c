"""The low-pass kernels of overlap mode, their response, and their application."""

from __future__ import annotations

import numpy as np
import scipy.ndimage

from . import _fft
from ._rows import block_rows

#: The filter applied to both images in overlap mode (see ``Registrar``): its response,
#: (10 + 8 cos 2 pi f - 2 cos 4 pi f) / 16, has a double zero at the Nyquist frequency
#: and stays flatter below it than the 3-tap binomial's cos**2(pi f).
SMOOTHING = np.array([-1.0, 4.0, 10.0, 4.0, -1.0]) / 16.0
#: The 3-tap binomial filter, for axes shorter than ``SHORT_AXIS``: it has the same zero
#: at Nyquist and narrower margins, which short axes cannot spare.
SMOOTHING_SHORT = np.array([0.25, 0.5, 0.25])
SHORT_AXIS = 32


def smoothing_kernels(shape) -> list[np.ndarray]:
    """The filter of each axis: ``SMOOTHING``, or ``SMOOTHING_SHORT`` on short axes."""
    return [SMOOTHING if n >= SHORT_AXIS else SMOOTHING_SHORT for n in shape]


def gradients(image: np.ndarray) -> list[np.ndarray]:
    """The image's central differences along each axis (one-sided at its ends; zero
    along an axis of one sample, where ``np.gradient`` raises)."""
    return [
        np.gradient(image, axis=axis) if n > 1 else np.zeros_like(image)
        for axis, n in enumerate(image.shape)
    ]


def filter_response(frequency: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Transfer function of a symmetric ``kernel`` at ``frequency`` (cycles/px)."""
    half = kernel.size // 2
    response = np.full(np.shape(frequency), kernel[half], dtype=np.float64)
    for j in range(1, half + 1):
        response += 2 * kernel[half + j] * np.cos(2 * np.pi * j * np.asarray(frequency))
    return response


def smooth(values: np.ndarray, kernels, *, subtract: float = 0.0) -> np.ndarray:
    """``values - subtract`` convolved along each axis with that axis' symmetric kernel
    of odd length (zero outside the array); axes shorter than their kernel are left
    alone. Returns a new float64 array laid out for the FFT; ``values`` is only read.

    One pass over the data: the first axis is filtered in blocks of rows small
    enough to stay in cache, and each block is filtered along the other axes
    (the last by ``scipy.ndimage.correlate1d``, the others by whole planes) and
    written out before the next is read.
    """
    out = _fft.empty(values.shape)
    active = [n >= kernel.size for n, kernel in zip(values.shape, kernels, strict=True)]
    first = kernels[0] if active[0] else np.ones(1)
    half = first.size // 2
    n = values.shape[0]
    # The first axis' filter applied to ones: how much of ``subtract`` each row keeps.
    kept = scipy.ndimage.correlate1d(np.ones(n), first, mode="constant")
    rows = block_rows(values)
    block = np.empty((min(rows, n), *values.shape[1:]))
    spare = np.empty_like(block)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        current = block[: stop - start]
        np.multiply(values[start:stop], first[half], out=current, dtype=np.float64)
        for j in range(1, half + 1):
            for offset in (j, -j):  # rows i take values[i - offset] (zero beyond the edges)
                lo, hi = max(start, offset), min(stop, n + offset)
                if lo < hi:
                    term = spare[: hi - lo]
                    np.multiply(
                        values[lo - offset : hi - offset],
                        first[half + j],
                        out=term,
                        dtype=np.float64,
                    )
                    current[lo - start : hi - start] += term
        if subtract:
            current -= (subtract * kept[start:stop]).reshape([-1] + [1] * (values.ndim - 1))
        for axis in range(1, values.ndim - 1):
            if active[axis]:
                _filter_planes(current, axis, kernels[axis], spare[: stop - start])
        if values.ndim > 1 and active[-1]:
            scipy.ndimage.correlate1d(
                current, kernels[-1], axis=-1, output=out[start:stop], mode="constant"
            )
        else:
            out[start:stop] = current
    return out


def smooth_to_edges(values: np.ndarray, kernels, *, subtract: float = 0.0) -> np.ndarray:
    """``values - subtract`` convolved along each axis with that axis' symmetric kernel,
    the edges extended (beyond them, each axis repeats its edge value): :func:`smooth`
    where the kernel stays inside the array, and a value at the margins where
    :func:`smooth`'s kernel reaches outside. Axes shorter than their kernel are left
    alone. ``values`` is only read."""
    out = np.asarray(values, dtype=np.float64) - subtract
    for axis, kernel in enumerate(kernels):
        if out.shape[axis] >= kernel.size:
            out = scipy.ndimage.correlate1d(out, kernel, axis=axis, mode="nearest")
    return out


def _filter_planes(values: np.ndarray, axis: int, kernel: np.ndarray, work: np.ndarray) -> None:
    """Filter ``values`` in place along ``axis`` by whole planes (``work``: an array of
    its shape to overwrite)."""
    ndim = values.ndim
    half = kernel.size // 2
    source = values.copy()
    values *= kernel[half]
    for j in range(1, half + 1):
        low = tuple(slice(None, -j) if a == axis else slice(None) for a in range(ndim))
        high = tuple(slice(j, None) if a == axis else slice(None) for a in range(ndim))
        np.multiply(source[low], kernel[half + j], out=work[low])
        values[high] += work[low]
        np.multiply(source[high], kernel[half + j], out=work[high])
        values[low] += work[high]
