"""iterative_zoom: the reference's zoom-onto-the-minimum, answered by the core."""

from __future__ import annotations

import numpy as np

from ..core._iterative_zoom import zoom_to_extremum
from ._legacy import ignore_options

__all__ = ["centers_to_edges", "iterative_zoom", "iterative_zoom_1d"]


def _which(minmax) -> str:
    name = getattr(minmax, "__name__", str(minmax))
    if "min" in name:
        return "min"
    if "max" in name:
        return "max"
    raise ValueError(f"minmax must be np.min or np.max, got {minmax!r}.")


def iterative_zoom(
    image,
    mindiff=1.0,
    zoomshape=[10, 10],
    return_zoomed=False,
    zoomstep=2,
    verbose=False,
    minmax=np.min,
    ploteach=False,
    return_center=True,
):
    """Zoom in on the minimum (or maximum) of an image until it is resolved.

    A thin call of :func:`napari_imreg.core._iterative_zoom.zoom_to_extremum` (any
    dimension).

    Parameters
    ----------
    image : np.ndarray
        Array with an extremum to zoom in on.
    mindiff : float
        Stop once the best sample differs from each of its direct neighbours by at most
        this. (The reference used the smallest non-zero difference, which stops early
        when two samples tie around the extremum.)
    zoomshape : sequence of int
        Samples per axis of each zoomed window.
    return_zoomed : bool
        Return ``(zoomed_image, zoom_factor, position)`` instead of the position.
    zoomstep : float
        Factor by which the zoom grows at each step.
    verbose, ploteach : bool
        Accepted for compatibility: steps are logged (DEBUG level), never printed or
        plotted.
    minmax : np.min or np.max
        Which extremum.
    return_center : bool
        Return the position in pixel coordinates of `image` (True), or its offset from
        the centre ``(n - 1) / 2`` (False).

    Returns
    -------
    tuple of float, or (np.ndarray, float, tuple)
        The position (numpy axis order) or offset of the extremum.

    Examples
    --------
    >>> x = np.arange(32.0)
    >>> bowl = 1 - np.cos(2 * np.pi * (x - 10.3) / 32)
    >>> image = bowl[:, None] + bowl[None, :]
    >>> [round(v, 2) for v in iterative_zoom(image, mindiff=1e-8)]
    [10.3, 10.3]
    """
    ignore_options("iterative_zoom", verbose=verbose or None, ploteach=ploteach or None)
    result = zoom_to_extremum(
        image,
        min_difference=mindiff,
        zoom_shape=zoomshape,
        zoom_step=zoomstep,
        find=_which(minmax),
    )
    where = result.position if return_center else result.offset
    position = tuple(float(v) for v in where)
    if return_zoomed:
        return result.zoomed, result.zoom, position
    return position


def iterative_zoom_1d(
    data,
    mindiff=1.0,
    zoomshape=(10,),
    return_zoomed=False,
    zoomstep=2,
    verbose=False,
    minmax=np.min,
    return_center=True,
):
    """Zoom in on the minimum (or maximum) of a 1-D array until it is resolved.

    The 1-D case of :func:`iterative_zoom`; same parameters.

    Returns
    -------
    tuple of one float, or (np.ndarray, float, tuple)
        ``(x,)``, the position or offset of the extremum.

    Examples
    --------
    >>> x = np.arange(40.0)
    >>> [round(v, 3) for v in iterative_zoom_1d(np.cos(2 * np.pi * (x - 7.25) / 40), mindiff=1e-9)]
    [27.25]
    """
    data = np.asarray(data)
    if data.ndim != 1:
        raise ValueError(f"data must be 1-D, got shape {data.shape}; use iterative_zoom.")
    return iterative_zoom(
        data,
        mindiff=mindiff,
        zoomshape=tuple(np.atleast_1d(zoomshape)),
        return_zoomed=return_zoomed,
        zoomstep=zoomstep,
        verbose=verbose,
        minmax=minmax,
        return_center=return_center,
    )


def centers_to_edges(arr):
    """The edges of evenly spaced bins, from their centres (for ``pcolor``-style plots).

    Parameters
    ----------
    arr : np.ndarray
        1-D bin centres, evenly spaced (at least two).

    Returns
    -------
    np.ndarray
        ``arr.size + 1`` edges, half a step beyond the first and last centres.

    Examples
    --------
    >>> centers_to_edges(np.array([0.0, 1.0, 2.0])).tolist()
    [-0.5, 0.5, 1.5, 2.5]
    """
    arr = np.asarray(arr, dtype=float)
    if arr.ndim != 1 or arr.size < 2:
        raise ValueError(f"arr must hold at least two bin centres in 1-D, got shape {arr.shape}.")
    step = arr[1] - arr[0]
    return np.linspace(arr.min() - step / 2, arr.max() + step / 2, arr.size + 1)
