"""Shift: sub-pixel translation by the Fourier shift theorem, answered by the core."""

from __future__ import annotations

import warnings

import numpy as np

from ...core import fourier_shift
from .._legacy import ignore_options

__all__ = ["shift2d", "shiftnd"]


def shiftnd(
    data, offset, phase=0, nthreads=1, use_numpy_fft=False, return_abs=False, return_real=True
):
    """Translate an array by `offset` pixels with the Fourier shift theorem.

    A thin call of :func:`napari_imreg.core.fourier_shift`.

    Parameters
    ----------
    data : np.ndarray
        Array of any dimension (periodic); NaNs become zeros.
    offset : sequence of float
        Translation per axis, numpy order: ``out[x] = data[x - offset]``. (A scalar
        offset with a non-zero third argument on a 2-D array, as in the reference's quick
        example ``shiftnd(image, -yoff, -xoff)``, is read as ``(offset, phase)`` offsets,
        with a warning.)
    phase : float
        An extra global phase, in radians (the result is multiplied by
        ``exp(-1j * phase)``).
    nthreads : int
        FFT threads.
    use_numpy_fft : bool
        Accepted for compatibility.
    return_abs : bool
        Return the modulus (used when `return_real` is False).
    return_real : bool
        Return the real part (default).

    Returns
    -------
    np.ndarray
        The shifted array: real part, modulus, or the complex array.

    Notes
    -----
    ``FT[f(t - t0)](k) = exp(-2 pi i k t0) F(k)``. For an even-length axis the Nyquist
    term is split between +n/2 and -n/2, so a real array shifts to a real array.

    Examples
    --------
    >>> a = np.zeros(8); a[2] = 1
    >>> (np.round(shiftnd(a, (3,)), 12) + 0.0).tolist()
    [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    """
    ignore_options("shiftnd", use_numpy_fft=use_numpy_fft or None)
    data = np.asarray(data)
    if np.ndim(offset) == 0 and data.ndim == 2 and phase != 0:
        # the spec's quick example calls shiftnd(image, -yoff, -xoff)
        warnings.warn(
            f"shiftnd(data, {offset!r}, {phase!r}) is read as shiftnd(data, ({offset!r}, "
            f"{phase!r})): pass the offsets as one sequence, (dy, dx).",
            stacklevel=2,
        )
        offset, phase = (offset, phase), 0
    if np.isnan(data).any():
        data = np.nan_to_num(data)
    shifted = fourier_shift(data, offset, threads=nthreads)
    if phase:
        shifted = shifted * np.exp(-1j * phase)
    if return_real:
        return np.real(shifted)
    if return_abs:
        return np.abs(shifted)
    return shifted.astype(np.result_type(shifted.dtype, np.complex64), copy=False)


def shift2d(
    data,
    deltax,
    deltay,
    phase=0,
    nthreads=1,
    use_numpy_fft=False,
    return_abs=False,
    return_real=True,
):
    """Translate a 2-D image by ``(deltax, deltay)`` pixels (x first).

    Same as ``shiftnd(data, (deltay, deltax), ...)``.

    Examples
    --------
    >>> a = np.zeros((4, 4)); a[0, 0] = 1
    >>> np.argwhere(np.round(shift2d(a, 1, 2), 12) == 1).tolist()
    [[2, 1]]
    """
    return shiftnd(
        data,
        (deltay, deltax),
        phase=phase,
        nthreads=nthreads,
        use_numpy_fft=use_numpy_fft,
        return_abs=return_abs,
        return_real=return_real,
    )
