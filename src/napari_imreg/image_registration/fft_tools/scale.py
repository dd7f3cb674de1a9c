"""Scale: Fourier interpolation at arbitrary coordinates, answered by the core.

The band-limited interpolant of a sampled array is a trigonometric series; it can be
evaluated at any coordinate (inside or outside the array, where it repeats periodically).
"""

from __future__ import annotations

import numpy as np

from ...core._fourier import fourier_interpolate
from .._legacy import ignore_options

__all__ = ["fourier_interp1d", "fourier_interp2d", "fourier_interpnd"]


def _interpolate(data, positions, return_real):
    values = fourier_interpolate(data, positions)
    return values.real if return_real else values


def _axis_positions(outinds, ndim):
    """Per-axis coordinates from ``np.indices``-like or ``([n], [m], ...)`` output indices."""
    if isinstance(outinds, np.ndarray) and outinds.ndim == ndim + 1:
        if outinds.shape[0] != ndim:
            raise ValueError(
                f"outinds must have one leading entry per axis ({ndim}), "
                f"got shape {outinds.shape}."
            )
        return [
            outinds[(axis,) + (0,) * axis + (slice(None),) + (0,) * (ndim - 1 - axis)]
            for axis in range(ndim)
        ]
    if isinstance(outinds, np.ndarray) and outinds.ndim not in (ndim, ndim + 1):
        raise ValueError(
            f"outinds must be like np.indices (ndim + 1 = {ndim + 1} dimensions) or a list of "
            f"one 1-D coordinate array per axis, got shape {outinds.shape}."
        )
    if len(outinds) != ndim:
        raise ValueError(f"outinds must have one coordinate array per axis ({ndim}).")
    return [np.asarray(p, dtype=float).reshape(-1) for p in outinds]


def fourier_interp1d(data, out_x, data_x=None, nthreads=1, use_numpy_fft=False, return_real=True):
    """Evaluate a 1-D array's Fourier interpolant at the coordinates `out_x`.

    Parameters
    ----------
    data : np.ndarray
        The samples.
    out_x : np.ndarray
        1-D array of output coordinates (in the units of `data_x`).
    data_x : np.ndarray, optional
        The coordinate of each sample (increasing, same shape as `data`); default
        ``np.arange(data.size)``. `out_x` is mapped onto sample indices linearly.
    return_real : bool
        Return the real part (default) or the complex values.

    Raises
    ------
    ValueError
        If `out_x` is not 1-D or `data_x` has the wrong shape.

    Examples
    --------
    >>> wave = np.sin(2 * np.pi * np.arange(12) / 12)
    >>> bool(np.allclose(fourier_interp1d(wave, np.array([0.5, 2.25])),
    ...                  np.sin(2 * np.pi * np.array([0.5, 2.25]) / 12)))
    True
    """
    ignore_options("fourier_interp1d", use_numpy_fft=use_numpy_fft or None)
    data = np.asarray(data)
    out_x = np.asarray(out_x, dtype=float)
    if out_x.ndim != 1:
        raise ValueError(
            f"out_x must be a 1-D array of output coordinates, got shape {out_x.shape}."
        )
    if data_x is not None:
        data_x = np.asarray(data_x, dtype=float)
        if data_x.shape != data.shape:
            raise ValueError(f"data_x has shape {data_x.shape} but data has shape {data.shape}.")
        out_x = np.interp(out_x, data_x, np.arange(data.size))
    return _interpolate(data.reshape(-1), [out_x], return_real)


def fourier_interpnd(data, outinds, nthreads=1, use_numpy_fft=False, return_real=True):
    """Evaluate an N-D array's Fourier interpolant on a grid of coordinates.

    Parameters
    ----------
    data : np.ndarray
        The samples, any dimension (the reference supported only 2).
    outinds : np.ndarray or sequence of 1-D arrays
        The output grid: either like ``np.indices`` (``ndim + 1`` dimensions, a separable
        grid) or one 1-D coordinate array per axis.
    return_real : bool
        Return the real part (default) or the complex values.

    Returns
    -------
    np.ndarray
        The interpolant on the grid, one axis per input axis.

    Examples
    --------
    >>> image = np.random.default_rng(3).normal(size=(6, 5))
    >>> bool(np.allclose(fourier_interpnd(image, np.indices(image.shape)), image))
    True
    """
    ignore_options("fourier_interpnd", use_numpy_fft=use_numpy_fft or None)
    data = np.asarray(data)
    return _interpolate(data, _axis_positions(outinds, data.ndim), return_real)


def fourier_interp2d(data, outinds, nthreads=1, use_numpy_fft=False, return_real=True):
    """The 2-D case of :func:`fourier_interpnd`.

    Examples
    --------
    >>> image = np.random.default_rng(4).normal(size=(4, 4))
    >>> fourier_interp2d(image, ([0.5, 1.5], [2.0])).shape
    (2, 1)
    """
    data = np.asarray(data)
    if data.ndim != 2:
        raise ValueError(f"data must be 2-D, got shape {data.shape}; use fourier_interpnd.")
    return fourier_interpnd(data, outinds, nthreads, use_numpy_fft, return_real)
