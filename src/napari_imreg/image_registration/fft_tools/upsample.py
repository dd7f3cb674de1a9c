"""Upsample: matrix-multiply DFTs on a fine grid (Guizar-Sicairos), answered by the core.

The upsampled DFT evaluates a transform on a small window of a grid ``usfac`` times finer
than the FFT's, by two small matrix products instead of a zero-padded FFT.
"""

from __future__ import annotations

import numpy as np

from ...core import fourier_zoom, upsampled_dft
from .._legacy import ignore_options

__all__ = ["dftups", "dftups1d", "odddftups", "upsample_image"]


def _forward_window(inp, usfac, shape, start):
    """``sum_m inp[m] exp(-2 pi i k_m x / n)`` at ``x = start + j / usfac`` per axis."""
    inp = np.asarray(inp)
    size = inp.size
    return size * np.conj(
        upsampled_dft(np.conj(inp), upsample_factor=usfac, output_shape=shape, offset=start)
    )


def dftups(inp, nor=None, noc=None, usfac=1, roff=0, coff=0):
    """Upsampled forward DFT of a 2-D array on a window of a ``usfac``-times finer grid.

    Parameters
    ----------
    inp : np.ndarray
        2-D array (e.g. a spectrum).
    nor, noc : int, optional
        Output rows and columns (default the input's).
    usfac : int
        Upsampling factor.
    roff, coff : float
        Row and column offsets: output sample ``(k, l)`` is at the fine-grid frequency
        ``(k - roff, l - coff)``.

    Returns
    -------
    np.ndarray
        Complex ``(nor, noc)`` array:
        ``out[k, l] = sum_{m,n} inp[m, n] exp(-2 pi i (p_m (k - roff) / (M usfac)
        + q_n (l - coff) / (N usfac)))`` with ``p_m, q_n`` the FFT frequency indices.

    Notes
    -----
    ``dftups(ifftn(image), usfac=u)`` samples the band-limited interpolant of ``image`` on
    a grid ``u`` times finer. For an even length the Nyquist term is split evenly between
    ``+n/2`` and ``-n/2`` (so a real image gives a real interpolant); the reference put it
    all at ``-n/2``. Both agree at whole-pixel positions and when the Nyquist term is zero.

    References
    ----------
    M. Guizar-Sicairos, S. T. Thurman and J. R. Fienup, "Efficient subpixel image
    registration algorithms", Opt. Lett. 33, 156-158 (2008).

    Examples
    --------
    >>> image = np.random.default_rng(0).normal(size=(5, 7))
    >>> bool(np.allclose(dftups(np.fft.ifft2(image)), image))
    True
    """
    inp = np.asarray(inp)
    if inp.ndim != 2:
        raise ValueError(f"inp must be 2-D, got shape {inp.shape}.")
    nr, nc = inp.shape
    shape = (nr if nor is None else int(nor), nc if noc is None else int(noc))
    return _forward_window(inp, usfac, shape, (-roff / usfac, -coff / usfac))


def odddftups(inp, nor=None, noc=None, usfac=1, roff=0, coff=0):
    """The same transform as :func:`dftups` (the reference kept a variant for odd sizes).

    Examples
    --------
    >>> a = np.random.default_rng(1).normal(size=(5, 5))
    >>> bool(np.allclose(odddftups(a, usfac=3, roff=1), dftups(a, usfac=3, roff=1)))
    True
    """
    return dftups(inp, nor=nor, noc=noc, usfac=usfac, roff=roff, coff=coff)


def dftups1d(inp, usfac=1, outsize=None, offset=0, return_xouts=False):
    """Upsampled forward DFT of a 1-D array.

    Returns ``out[j] = sum_m inp[m] exp(-2 pi i k_m x_j / n)`` at ``x_j = (j + offset) / usfac``
    (and ``(x, out)`` with `return_xouts`).

    Examples
    --------
    >>> signal = np.cos(2 * np.pi * np.arange(8) / 8)
    >>> x, values = dftups1d(np.fft.ifft(signal), usfac=2, outsize=3, return_xouts=True)
    >>> x.tolist(), bool(np.allclose(values, np.cos(2 * np.pi * x / 8)))
    ([0.0, 0.5, 1.0], True)
    """
    inp = np.asarray(inp)
    if inp.ndim != 1:
        raise ValueError(f"inp must be 1-D, got shape {inp.shape}.")
    size = inp.size if outsize is None else int(outsize)
    out = _forward_window(inp, usfac, (size,), (offset / usfac,))
    if return_xouts:
        return (np.arange(size) + offset) / usfac, out
    return out


def upsample_image(
    image, upsample_factor=1, output_size=None, nthreads=1, use_numpy_fft=False, xshift=0, yshift=0
):
    """Sample a 2-D image's band-limited interpolant on a grid ``upsample_factor`` times finer.

    Parameters
    ----------
    image : np.ndarray
        2-D image (periodic).
    upsample_factor : float
        Output samples per input pixel.
    output_size : int or (int, int), optional
        Output shape (default the input shape times `upsample_factor`).
    nthreads, use_numpy_fft : optional
        Accepted for compatibility.
    xshift, yshift : float
        Offsets, in output samples: ``out[k, l] = image((k - yshift) / u, (l - xshift) / u)``.

    Returns
    -------
    np.ndarray
        Real for a real image (the reference documented real output but returned complex).

    Examples
    --------
    >>> image = np.random.default_rng(2).normal(size=(6, 6))
    >>> fine = upsample_image(image, upsample_factor=2)
    >>> fine.shape, bool(np.allclose(fine[::2, ::2], image))
    ((12, 12), True)
    """
    ignore_options("upsample_image", use_numpy_fft=use_numpy_fft or None)
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {image.shape}.")
    if output_size is None:
        shape = tuple(int(np.round(n * upsample_factor)) for n in image.shape)
    else:
        shape = tuple(int(v) for v in np.broadcast_to(output_size, (2,)))
    center = [
        ((m - 1) / 2.0 - s) / upsample_factor for m, s in zip(shape, (yshift, xshift), strict=True)
    ]
    return fourier_zoom(image, upsample_factor, center=center, output_shape=shape)
