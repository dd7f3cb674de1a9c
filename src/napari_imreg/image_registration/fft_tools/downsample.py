"""Downsample: block averages, answered by the core."""

from __future__ import annotations

import numpy as np

from ...core._filters import block_reduce

__all__ = ["downsample", "downsample_1d", "downsample_axis", "downsample_cube"]


def downsample(myarr, factor, estimator=np.nanmean):
    """Downsample a 2-D (or N-D) array by averaging ``factor``-sized blocks.

    Trailing rows and columns that do not fill a block are dropped.

    Examples
    --------
    >>> downsample(np.arange(16.0).reshape(4, 4), 2)
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    return block_reduce(myarr, factor, func=estimator)


def downsample_1d(myarr, factor, estimator=np.nanmean):
    """Downsample a 1-D array by averaging ``factor``-sample blocks.

    Examples
    --------
    >>> downsample_1d(np.arange(7.0), 3)
    array([1., 4.])
    """
    myarr = np.asarray(myarr)
    if myarr.ndim != 1:
        raise ValueError(f"myarr must be 1-D, got shape {myarr.shape}.")
    return block_reduce(myarr, factor, func=estimator)


def downsample_cube(myarr, factor, ignoredim=0):
    """Downsample a 3-D cube on the two axes other than `ignoredim`.

    Examples
    --------
    >>> downsample_cube(np.ones((3, 4, 4)), 2).shape
    (3, 2, 2)
    """
    myarr = np.asarray(myarr)
    if myarr.ndim != 3:
        raise ValueError(f"myarr must be 3-D, got shape {myarr.shape}.")
    axes = [axis for axis in range(3) if axis != ignoredim % 3]
    return block_reduce(myarr, factor, func=np.nanmean, axes=axes)


def downsample_axis(myarr, factor, axis, estimator=np.nanmean, truncate=False):
    """Downsample an N-D array along one axis.

    A partial last block is dropped with `truncate`, or averaged over the samples it
    has otherwise (padded with NaN, which ``nanmean`` ignores).

    Examples
    --------
    >>> downsample_axis(np.arange(5.0), 2, 0)
    array([0.5, 2.5, 4. ])
    """
    return block_reduce(myarr, factor, func=estimator, axes=[axis], pad=not truncate)
