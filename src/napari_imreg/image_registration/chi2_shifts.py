"""chi2 shifts: the reference package's chi-squared functions, answered by the core.

``chi2_shift`` and ``chi2_shift_iterzoom`` call :func:`napari_imreg.core.register`;
``chi2n_map`` calls :func:`napari_imreg.core.chi2map.chi2_map`. Names, parameters,
defaults, return order ``(dx, dy, ...)`` and the number of returned values are the
reference's; see ``docs/migration.md`` for what changed in the numbers and why.
"""

from __future__ import annotations

import numpy as np

from ..core import register
from ..core.chi2map import chi2_map
from ._legacy import (
    as_error_map,
    check_unknown,
    error_xy,
    ignore_options,
    logger,
    offset_xy,
)

__all__ = ["chi2_shift", "chi2_shift_iterzoom", "chi2n_map"]

_REJECTED_BOUNDARIES = ("constant", "reflect", "nearest")
_ITERZOOM_OPTIONS = frozenset({"zoomstep", "minmax", "ploteach", "return_center"})


def _core_boundary(boundary: str) -> str:
    """'wrap' (the reference's default) and the core's 'overlap'; the rest are refused."""
    if boundary in ("wrap", "overlap"):
        return boundary
    if boundary in _REJECTED_BOUNDARIES:
        raise ValueError(
            f"boundary={boundary!r} is not available for sub-pixel chi2 shifts (the reference "
            "package silently treated it as 'wrap'). Use boundary='wrap' for periodic images, "
            "or boundary='overlap' for images whose edges do not wrap (compares only the "
            "overlapping pixels). chi2n_map() does implement 'constant', 'reflect' and "
            "'nearest' for whole-pixel shifts."
        )
    raise ValueError(
        f"boundary must be 'wrap' or 'overlap', got {boundary!r}; 'wrap' is the reference "
        "package's default."
    )


def _legacy_returns(result, return_error: bool, return_chi2array: bool) -> list:
    """The reference's return list, rebuilt from a core RegistrationResult."""
    returns = offset_xy(result.shift)
    if return_error:
        returns += error_xy(result.error, len(result.shift))
    if return_chi2array:
        if result.delta_chi2 is None:
            returns.append((None,) * (len(result.shift) + 1))
        else:
            grids = np.meshgrid(*result.delta_chi2_coords, indexing="ij")
            chi2 = result.delta_chi2 + (result.chi2_min or 0.0)
            returns.append((*grids[::-1], chi2))  # (xvals, yvals[, zvals], chi2)
    return returns


def chi2_shift(
    im1,
    im2,
    err=None,
    upsample_factor="auto",
    boundary="wrap",
    nthreads=1,
    use_numpy_fft=False,
    zeromean=False,
    nfitted=2,
    verbose=False,
    return_error=True,
    return_chi2array=False,
    max_auto_size=512,
    max_nsig=1.1,
):
    """Offset of image 2 from image 1 with chi-squared errors (drop-in for the reference).

    A thin call of :func:`napari_imreg.core.register`, which minimises the chi-squared
    of equations 1-4 of the reference documentation continuously (Newton's method on the
    exact band-limited surface), so the shift is not rounded to an upsampled grid.

    Parameters
    ----------
    im1, im2 : np.ndarray
        The reference image and the offset image, same shape. Any dimension: a 3-D pair
        gives ``[dx, dy, dz]`` (x first, like the 2-D case).
    err : float or np.ndarray, optional
        1-sigma noise of `im2`, scalar or per pixel (entries <= 0 or NaN are ignored).
        If None, the noise is estimated from the residual, so errors stay calibrated.
    upsample_factor : int or 'auto'
        Samples per pixel of the returned chi2 array only; the shift does not depend on it.
    boundary : {'wrap', 'overlap'}
        'wrap' (default) treats the images as periodic. 'overlap' (napari-imreg's addition)
        compares only the overlapping pixels, as non-periodic images need. 'constant',
        'reflect' and 'nearest' raise ValueError (the reference silently used 'wrap').
    nthreads : int
        FFT threads.
    use_numpy_fft : bool
        Accepted for compatibility; the core chooses the FFT backend (pyfftw if installed).
    zeromean : bool
        Subtract each image's mean first.
    nfitted, max_auto_size, max_nsig : optional
        Accepted for compatibility; the errors are marginal 1-sigma per axis whatever
        their values.
    verbose : bool
        Log the result at INFO level (logger ``napari_imreg.image_registration``); nothing
        is printed.
    return_error : bool
        Also return the 1-sigma errors.
    return_chi2array : bool
        Also return ``(xvals, yvals, chi2)``: chi2 on a grid around the minimum, with the
        x and y shift of each sample in chi2-map coordinates (the minimum lies at
        ``(-dx, -dy)``, as in the reference).

    Returns
    -------
    list
        ``[dx, dy]``, then ``[errx, erry]`` if `return_error`, then the tuple
        ``(xvals, yvals, chi2)`` if `return_chi2array`. ``dx, dy`` is the offset of `im2`
        from `im1`: shift `im2` by ``(-dx, -dy)`` to match `im1`.

    Raises
    ------
    ValueError
        For mismatched shapes, an unsupported boundary or invalid errors.

    Notes
    -----
    The errors are the core's: marginal 1-sigma (Delta chi2 = 1 with the other axis
    profiled out), calibrated so that 68% of repeated measurements fall within them. The
    reference's came from the Delta chi2 < 2.3 region on its grid, about 1.5 times larger
    and exactly 0 at high signal-to-noise.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_imreg.image_registration import fft_tools
    >>> rng = np.random.default_rng(0)
    >>> rr = ((np.indices([100, 100]) - np.array([50.0, 50.0])[:, None, None]) ** 2).sum(0) ** 0.5
    >>> image = np.exp(-(rr**2) / (3.0**2 * 2.0)) * 20
    >>> shifted = np.roll(np.roll(image, 12, 0), 5, 1) + rng.normal(size=(100, 100))
    >>> dx, dy, edx, edy = chi2_shift(image, shifted, upsample_factor="auto")
    >>> round(dx), round(dy)
    (5, 12)
    >>> shifted2 = fft_tools.shift2d(image, 3.665, -4.25) + rng.normal(size=(100, 100))
    >>> dx2, dy2, edx2, edy2 = chi2_shift(image, shifted2, upsample_factor="auto")
    >>> bool(abs(dx2 - 3.665) < 5 * edx2 and abs(dy2 + 4.25) < 5 * edy2)
    True
    """
    ignore_options(
        "chi2_shift",
        use_numpy_fft=use_numpy_fft or None,
        nfitted=nfitted if nfitted != 2 else None,
        max_auto_size=max_auto_size if max_auto_size != 512 else None,
        max_nsig=max_nsig if max_nsig != 1.1 else None,
    )
    result = register(
        im1,
        im2,
        error=as_error_map(err),
        upsample_factor=upsample_factor,
        boundary=_core_boundary(boundary),
        zero_mean=zeromean,
        threads=nthreads,
    )
    if verbose:
        logger.info("chi2_shift: %s", result)
    return _legacy_returns(result, return_error, return_chi2array)


def chi2_shift_iterzoom(
    im1,
    im2,
    err=None,
    upsample_factor="auto",
    boundary="wrap",
    nthreads=1,
    use_numpy_fft=False,
    zeromean=False,
    verbose=False,
    return_error=True,
    return_chi2array=False,
    zoom_shape=[10, 10],
    rezoom_shape=[100, 100],
    rezoom_factor=5,
    mindiff=1,
    **kwargs,
):
    """Offset of image 2 from image 1 with chi-squared errors (drop-in for the reference).

    The reference zoomed into its chi2 map step by step; the core minimises the same
    chi2 continuously, so this function gives the answer of :func:`chi2_shift`. It is
    kept with its own signature so that scripts (and ``register_fits``, whose default
    method it is) run unchanged. The reference raised ``NameError`` on every call and,
    once patched, was half a pixel off on even-length axes.

    Parameters
    ----------
    im1, im2, err, upsample_factor, boundary, nthreads, use_numpy_fft, zeromean, verbose
        As for :func:`chi2_shift`.
    return_error, return_chi2array : bool
        As for :func:`chi2_shift`.
    zoom_shape, rezoom_shape, rezoom_factor, mindiff : optional
        Accepted for compatibility; they steered the reference's zoom steps.
    **kwargs
        The reference passed these to its ``iterative_zoom``: ``zoomstep``, ``minmax``,
        ``ploteach`` and ``return_center`` are accepted (without effect); anything else
        raises TypeError.

    Returns
    -------
    list
        ``[dx, dy]`` (+ ``[errx, erry]``) (+ ``(xvals, yvals, chi2)``), as for
        :func:`chi2_shift`.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_imreg.image_registration import fft_tools
    >>> rng = np.random.default_rng(42)
    >>> image = rng.normal(size=(50, 55))
    >>> shifted = np.roll(np.roll(image, 12, 0), 5, 1)
    >>> dx, dy, edx, edy = chi2_shift_iterzoom(image, shifted, upsample_factor="auto")
    >>> round(dx, 6), round(dy, 6)
    (5.0, 12.0)
    >>> shifted2 = fft_tools.shift2d(image, 3.665, -4.25)
    >>> dx2, dy2, edx2, edy2 = chi2_shift_iterzoom(image, shifted2, upsample_factor="auto")
    >>> bool(abs(dx2 - 3.665) < 0.02 and abs(dy2 + 4.25) < 0.02)
    True
    """
    check_unknown("chi2_shift_iterzoom", kwargs, _ITERZOOM_OPTIONS)
    ignore_options(
        "chi2_shift_iterzoom",
        zoom_shape=zoom_shape,
        rezoom_shape=rezoom_shape,
        rezoom_factor=rezoom_factor,
        mindiff=mindiff,
        **kwargs,
    )
    return chi2_shift(
        im1,
        im2,
        err=err,
        upsample_factor=upsample_factor,
        boundary=boundary,
        nthreads=nthreads,
        use_numpy_fft=use_numpy_fft,
        zeromean=zeromean,
        verbose=verbose,
        return_error=return_error,
        return_chi2array=return_chi2array,
    )


def chi2n_map(
    im1,
    im2,
    err=None,
    boundary="wrap",
    nthreads=1,
    zeromean=False,
    use_numpy_fft=False,
    return_all=False,
    reduced=False,
):
    """chi2 of every whole-pixel shift, in the reference's layout.

    A thin call of :func:`napari_imreg.core.chi2map.chi2_map`.

    Parameters
    ----------
    im1, im2 : np.ndarray
        The images, same shape.
    err : float or np.ndarray, optional
        1-sigma noise of `im2` (default 1); map entries <= 0 or NaN are ignored.
    boundary : {'wrap', 'constant', 'reflect', 'nearest'}
        What the shifted `im1` holds beyond its edges, as in
        :func:`scipy.ndimage.map_coordinates` (the reference silently used 'wrap' for all).
    nthreads, use_numpy_fft : optional
        Accepted for compatibility.
    zeromean : bool
        Subtract each image's mean first.
    return_all : bool
        Also return the three terms.
    reduced : bool
        Divide chi2 by ``im2.size - 2``.

    Returns
    -------
    chi2n : np.ndarray
        chi2 with the shape of the images: the sample at index
        ``((ny - 1) // 2 - dy, (nx - 1) // 2 - dx)`` is chi2 for an offset ``(dx, dy)``
        of `im2` from `im1`.
    term1, term2, term3 : float, np.ndarray, float or np.ndarray
        Only with `return_all`: ``sum(im2**2 / err**2)``,
        ``-2 * correlation(im1, im2 / err**2)`` and ``sum(im1_shifted**2 / err**2)``
        (an array when it depends on the shift).

    Examples
    --------
    >>> import numpy as np
    >>> image = np.random.default_rng(0).normal(size=(8, 8))
    >>> chi2 = chi2n_map(image, np.roll(image, (2, -3), axis=(0, 1)))
    >>> tuple(int(i) for i in np.unravel_index(chi2.argmin(), chi2.shape))
    (1, 6)
    """
    ignore_options("chi2n_map", use_numpy_fft=use_numpy_fft or None)
    result = chi2_map(im1, im2, error=err, boundary=boundary, zero_mean=zeromean)
    chi2 = result.chi2
    if reduced:
        chi2 = chi2 / (chi2.size - 2.0)
    if return_all:
        return chi2, result.term1, result.term2, result.term3
    return chi2
