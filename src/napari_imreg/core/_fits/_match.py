"""Two images on one pixel grid: moved by whole pixels where the WCS differ by a translation,
resampled (with `reproject`) where they differ by more.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from astropy import stats
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from ._grid import reproject_to_header
from ._sources import load_data, load_header, load_wcs

# How far (in pixels) the grid of one image may stray from a pure translation of the
# other's and still be placed on it without resampling: well below the smallest errors the
# core reports (about 1e-3 px at the highest signal-to-noise).
_TRANSLATION_TOLERANCE = 1e-4


def _pixel_translation(
    reference_wcs: WCS, moving_wcs: WCS, moving_shape: tuple[int, int]
) -> np.ndarray | None:
    """``t`` (numpy order) with reference pixel = moving pixel + t, or None if not a translation.

    The corners and centre of the moving image are carried through the sky (SkyCoord, so
    differing celestial frames are handled) onto the reference's pixel grid.
    """
    ny, nx = moving_shape
    x = np.array([0.0, nx - 1, 0.0, nx - 1, (nx - 1) / 2])
    y = np.array([0.0, 0.0, ny - 1, ny - 1, (ny - 1) / 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        world = moving_wcs.pixel_to_world(x, y)
        world = world if isinstance(world, list | tuple) else [world]
        x_ref, y_ref = (np.asarray(v, dtype=float) for v in reference_wcs.world_to_pixel(*world))
    moves = np.stack([y_ref - y, x_ref - x], axis=1)
    if not np.all(np.isfinite(moves)):
        return None
    if np.ptp(moves, axis=0).max() > _TRANSLATION_TOLERANCE:
        return None
    return moves.mean(axis=0)


def _place(image: np.ndarray | None, translation: np.ndarray, shape: tuple[int, int]):
    """`image` moved by the whole pixels `translation` onto a grid of `shape` (NaN elsewhere)."""
    if image is None:
        return None
    out = np.full(shape, np.nan)
    target, source = [], []
    for n_out, n_in, move in zip(shape, image.shape, translation.astype(int), strict=True):
        start, stop = max(move, 0), min(n_in + move, n_out)
        if start >= stop:
            return out
        target.append(slice(start, stop))
        source.append(slice(start - move, stop - move))
    out[tuple(target)] = image[tuple(source)]
    return out


def _cut(image1: np.ndarray, image2: np.ndarray, sigma_cut: float, use_mad_std: bool):
    """The reference's sigma cut: keep pixels above ``sigma_cut`` noise, zero the rest.

    NaN pixels (outside a footprint) stay NaN. If no finite pixel survives in both images
    the cut is skipped with a warning, as the reference did.
    """

    def noise(image):
        return stats.mad_std(image, ignore_nan=True) if use_mad_std else np.nanstd(image)

    cut1 = image1 * (image1 > sigma_cut * noise(image1))
    cut2 = image2 * (image2 > sigma_cut * noise(image2))
    if np.nansum(cut1 * cut2) == 0:
        warnings.warn(
            f"sigma_cut={sigma_cut} leaves no pixel above the cut in both images; "
            "registering the uncut images.",
            stacklevel=3,
        )
        return image1, image2
    return cut1, cut2


@dataclass(frozen=True)
class MatchedImages:
    """Two images on one pixel grid, as :func:`match_wcs` returns them.

    Attributes
    ----------
    reference, moving : numpy.ndarray
        The images on the grid of `wcs` (NaN outside a footprint), float64.
    error : numpy.ndarray or None
        The moving image's noise map on the same grid, if one was given.
    wcs : astropy.wcs.WCS
        The common grid: the reference's.
    subpixel_offset : numpy.ndarray
        ``(dy, dx)``: where the moving image's grid was moved by whole pixels only, the
        fraction of a pixel by which its pixels still sit off the common grid. A
        registration shift measured on these arrays includes it; subtract it. Zero when
        the images were resampled or the grids agree to a whole pixel.
    reprojected : bool
        Whether the moving image was resampled (by `reproject`).
    """

    reference: np.ndarray
    moving: np.ndarray
    error: np.ndarray | None
    wcs: WCS
    subpixel_offset: np.ndarray
    reprojected: bool


def match_wcs(
    reference,
    moving,
    reference_wcs: WCS,
    moving_wcs: WCS | None = None,
    *,
    error=None,
    sigma_cut: float | None = None,
    use_mad_std: bool = True,
    subpixel_offset: bool = False,
) -> MatchedImages:
    """Bring a moving image onto the pixel grid of a reference, both given with a WCS.

    Parameters
    ----------
    reference, moving : array_like
        2-D images (numpy order).
    reference_wcs : astropy.wcs.WCS
        The reference's grid (see :func:`load_wcs`).
    moving_wcs : astropy.wcs.WCS, optional
        The moving image's grid; default: the same as the reference's.
    error : array_like, optional, keyword-only
        The moving image's 1-sigma noise map, moved like it.
    sigma_cut : float, optional, keyword-only
        Keep only pixels above ``sigma_cut`` times each image's noise (robust standard
        deviation with `use_mad_std`), zeroing the rest, as the reference package did.
    use_mad_std : bool, keyword-only
        Estimate that noise by the median absolute deviation (else the standard deviation).
    subpixel_offset : bool, keyword-only
        For grids that differ by a pure translation with a fractional part: move by whole
        pixels and report the fraction in :attr:`MatchedImages.subpixel_offset` (for a
        registration, which can subtract it) instead of resampling.

    Returns
    -------
    MatchedImages

    Raises
    ------
    ImportError
        If the grids differ by more than a translation and `reproject` is not installed.
    ValueError
        For images that are not 2-D, or an error map of another shape than `moving`.

    Notes
    -----
    Grids that agree, or differ by a pure translation (the same projection and pixel
    scale, another reference pixel), need no resampling: the moving image is moved by
    whole pixels. Other grids are resampled with `reproject` (bilinear).
    """
    reference = np.asarray(reference, dtype=float)
    moving = np.asarray(moving, dtype=float)
    for name, image in (("reference", reference), ("moving", moving)):
        if image.ndim != 2:
            raise ValueError(f"{name} must be a 2-D image, got shape {image.shape}.")
    noise = None if error is None else np.asarray(error, dtype=float)
    if noise is not None and noise.shape != moving.shape:
        raise ValueError(
            f"error has shape {noise.shape} but moving has {moving.shape}; pass the moving "
            "image's noise map."
        )
    moving_wcs = reference_wcs if moving_wcs is None else moving_wcs
    translation = _pixel_translation(reference_wcs, moving_wcs, moving.shape)
    whole = None if translation is None else np.round(translation)
    fraction = np.zeros(2) if whole is None else translation - whole
    if whole is not None and (subpixel_offset or np.abs(fraction).max() <= _TRANSLATION_TOLERANCE):
        moved = _place(moving, whole, reference.shape)
        noise = _place(noise, whole, reference.shape)
        reprojected = False
    else:
        header = reference_wcs.to_header()
        header["NAXIS"], header["NAXIS1"], header["NAXIS2"] = 2, *reference.shape[::-1]
        moved = reproject_to_header((moving, moving_wcs), header)
        if noise is not None:
            noise = reproject_to_header((noise, moving_wcs), header)
        fraction, reprojected = np.zeros(2), True
    if sigma_cut:
        reference, moved = _cut(reference, moved, sigma_cut, use_mad_std)
    return MatchedImages(
        reference=reference,
        moving=moved,
        error=noise,
        wcs=reference_wcs,
        subpixel_offset=fraction if subpixel_offset else np.zeros(2),
        reprojected=reprojected,
    )


def match_images(
    source1,
    source2,
    *,
    header=None,
    sigma_cut: float | None = None,
    use_mad_std: bool = True,
) -> tuple[np.ndarray, np.ndarray, fits.Header]:
    """Bring two images, read from files, HDUs or ``(array, header)`` pairs, onto one grid.

    A thin reader around :func:`match_wcs`.

    Parameters
    ----------
    source1, source2 : str, path-like, HDU or (array, header)
        The reference and the moving image.
    header : Header, optional, keyword-only
        A common grid to resample both onto (needs `reproject`). Default: the grid of
        `source1`, onto which `source2` is moved (without resampling when the grids differ
        by whole pixels).
    sigma_cut, use_mad_std : keyword-only
        See :func:`match_wcs`.

    Returns
    -------
    image1, image2 : numpy.ndarray
        The two images on the common grid (NaN outside a source's footprint).
    header : astropy.io.fits.Header
        The common grid.
    """
    if header is not None:
        header = load_header(header)
        source1 = (reproject_to_header(source1, header), header)
    reference, grid = load_data(source1), load_header(source1)
    matched = match_wcs(
        reference,
        load_data(source2),
        load_wcs(grid),
        load_wcs(source2),
        sigma_cut=sigma_cut,
        use_mad_std=use_mad_std,
    )
    return matched.reference, matched.moving, grid
