"""Smoothing with Gaussian, boxcar, tophat, Airy or trapezoid kernels, answered by the core."""

from __future__ import annotations

import numpy as np

from ...core._filters import block_reduce, convolve_fft
from ...core._filters import make_kernel as _core_kernel
from .._legacy import check_unknown, ignore_options

__all__ = ["make_kernel", "smooth"]


def make_kernel(
    kernelshape,
    kernelwidth=3,
    kerneltype="gaussian",
    trapslope=None,
    normalize_kernel=np.sum,
    force_odd=False,
):
    """A centred N-D kernel (see :func:`napari_imreg.core._filters.make_kernel`).

    Parameters
    ----------
    kernelshape : sequence of int
        Kernel shape (its length sets the dimension).
    kernelwidth : float
        Gaussian sigma, boxcar side, tophat/trapezoid radius or Airy scale, in pixels.
    kerneltype : {'gaussian', 'boxcar', 'tophat', 'airy', 'brickwall', 'trapezoid'}
        The profile.
    trapslope : float, optional
        Slope of the trapezoid's sides (required for 'trapezoid').
    normalize_kernel : callable or True
        The kernel is divided by ``normalize_kernel(kernel)`` (True means ``np.sum``).
    force_odd : bool
        Reduce even sizes by one.

    Examples
    --------
    >>> k = make_kernel((4, 4), kernelwidth=1)
    >>> round(float(k.sum()), 12)
    1.0
    """
    if normalize_kernel is True:
        normalize_kernel = np.sum
    shape = [int(n) - 1 if force_odd and int(n) % 2 == 0 else int(n) for n in kernelshape]
    return _core_kernel(
        shape,
        width=kernelwidth,
        kind=kerneltype,
        slope=trapslope,
        normalize=normalize_kernel or None,
    )


def smooth(
    image,
    kernelwidth=3,
    kerneltype="gaussian",
    trapslope=None,
    silent=True,
    psf_pad=True,
    interp_nan=False,
    nwidths="max",
    min_nwidths=6,
    return_kernel=False,
    normalize_kernel=np.sum,
    downsample=False,
    downsample_factor=None,
    ignore_edge_zeros=False,
    **kwargs,
):
    """Smooth an image (any dimension) with a Gaussian, boxcar, tophat, ... kernel.

    Parameters
    ----------
    image : np.ndarray
        The data; NaNs count as zero unless `interp_nan`, and keep their value in the
        output unless `interp_nan`.
    kernelwidth : float
        Gaussian sigma, boxcar side, tophat radius, in pixels.
    kerneltype : str
        'gaussian', 'boxcar', 'tophat', 'airy', 'brickwall' or 'trapezoid'.
    trapslope : float, optional
        Slope for 'trapezoid' (the spec's misspelt keyword ``trapshlope`` is accepted).
    silent : bool
        Accepted for compatibility (nothing is printed).
    psf_pad : bool
        True: zero-pad (no wrap-around at the edges). False: periodic.
    interp_nan : bool
        Replace NaNs with the kernel-weighted mean of their valid neighbours.
    nwidths : 'max' or float
        Kernel size in kernel widths; 'max' matches the image size (rounded up to even).
    min_nwidths : float
        When ``kernelwidth * min_nwidths`` exceeds an image axis, the kernel spans
        ``min_nwidths`` widths instead.
    return_kernel : bool
        Also return the kernel.
    normalize_kernel : callable
        Kernel normalisation (``np.sum`` keeps the total flux, ``np.max`` the peak).
    downsample : bool
        Average the result over blocks of `downsample_factor` (default `kernelwidth`).
    ignore_edge_zeros : bool
        Leave the zero padding out of the kernel weight (edges are renormalised).
    **kwargs
        ``trapshlope`` only; anything else raises TypeError.

    Returns
    -------
    np.ndarray or (np.ndarray, np.ndarray)
        The smoothed image (and the kernel).

    Notes
    -----
    The kernel has an even size on each axis and its centre at index ``size // 2``, so
    smoothing does not move the image.

    Examples
    --------
    >>> image = np.zeros((16, 16)); image[8, 8] = 1.0
    >>> smoothed = smooth(image, kernelwidth=2)
    >>> peak = np.unravel_index(smoothed.argmax(), smoothed.shape)
    >>> round(float(smoothed.sum()), 6), tuple(int(i) for i in peak)
    (1.0, (8, 8))
    """
    check_unknown("smooth", kwargs, frozenset({"trapshlope"}))
    if trapslope is None:
        trapslope = kwargs.get("trapshlope")
    ignore_options("smooth", silent=None if silent else silent)
    image = np.asarray(image)
    if image.dtype != np.float32:
        image = image.astype(np.float64)
    if nwidths != "max" or any(kernelwidth * min_nwidths > n for n in image.shape):
        widths = min_nwidths if nwidths == "max" else nwidths
        side = int(np.ceil(kernelwidth * widths))
        shape = [side + side % 2] * image.ndim
    else:
        shape = [n + n % 2 for n in image.shape]
    kernel = make_kernel(
        shape,
        kernelwidth=kernelwidth,
        kerneltype=kerneltype,
        trapslope=trapslope,
        normalize_kernel=normalize_kernel,
    )
    smoothed = convolve_fft(
        image,
        kernel,
        boundary="fill" if psf_pad else "wrap",
        nan_treatment="interpolate" if interp_nan else "fill",
        ignore_edge=ignore_edge_zeros,
    )
    if not interp_nan:
        bad = np.isnan(image)
        smoothed[bad] = image[bad]
    if downsample:
        factor = int(kernelwidth if downsample_factor is None else downsample_factor)
        smoothed = block_reduce(smoothed, factor)
        if return_kernel:
            return smoothed, block_reduce(kernel, factor)
        return smoothed
    if return_kernel:
        return smoothed, kernel
    return smoothed
