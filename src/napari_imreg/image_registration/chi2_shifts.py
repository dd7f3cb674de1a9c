"""chi2 shifts: the reference package's chi-squared functions, answered by the core.

``chi2_shift`` and ``chi2_shift_iterzoom`` call :func:`napari_imreg.core.register`;
``chi2n_map`` calls :func:`napari_imreg.core.chi2_map`. Names, parameters,
defaults, return order ``(dx, dy, ...)`` and the number of returned values are the
reference's; see ``docs/migration.md`` for what changed in the numbers and why.
"""

from __future__ import annotations

import numpy as np

from ..core import chi2_map, delta_chi2_levels, register, register_periodic
from ._legacy import (
    as_error_map,
    check_size,
    check_unknown,
    error_xy,
    ignore_options,
    logger,
    offset_xy,
    real_image,
)

__all__ = [
    "chi2_shift",
    "chi2_shift_iterzoom",
    "chi2_shift_leastsq",
    "chi2map_to_errors",
    "chi2n_map",
    "per_iteration",
]

_REJECTED_BOUNDARIES = ("constant", "reflect", "nearest")
_ITERZOOM_OPTIONS = frozenset({"zoomstep", "minmax", "ploteach", "return_center", "allow_huge"})


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
    allow_huge=False,
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
    allow_huge : bool
        Register images whose FFT arrays exceed 1 GB (complex, the image shape). Without
        it they raise ValueError, as in the reference.

    Returns
    -------
    list
        ``[dx, dy]``, then ``[errx, erry]`` if `return_error`, then the tuple
        ``(xvals, yvals, chi2)`` if `return_chi2array`. ``dx, dy`` is the offset of `im2`
        from `im1`: shift `im2` by ``(-dx, -dy)`` to match `im1`.

    Raises
    ------
    ValueError
        For mismatched shapes, an unsupported boundary, invalid errors, or images above
        the size guard without `allow_huge`.

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
    check_size("chi2_shift", np.shape(im1), allow_huge)
    options = {
        "error": as_error_map(err),
        "upsample_factor": upsample_factor,
        "zero_mean": zeromean,
    }
    reference, moving = real_image(im1, "im1"), real_image(im2, "im2")
    if _core_boundary(boundary) == "wrap":
        # Errors asked for also hold the seams' pull of images that do not wrap.
        seams = "residual" if return_error else "fisher"
        result = register_periodic(reference, moving, threads=nthreads, errors=seams, **options)
    else:
        result = register(reference, moving, boundary="overlap", threads=nthreads, **options)
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
        ``allow_huge`` as for :func:`chi2_shift` (the reference's raised NameError). The
        reference passed the others to its ``iterative_zoom``: ``zoomstep``, ``minmax``,
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
    allow_huge = kwargs.pop("allow_huge", False)
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
        allow_huge=allow_huge,
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
    allow_huge=False,
):
    """chi2 of every whole-pixel shift, in the reference's layout.

    A thin call of :func:`napari_imreg.core.chi2_map`.

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
    allow_huge : bool
        Compute maps whose FFT arrays exceed 1 GB (complex: the image shape with 'wrap',
        twice it per axis otherwise). Without it they raise ValueError, as in the reference.

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
    check_size("chi2n_map", np.shape(im1), allow_huge, padded=boundary != "wrap")
    result = chi2_map(
        real_image(im1, "im1"),
        real_image(im2, "im2"),
        error=err,
        boundary=boundary,
        zero_mean=zeromean,
    )
    chi2 = result.chi2
    if reduced:
        chi2 = chi2 / (chi2.size - 2.0)
    if return_all:
        return chi2, result.term1, result.term2, result.term3
    return chi2


def chi2map_to_errors(chi2map, zoomfactor=1.0, nsigma=1, nfitted=2):
    """The extent of the region of a chi2 map within ``nsigma`` of its minimum.

    Bookkeeping on the caller's map, as in the reference: the threshold is the core's
    :func:`napari_imreg.core.delta_chi2_levels` for `nfitted` parameters, and the errors
    are the distances from the minimum sample to the region's edge samples. They are
    therefore quantised to the map's sampling; :func:`chi2_shift` gives continuous,
    calibrated errors.

    Parameters
    ----------
    chi2map : np.ndarray
        A 2-D chi2 map whose minimum, and its ``nsigma`` region, lie inside the map.
    zoomfactor : float
        Samples per original pixel (the map's upsampling).
    nsigma : float
        Size of the region, in Gaussian sigma (1: 68.3% for `nfitted` parameters).
    nfitted : int
        Number of fitted parameters (the degrees of freedom of Delta chi2).

    Returns
    -------
    tuple of float
        ``(errx_low, errx_high, erry_low, erry_high)`` in original pixels.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.indices((41, 41)) - 20
    >>> chi2 = (xx / 4.0) ** 2 + (yy / 8.0) ** 2
    >>> [float(e) for e in chi2map_to_errors(chi2, zoomfactor=4, nsigma=1)]
    [1.5, 1.5, 3.0, 3.0]
    """
    chi2map = np.asarray(chi2map, dtype=float)
    if chi2map.ndim != 2:
        raise ValueError(f"chi2map must be 2-D, got shape {chi2map.shape}.")
    (level,) = delta_chi2_levels(nfitted, sigmas=(nsigma,))
    yy, xx = np.indices(chi2map.shape) / float(zoomfactor)
    best = np.unravel_index(np.nanargmin(chi2map), chi2map.shape)
    inside = chi2map - chi2map[best] < level
    xcen, ycen = xx[best], yy[best]
    return (
        float(xcen - xx[inside].min()),
        float(xx[inside].max() - xcen),
        float(ycen - yy[inside].min()),
        float(yy[inside].max() - ycen),
    )


def chi2_shift_leastsq(
    im1,
    im2,
    err=None,
    mode="wrap",
    maxoff=None,
    return_error=True,
    guessx=0,
    guessy=0,
    use_fft=False,
    ignore_outside=True,
    verbose=False,
    **kwargs,
):
    """Offset of image 2 from image 1 by least squares (drop-in for the reference).

    The reference fitted the shift with `lmfit` from a starting guess, and called itself
    obsolete: it depended on the guess and its errors were unreliable. This answers with
    the core's global chi2 minimum and calibrated errors, like :func:`chi2_shift`.

    Parameters
    ----------
    im1, im2 : np.ndarray
        The reference image and the offset image, same shape.
    err : float or np.ndarray, optional
        1-sigma noise of `im2` (entries <= 0 or NaN are ignored); estimated if None.
    mode : {'wrap', 'constant', 'reflect', 'nearest'}
        'wrap' treats the images as periodic. The others described what lay beyond the
        edges, whose pixels the reference then cropped (`ignore_outside`); they register
        with the core's 'overlap' mode, which compares only the overlapping pixels.
    maxoff : float, optional
        Largest offset searched, in pixels per axis.
    return_error : bool
        Also return the 1-sigma errors.
    guessx, guessy, use_fft, ignore_outside : optional
        Accepted for compatibility: the core searches every whole-pixel shift, so needs no
        starting guess.
    verbose : bool
        Log the result at INFO level; nothing is printed.
    **kwargs
        Options the reference passed to ``lmfit.minimize``; accepted without effect.

    Returns
    -------
    tuple
        ``(dx, dy)``, then ``(errx, erry)`` if `return_error`: the offset of `im2` from
        `im1` (shift `im2` by ``(-dx, -dy)`` to match `im1`).

    Examples
    --------
    >>> import numpy as np
    >>> image = np.random.default_rng(3).normal(size=(40, 40))
    >>> dx, dy = chi2_shift_leastsq(image, np.roll(image, (2, -1), axis=(0, 1)),
    ...                             return_error=False)
    >>> round(dx, 6), round(dy, 6)
    (-1.0, 2.0)
    """
    if mode not in ("wrap", *_REJECTED_BOUNDARIES):
        raise ValueError(f"mode must be 'wrap', 'constant', 'reflect' or 'nearest', got {mode!r}.")
    ignore_options(
        "chi2_shift_leastsq",
        guessx=guessx or None,
        guessy=guessy or None,
        use_fft=use_fft or None,
        ignore_outside=None if ignore_outside else ignore_outside,
        **kwargs,
    )
    reference, moving = real_image(im1, "im1"), real_image(im2, "im2")
    options = {
        "error": as_error_map(err),
        "max_shift": maxoff,
        "brightness": "offset",  # the spec fits no gain: what the core did before issue 14
    }
    if mode == "wrap":
        seams = "residual" if return_error else "fisher"
        result = register_periodic(reference, moving, errors=seams, **options)
    else:
        result = register(reference, moving, boundary="overlap", **options)
    if verbose:
        logger.info("chi2_shift_leastsq: %s", result)
    returns = offset_xy(result.shift)
    if return_error:
        returns += error_xy(result.error, len(result.shift))
    return tuple(returns)


def per_iteration(pars, i, resid, *args, **kws):
    """Log one iteration of a least-squares fit (an ``lmfit`` iteration callback).

    The reference printed the parameters and chi2 for the first 100 iterations and every
    tenth after; the same lines go to the logger ``napari_imreg.image_registration`` at
    INFO level.

    Parameters
    ----------
    pars : mapping
        Parameter name to an object with ``.value`` (``lmfit.Parameters``) or a number.
    i : int
        Iteration number.
    resid : np.ndarray
        Residuals; their sum of squares is logged as chi2.
    *args, **kws
        Whatever else the fitter passes; ignored.
    """
    if i < 100 or i % 10 == 0:
        values = {name: getattr(p, "value", p) for name, p in dict(pars).items()}
        chi2 = float(np.sum(np.square(resid)))
        logger.info("iteration %03d: %s chi^2: %s", i, values, chi2)
