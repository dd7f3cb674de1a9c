"""Zoom: Fourier (band-limited) magnification of part of an array, answered by the core."""

from __future__ import annotations

import numpy as np

from ...core import fourier_zoom
from .._legacy import ignore_options

__all__ = ["zoom1d", "zoom_on_pixel", "zoomnd"]


def _finish(zoomed, return_real):
    return zoomed if return_real else zoomed.astype(np.complex128)


def zoom1d(
    inp,
    usfac=1,
    outsize=None,
    offset=0,
    nthreads=1,
    use_numpy_fft=False,
    return_xouts=False,
    return_real=True,
):
    """Magnify a 1-D array around its centre (plus `offset`) by `usfac`.

    Parameters
    ----------
    inp : np.ndarray
        1-D array (periodic).
    usfac : float
        Output samples per input pixel.
    outsize : int, optional
        Output length (default the input length).
    offset : float
        Centre of the output relative to the input centre ``(n - 1) / 2``, in input pixels.
    nthreads, use_numpy_fft : optional
        Accepted for compatibility.
    return_xouts : bool
        Also return the input coordinate of each output sample, as ``(xvals, zoomed)``.
    return_real : bool
        Return a real array (True) or a complex one.

    Returns
    -------
    np.ndarray or (np.ndarray, np.ndarray)
        ``zoomed[j] = inp(c + offset + (j - (outsize - 1) / 2) / usfac)`` with ``c = (n - 1) / 2``.

    Examples
    --------
    >>> x = np.arange(16)
    >>> wave = np.cos(2 * np.pi * x / 16)
    >>> xs, z = zoom1d(wave, usfac=2, outsize=3, return_xouts=True)
    >>> xs.tolist(), bool(np.allclose(z, np.cos(2 * np.pi * xs / 16)))
    ([7.0, 7.5, 8.0], True)
    """
    ignore_options("zoom1d", use_numpy_fft=use_numpy_fft or None)
    inp = np.asarray(inp)
    if inp.ndim != 1:
        raise ValueError(f"inp must be 1-D, got shape {inp.shape}; use zoomnd.")
    size = inp.size if outsize is None else int(outsize)
    middle = (inp.size - 1) / 2.0 + offset
    zoomed = fourier_zoom(inp, usfac, center=[middle], output_shape=size)
    xvals = middle + (np.arange(size) - (size - 1) / 2.0) / usfac
    zoomed = _finish(zoomed, return_real)
    return (xvals, zoomed) if return_xouts else zoomed


def zoom_on_pixel(
    inp,
    coordinates,
    usfac=1,
    outshape=None,
    nthreads=1,
    use_numpy_fft=False,
    return_real=True,
    return_xouts=False,
):
    """Magnify an array (any dimension) around the pixel position `coordinates`.

    Parameters
    ----------
    inp : np.ndarray
        Array (periodic).
    coordinates : sequence of float
        Centre of the output, in input pixel coordinates (numpy order).
    usfac : float
        Output samples per input pixel.
    outshape : sequence of int, optional
        Output shape (default the input shape).
    return_xouts : bool
        Also return the coordinates, as ``(xouts, zoomed)``: ``xouts[d]`` holds the input
        coordinate along axis ``d`` of every output sample (like :func:`numpy.indices`).
    return_real : bool
        Return a real array (True) or a complex one.

    Examples
    --------
    >>> image = np.add.outer(np.arange(8.0), np.zeros(8))
    >>> xouts, z = zoom_on_pixel(np.sin(image), (3, 3), usfac=4, outshape=3, return_xouts=True)
    >>> xouts[0][:, 0].tolist()
    [2.75, 3.0, 3.25]
    """
    ignore_options("zoom_on_pixel", use_numpy_fft=use_numpy_fft or None)
    inp = np.asarray(inp)
    shape = inp.shape if outshape is None else tuple(np.broadcast_to(outshape, (inp.ndim,)))
    center = np.asarray(coordinates, dtype=float).reshape(-1)
    zoomed = _finish(fourier_zoom(inp, usfac, center=center, output_shape=shape), return_real)
    if not return_xouts:
        return zoomed
    axes = [c + (np.arange(m) - (m - 1) / 2.0) / usfac for c, m in zip(center, shape, strict=True)]
    xouts = np.array(np.meshgrid(*axes, indexing="ij"))
    return xouts, zoomed


def zoomnd(inp, offsets=(), middle_convention=float, **kwargs):
    """Magnify an array around its centre plus `offsets` (see :func:`zoom_on_pixel`).

    Parameters
    ----------
    inp : np.ndarray
        Array (periodic), any dimension.
    offsets : sequence of float
        Centre of the output relative to the middle of the array, per axis.
    middle_convention : callable
        Applied to ``(n - 1) / 2`` to define the middle: ``float`` (default, half pixels
        allowed), ``np.floor`` or ``np.ceil``.
    **kwargs
        ``usfac``, ``outshape``, ``return_xouts``, ``return_real`` as for
        :func:`zoom_on_pixel`.

    Examples
    --------
    >>> a = np.cos(2 * np.pi * np.arange(10) / 10)
    >>> bool(np.allclose(zoomnd(a, usfac=1), a))
    True
    """
    inp = np.asarray(inp)
    offsets = tuple(offsets)
    if offsets and len(offsets) != inp.ndim:
        raise ValueError(f"offsets must have one value per axis ({inp.ndim}), got {offsets!r}.")
    if not offsets:
        offsets = (0.0,) * inp.ndim
    middle = [
        middle_convention((n - 1) / 2.0) + off for n, off in zip(inp.shape, offsets, strict=True)
    ]
    return zoom_on_pixel(inp, middle, **kwargs)
