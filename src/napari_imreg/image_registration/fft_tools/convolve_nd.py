"""convolve_nd: N-D FFT convolution, answered by the core."""

from __future__ import annotations

import warnings

import numpy as np

from ...core._filters import convolve_fft
from .._legacy import ignore_options

__all__ = ["convolve", "convolve_nd", "convolvend"]


def convolvend(
    array,
    kernel,
    boundary="fill",
    fill_value=0,
    crop=True,
    return_fft=False,
    fftshift=True,
    fft_pad=True,
    psf_pad=False,
    interpolate_nan=False,
    quiet=False,
    ignore_edge_zeros=False,
    min_wt=0.0,
    normalize_kernel=False,
    use_numpy_fft=True,
    nthreads=1,
):
    """Convolve an N-D array with an N-D kernel (origin at index ``size // 2``).

    A thin call of :func:`napari_imreg.core._filters.convolve_fft`.

    Parameters
    ----------
    array, kernel : array_like
        Data and kernel, same number of dimensions.
    boundary : {'fill', 'wrap'} or None
        'fill' (or None): values outside the array are `fill_value`; 'wrap': periodic.
    fill_value : float
        The value outside the array for 'fill'.
    crop, return_fft : bool
        Only ``crop=True`` and ``return_fft=False`` are supported (ValueError otherwise).
    fftshift, fft_pad, psf_pad, use_numpy_fft, nthreads : optional
        Accepted for compatibility (padding is chosen for speed and correctness).
    interpolate_nan : bool
        Leave NaNs out and renormalise by the kernel weight on valid pixels (when the
        kernel sums to one); otherwise NaNs count as zero.
    quiet : bool
        Do not warn when NaNs are counted as zero.
    ignore_edge_zeros : bool
        Leave the padding out of the kernel weight, as for NaNs (when the kernel sums to
        one).
    min_wt : float
        With renormalisation, points whose valid weight is below this become NaN (with 0,
        points with no valid weight become 0).
    normalize_kernel : bool or callable
        True divides the kernel by its sum; a function ``f`` divides it by ``f(kernel)``.

    Returns
    -------
    np.ndarray
        The convolution, shape of `array`; float32 for float32 data, float64 otherwise.

    Examples
    --------
    >>> convolvend([1, 0, 3], [1, 1, 1])
    array([1., 4., 3.])
    >>> convolvend([1, np.nan, 3], [1, 1, 1], quiet=True)
    array([1., 4., 3.])
    >>> convolvend([1, 0, 3], [0, 1, 0])
    array([1., 0., 3.])
    >>> convolvend([1, 2, 3], [1])
    array([1., 2., 3.])
    >>> convolvend([1, np.nan, 3], [0, 1, 0], interpolate_nan=True)
    array([1., 0., 3.])
    >>> convolvend([1, np.nan, 3], [0, 1, 0], interpolate_nan=True, min_wt=1e-8)
    array([ 1., nan,  3.])
    >>> convolvend([1, np.nan, 3], [1, 1, 1], interpolate_nan=True)
    array([1., 4., 3.])
    >>> convolvend([1, np.nan, 3], [1, 1, 1], interpolate_nan=True, normalize_kernel=True,
    ...            ignore_edge_zeros=True)
    array([1., 2., 3.])
    """
    if not crop:
        raise ValueError("crop=False is not supported; the result has the shape of array.")
    if return_fft:
        raise ValueError(
            "return_fft=True is not supported; compute np.fft.fftn of the arrays directly."
        )
    if boundary is None:
        boundary = "fill"
    if boundary not in ("fill", "wrap"):
        raise ValueError(
            f"boundary must be 'fill' or 'wrap', got {boundary!r} ('extend' has no FFT "
            "equivalent); use scipy.ndimage.convolve for other boundaries."
        )
    ignore_options("convolvend", fft_pad=fft_pad or None, psf_pad=psf_pad or None)
    data = np.asarray(array)
    if data.dtype != np.float32:
        data = data.astype(np.float64)
    if not interpolate_nan and not quiet and np.isnan(data).any():
        warnings.warn(
            "array contains NaN values, treated as 0; pass interpolate_nan=True to "
            "interpolate over them or quiet=True to silence this warning.",
            stacklevel=2,
        )
    return convolve_fft(
        data,
        np.asarray(kernel, dtype=data.dtype),
        boundary=boundary,
        fill_value=fill_value,
        normalize_kernel=normalize_kernel,
        nan_treatment="interpolate" if interpolate_nan else "fill",
        ignore_edge=ignore_edge_zeros,
        min_weight=min_wt,
    )


convolve_nd = convolvend
convolve = convolvend
