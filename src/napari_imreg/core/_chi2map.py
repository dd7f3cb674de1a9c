"""The chi-squared of every whole-pixel shift, as one centred map.

:func:`chi2_map` evaluates equations 1-4 of the reference documentation at every
integer shift: a diagnostic image of the whole search space (the typed
:func:`~napari_imreg.core.register` only samples the surface near its
minimum). It also implements the boundary conditions the reference documents,
which decide what the model image is where the shift moves it past an edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from . import _fft
from ._validation import as_image, check_choice, check_same_shape

__all__ = ["BOUNDARY_MODES", "Chi2Map", "chi2_map"]

#: Boundary conditions of :func:`chi2_map`, named as in :func:`scipy.ndimage.map_coordinates`.
BOUNDARY_MODES = ("wrap", "constant", "reflect", "nearest")
_NUMPY_PAD = {"wrap": "wrap", "constant": "constant", "reflect": "symmetric", "nearest": "edge"}


@dataclass(frozen=True)
class Chi2Map:
    """The chi-squared map and its three terms (see :func:`chi2_map`).

    Attributes
    ----------
    chi2 : numpy.ndarray
        ``term1 + term2 + term3``, the shape of the images.
    term1 : float
        ``sum(moving**2 / error**2)``, the same for every shift.
    term2 : numpy.ndarray
        ``-2 sum(reference_shifted * moving / error**2)``.
    term3 : float or numpy.ndarray
        ``sum(reference_shifted**2 / error**2)``: a float when it does not depend on
        the shift (periodic boundary and uniform error), an array otherwise.
    center : tuple of int
        The index of zero shift, ``(n - 1) // 2`` per axis.
    """

    chi2: np.ndarray
    term1: float
    term2: np.ndarray
    term3: float | np.ndarray
    center: tuple[int, ...]


def _correlate_padded(padded: np.ndarray, kernel: np.ndarray, shape, offset) -> np.ndarray:
    """``out[c + s] = sum_x padded[x + s + offset] kernel[x]`` for every shift ``s``."""
    size = padded.shape
    spectrum = _fft.rfftn(padded) * np.conj(_fft.rfftn(kernel, s=size))
    full = _fft.irfftn(spectrum, s=size)
    center = [(n - 1) // 2 for n in shape]
    index = tuple(
        (np.arange(n) - c + o) % m for n, c, o, m in zip(shape, center, offset, size, strict=True)
    )
    return full[np.ix_(*index)]


def chi2_map(
    reference,
    moving,
    *,
    error=None,
    boundary: Literal["wrap", "constant", "reflect", "nearest"] = "wrap",
    zero_mean: bool = False,
) -> Chi2Map:
    """chi2 of every whole-pixel shift of the reference against the moving image.

    Parameters
    ----------
    reference, moving : array_like
        Real images of the same shape, any number of dimensions. NaNs count as zero.
    error : float or array_like, optional, keyword-only
        1-sigma noise of `moving` (scalar or map; default 1). Pixels whose error is zero,
        negative or not finite are left out (weight 0).
    boundary : {"wrap", "constant", "reflect", "nearest"}, keyword-only
        What the shifted reference holds beyond its edges, as in
        :func:`scipy.ndimage.map_coordinates`: periodic, zero, mirrored, or the edge
        value repeated.
    zero_mean : bool, keyword-only
        Subtract each image's mean first.

    Returns
    -------
    Chi2Map
        ``chi2[center + s]`` is chi2 for the shift ``s`` (numpy axis order) that
        registers `moving` onto `reference`, i.e. for the model
        ``moving(x) = reference(x + s)``; ``center = (n - 1) // 2`` per axis, so the
        map covers shifts from ``-center`` to ``n - 1 - center``.

    Raises
    ------
    ValueError, TypeError
        For images of different shapes, non-numeric data or an unknown boundary.

    Notes
    -----
    With weights ``w = 1 / error**2`` and the extended reference ``P``,
    ``chi2(s) = sum_x w(x) (moving(x) - P(x + s))**2``, which splits into
    ``sum w moving**2`` (term 1), ``-2 sum_x w(x) moving(x) P(x + s)`` (term 2) and
    ``sum_x w(x) P(x + s)**2`` (term 3). Terms 2 and 3 are correlations, computed by FFT
    on the reference padded by half its size with the requested boundary.

    Examples
    --------
    >>> image = np.zeros((5, 5)); image[2, 2] = 1.0
    >>> moved = np.roll(image, 1, axis=1)
    >>> result = chi2_map(image, moved)
    >>> np.unravel_index(int(result.chi2.argmin()), result.chi2.shape)
    (np.int64(2), np.int64(1))
    """
    ref = np.array(as_image(reference, "reference"), dtype=np.float64)
    mov = np.array(as_image(moving, "moving"), dtype=np.float64)
    check_same_shape(ref, mov, ("reference", "moving"))
    check_choice(boundary, "boundary", BOUNDARY_MODES)
    if zero_mean:
        ref -= np.nanmean(ref)
        mov -= np.nanmean(mov)
    ref = np.nan_to_num(ref, nan=0.0, posinf=0.0, neginf=0.0)
    mov = np.nan_to_num(mov, nan=0.0, posinf=0.0, neginf=0.0)
    scalar_error = error is None or np.ndim(error) == 0
    if scalar_error:
        sigma = 1.0 if error is None else float(error)
        if not np.isfinite(sigma) or sigma <= 0:
            raise ValueError(
                f"error must be a positive 1-sigma noise, got {error!r}; use None for 1."
            )
        weight = np.full(ref.shape, 1.0 / sigma**2)
    else:
        sigma = np.asarray(error, dtype=np.float64)
        if sigma.shape != ref.shape:
            raise ValueError(
                f"error has shape {sigma.shape} but the images have shape {ref.shape}; pass "
                "a scalar or a map of the image's shape."
            )
        good = np.isfinite(sigma) & (sigma > 0)
        weight = np.where(good, 1.0 / np.where(good, sigma, 1.0) ** 2, 0.0)
    center = tuple((n - 1) // 2 for n in ref.shape)
    term1 = float(np.sum(weight * mov**2))
    if boundary == "wrap" and scalar_error:
        zero = tuple(0 for _ in ref.shape)
        term2 = -2.0 * _correlate_padded(ref, weight * mov, ref.shape, zero)
        term3: float | np.ndarray = float(np.sum(weight * ref**2))
    else:
        pad = [(n // 2, n // 2) for n in ref.shape]
        padded = np.pad(ref, pad, mode=_NUMPY_PAD[boundary])
        offset = tuple(n // 2 for n in ref.shape)
        term2 = -2.0 * _correlate_padded(padded, weight * mov, ref.shape, offset)
        term3 = _correlate_padded(padded**2, weight, ref.shape, offset)
    chi2 = term1 + term2 + term3
    return Chi2Map(chi2=chi2, term1=term1, term2=term2, term3=term3, center=center)
