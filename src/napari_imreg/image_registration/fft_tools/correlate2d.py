"""correlate2d: FFT cross-correlation, answered by the core."""

from __future__ import annotations

from ...core._filters import correlate_fft
from .._legacy import check_unknown, ignore_options

__all__ = ["correlate2d"]

_NO_OPS = frozenset({"psf_pad", "fft_pad", "allow_huge", "quiet"})
_PASSED = frozenset({"fill_value", "nan_treatment", "normalize_kernel"})


def correlate2d(im1, im2, boundary="wrap", nthreads=1, use_numpy_fft=False, **kwargs):
    """Cross-correlation of two images, zero shift at the centre.

    A thin call of :func:`napari_imreg.core._filters.correlate_fft` (any dimension).

    Parameters
    ----------
    im1, im2 : np.ndarray
        Arrays with the same number of dimensions.
    boundary : {'wrap', 'fill'}
        Periodic, or `im1` padded with ``fill_value`` (default 0).
    nthreads, use_numpy_fft : optional
        Accepted for compatibility.
    **kwargs
        ``fill_value``, ``nan_treatment`` ('fill' or 'interpolate') and
        ``normalize_kernel`` are passed on; the padding options ``psf_pad``, ``fft_pad``,
        ``allow_huge`` and ``quiet`` are accepted without effect; others raise TypeError.

    Returns
    -------
    np.ndarray
        ``out[c + s] = sum_x im1[x + s] im2[x]`` with ``c = (n - 1) // 2`` per axis; the
        shape of `im1`.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((5, 5)); a[3, 1] = 1
    >>> b = np.zeros((5, 5)); b[2, 2] = 1
    >>> tuple(int(i) for i in np.unravel_index(correlate2d(a, b).argmax(), (5, 5)))
    (3, 1)
    """
    check_unknown("correlate2d", kwargs, _NO_OPS | _PASSED)
    ignore_options("correlate2d", **{k: v for k, v in kwargs.items() if k in _NO_OPS})
    options = {k: v for k, v in kwargs.items() if k in _PASSED}
    return correlate_fft(im1, im2, boundary=boundary, **options)
