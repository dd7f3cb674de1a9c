"""get_ffts: the FFT pair, from the core's backend (pyfftw when installed) or numpy."""

from __future__ import annotations

import functools

import numpy as np

from ...core import _fft

__all__ = ["get_ffts"]


def get_ffts(nthreads=1, use_numpy_fft=True):
    """Return ``(fftn, ifftn)``.

    Parameters
    ----------
    nthreads : int
        Threads of the core's transforms.
    use_numpy_fft : bool
        True returns :func:`numpy.fft.fftn` and :func:`numpy.fft.ifftn`; False returns the
        core's backend (pyfftw with cached plans when installed, scipy.fft otherwise). The
        reference looked for the long-gone ``fftw3`` module and so never used FFTW.

    Returns
    -------
    fftn, ifftn : callable
        ``fftn(array)`` and ``ifftn(array)`` over all axes.

    Examples
    --------
    >>> fftn, ifftn = get_ffts(use_numpy_fft=False)
    >>> a = np.arange(8.0).reshape(2, 4)
    >>> bool(np.allclose(ifftn(fftn(a)), a))
    True
    """
    if use_numpy_fft:
        return np.fft.fftn, np.fft.ifftn
    threads = max(int(nthreads), 1)
    return (
        functools.partial(_fft.fftn, threads=threads),
        functools.partial(_fft.ifftn, threads=threads),
    )
