"""The large-image road: the whole-pixel shift on binned images, then the surface near it.

See docs/how-it-works.md, "The large-image road".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from . import _fft
from ._brightness import OverlapSums, ProfiledSurface, TiltSums, fits_tilt, tilt_coordinates
from ._chi2 import (
    Series,
    Surface,
    TermSum,
    outer_product,
    parabolic_offset,
    whole_pixel_minimum,
)
from ._deltachi2 import MAP_HALF_WIDTH
from ._filter import SHORT_AXIS
from ._prepare import PreparedImage, bin_blocks
from ._surface_spectral import (
    Spectra,
    profiled_from_spectra,
    spectral_surface,
    surface_from_spectra,
)
from ._taper import Marginals, Taper, TaperCorrelation, TaperOverlap

#: In overlap mode, images this many times ``BINNED_SIZE`` long (per axis, up to
#: ``MAX_BINNING``) find their whole-pixel shift on images binned by that factor;
#: volumes, by voxel count (see ``binning_factors``).
BINNED_SIZE = 128
MAX_BINNING = 4
#: The brightness fits profiled out of the surface (the others fit at most an offset).
PROFILED = ("scale+offset", "scale+offset+tilt")


def binning_factors(shape) -> tuple[int, ...]:
    """The factor each axis is binned by for the whole-pixel search (1: not binned).

    Images and spectra bin an axis once per ``BINNED_SIZE`` pixels; volumes bin by
    voxel count, as if their voxels were an image's pixels (an axis once per
    ``BINNED_SIZE ** (2 / ndim)`` voxels, 25 in 3-D): a 96-voxel cube holds as many
    voxels as a 940-pixel square. Up to ``MAX_BINNING`` per axis.
    """
    size = BINNED_SIZE if len(shape) <= 2 else BINNED_SIZE ** (2 / len(shape))
    return tuple(int(np.clip(n // size, 1, MAX_BINNING)) for n in shape)


def cross_padding(shape, largest, tapers) -> tuple[int, ...]:
    """The FFT shape for the cross term ``corr(aR, bM)`` of the tapered images, exact
    at every shift up to ``largest`` pixels per axis.

    A circular correlation of two images that are zero over ``m`` pixels at each
    end equals the zero-padded one at shifts up to ``2 m``: an axis whose shifts
    stay within that keeps its length (rounded up to a fast one). Others are
    padded by the rest, rounded up to a fast length: few lengths are fast, so
    shifts that drift (a stack) reuse a few transform sizes, and their plans.
    """
    short = [max(0, int(k) - 2 * t.margin) for k, t in zip(largest, tapers, strict=True)]
    return _fft.next_fast_shape(np.asarray(shape) + np.asarray(short))


def binned_road(engine) -> bool:
    """Whether the whole-pixel search can run on binned images, masked or not:
    overlap mode and an axis long enough to bin.

    A thin image bins its long axes only; its axes shorter than ``SHORT_AXIS``
    keep the full surface's period (see :func:`_near`).
    """
    return engine._tapers is not None and max(engine._binning) > 1


def binned_search(engine, complete: bool, *, noise_maps: bool) -> bool:
    """Whether the binned road (:func:`binned_road`) runs with weights that are the
    taper alone: no noise maps, nothing masked in the reference; ``complete``: the
    moving image has no invalid pixel either."""
    return binned_road(engine) and not noise_maps and engine._reference_complete and complete


def tapered_road(engine, complete: bool, *, noise_maps: bool) -> bool:
    """Whether the surface near the binned estimate sums the taper's terms in image
    space (:func:`tapered_surface`): the binned search's weights (:func:`binned_search`)
    and every axis at least ``SHORT_AXIS`` long.

    A thin image takes every term from the spectra (:func:`masked_surface`): the
    taper's terms read its interpolant at each new fraction of a pixel, an inverse
    FFT of the whole long axis each (4 x 100000: the delta-chi2 map's 15 fractions
    cost more than the spectra's series).
    """
    thin = min(engine.shape) < SHORT_AXIS
    return binned_search(engine, complete, noise_maps=noise_maps) and not thin


def _binned_spectra(engine, image: np.ndarray, valid=None) -> Spectra:
    """The spectra of the unfiltered ``image`` binned, tapered and centred.

    With ``valid`` (a mask of the pixels to use), a binned pixel is the mean of
    its block's valid pixels, weighed by their share of the block: that mean's
    inverse variance, for independent noise. A block with none is left out.
    """
    binning = engine._binning
    tapers = [
        Taper(n // f, max(1, t.width // f), -(-t.margin // f)).samples()
        for n, f, t in zip(image.shape, binning, engine._tapers, strict=True)
    ]
    if valid is None:
        data = bin_blocks(image, binning)
        if engine.zero_mean:
            data -= data.mean()
        weight = tapers
    else:
        share = bin_blocks(valid, binning)
        totals = bin_blocks(np.where(valid, image, 0.0), binning)
        used = share > 0
        data = np.zeros(share.shape)
        np.divide(totals, share, out=data, where=used)
        if engine.zero_mean:
            data -= np.sum(totals) / np.sum(share)
            data[~used] = 0.0
        weight = share * outer_product(tapers)
    limits = np.floor(engine._limits / binning).astype(int)
    padded = _fft.next_fast_shape(np.asarray(data.shape) + limits + 2)
    return Spectra(PreparedImage(data, None, (0,) * data.ndim), weight, padded, engine.threads)


def binned_estimate(engine, moving: np.ndarray, valid=None) -> np.ndarray:
    """The shift, to a pixel or two: the whole-pixel minimum of the surface of both
    images (unfiltered: the estimate is the same at every strength) binned by
    ``engine._binning``, refined by a parabola, in pixels. ``valid``: the moving
    image's pixels to use (None: all); the reference's are its prepared ones."""
    reference = engine._binned_reference
    if reference is None:
        reference_valid = None if engine._reference_complete else engine._reference.valid
        reference = _binned_spectra(engine, engine._source, reference_valid)
        if engine.keep_reference_spectra:
            reference.keep = True
            engine._binned_reference = reference
    moving_spectra = _binned_spectra(engine, moving, valid)
    if engine.brightness in PROFILED:
        # The moving spectra are released by the surface: the reference's are kept.
        surface = profiled_from_spectra(
            reference, moving_spectra, reference._padded, engine.brightness
        )
    else:
        surface = surface_from_spectra(
            reference,
            moving_spectra,
            reference._padded,
            fit_offset=engine.zero_mean,
            split_noise=False,
        )
    whole, offset = whole_pixel_minimum(
        surface.for_search(),
        np.floor(engine._limits / engine._binning),
        min_weight_fraction=0.25,
        threads=engine.threads,
        allowed=np.floor(engine.allowed / engine._binning),
    )
    return (whole + offset) * np.asarray(engine._binning)


def _near(engine, estimate):
    """The whole-pixel centre of the search near ``estimate``, its radius, the
    reach of the shifts the later stages read around it, and the FFT shape that is
    exact over that reach.

    Axes shorter than ``SHORT_AXIS`` (a thin image's) keep the full surface's
    padding (``Engine._padded``), exact over all their shifts: between pixels the
    surface is the interpolant of that period, and on so few pixels the period
    shapes it, so a thin image's surface there stays the full road's.
    """
    centre = np.clip(np.round(estimate), -engine._limits, engine._limits)
    radius = np.maximum(np.asarray(engine._binning) // 2, 1)
    # Room for one move of the window, Newton's pixel and the delta-chi2 map.
    room = 2 * radius + MAP_HALF_WIDTH + 2
    reach = [(c - r, c + r) for c, r in zip(centre, room, strict=True)]
    near = cross_padding(engine.shape, np.abs(centre).astype(int) + room, engine._tapers)
    padded = tuple(
        int(full) if n < SHORT_AXIS else int(length)
        for n, length, full in zip(engine.shape, near, engine._padded, strict=True)
    )
    return centre, radius, reach, padded


def masked_surface(engine, image: PreparedImage, estimate, ref_var, mov_var, *, split_noise):
    """The surface of masked or thin images, or of images with noise maps, near
    ``estimate``, the shift found on their binned images (:func:`binned_estimate`,
    with their valid pixels, unweighted): every term from the spectra of the
    weighted images (taper times valid pixels, times the inverse variance of the
    maps ``ref_var`` and ``mov_var``; see
    :func:`~napari_imreg.core._surface_spectral.spectral_surface`), padded only as
    far as that shift needs, and searched near it. Returns what
    :func:`tapered_surface` does.

    The weights vanish where the taper does, so the padding that makes the cross
    term of :func:`tapered_surface` exact makes every term exact.
    """
    centre, radius, _, padded = _near(engine, estimate)
    return spectral_surface(
        engine,
        image,
        ref_var,
        mov_var,
        split_noise=split_noise,
        padded=padded,
        search=lambda surface: _local_minimum(engine, surface.for_search(), centre, radius),
    )


def tapered_surface(engine, image: PreparedImage, estimate, *, split_noise: bool):
    """The surface near ``estimate``, the shift found on the binned images
    (:func:`binned_estimate`), with the taper's terms summed in image space (see
    ``_taper``) and the cross term from the spectra of both tapered images, padded
    only as far as that shift needs. Returns it, the whole-pixel minimum near the
    estimate, a sub-pixel guess, and the reference's weighted mean square."""
    centre, radius, reach, padded = _near(engine, estimate)
    profiles = [taper.samples() for taper in engine._tapers]
    # Between pixels, the taper as the FFTs of the cross term see it (``Taper``).
    tapers = [
        dataclasses.replace(t, period=p) for t, p in zip(engine._tapers, padded, strict=True)
    ]

    # The reference's spectrum for this padding, kept for the next call (the latest
    # padding only) unless the Registrar is a one-off. Threads sharing the
    # Registrar each hold their own entry.
    entry = engine._tapered_reference.get(padded)
    if entry is None:
        entry = _reference_entry(engine, padded, profiles, tapers)
        if engine.keep_reference_spectra:
            engine._tapered_reference = {padded: entry}
    ref_spectrum, ref_values = entry[:2]
    ref_squares_sums = engine._reference_squares
    if ref_squares_sums is None:
        ref_squares_sums = Marginals.of(engine._reference.data, 2, tapers)
        if engine.keep_reference_spectra:
            engine._reference_squares = ref_squares_sums
    cross = _fft.rfftn(image.data, s=padded, threads=engine.threads, weights=profiles)
    mov_values = Marginals.from_spectrum(image.data, cross, padded)
    np.conj(cross, out=cross)
    tilt = None
    if fits_tilt(engine.brightness):
        tilt = entry[2].sums(cross, padded, reach)
    cross *= ref_spectrum
    # Unless the engine keeps it, the reference's spectrum goes before the taper's
    # terms are made (a volume's peak of memory).
    del entry, ref_spectrum

    ref_squares = TaperCorrelation(ref_squares_sums, tapers, sign=1, reach=reach)
    mov_squares = TaperCorrelation(
        Marginals.of(image.data, 2, tapers), tapers, sign=-1, reach=reach
    )
    filtered = (
        Series(cross, padded, transfer=engine._transfer(padded, power=2))
        if engine._smooth
        else None
    )
    if engine.brightness in PROFILED:
        sums = OverlapSums(
            w=TaperOverlap(tapers),
            r=TaperCorrelation(ref_values, tapers, sign=1, reach=reach),
            m=TaperCorrelation(mov_values, tapers, sign=-1, reach=reach),
            rr=ref_squares,
            mm=mov_squares,
            rm=Series(cross, padded),
            tilt=tilt,
        )
        surface = ProfiledSurface(sums, engine.brightness, padded, filtered_cross=filtered)
    else:
        surface = _offset_surface(
            engine,
            ref_squares,
            mov_squares,
            ref_values,
            mov_values,
            cross,
            padded,
            tapers,
            reach=reach,
            split_noise=split_noise,
            filtered=filtered,
        )
    start, guess = _local_minimum(engine, surface.for_search(), centre, radius)
    weight_sum = float(np.prod([profile.sum() for profile in profiles]))
    return surface, start, guess, ref_squares_sums.total / weight_sum


def _reference_entry(engine, padded, profiles, tapers) -> tuple:
    """What :func:`tapered_surface` reads of the reference for one padding: the
    spectrum of the tapered reference, its sums over the taper (``Marginals``) and,
    with a tilt fitted, its moments (``_ReferenceMoments``)."""
    data = engine._reference.data
    spectrum = _fft.rfftn(data, s=padded, threads=engine.threads, weights=profiles)
    entry = (spectrum, Marginals.from_spectrum(data, spectrum, padded))
    if fits_tilt(engine.brightness):
        entry = (*entry, _ReferenceMoments.of(engine, padded, profiles, tapers))
    return entry


@dataclass(frozen=True)
class _ReferenceMoments:
    """What a tilt adds to the reference's side of the large-image road, for one
    padding: the sums of the reference's weight times its coordinates, ``w x_i`` and
    ``w x_i x_j``, and of its weighted values times them, ``w R x_i``, each against the
    moving taper (:class:`Marginals`, summed in image space like the taper's other
    terms), and the spectra of ``w x_i``, whose product with the moving image's
    spectrum is ``sum w M' x_i`` (see ``_brightness.TiltSums``)."""

    tapers: list
    w_x: list
    w_xx: list
    r_x: list
    spectra: list

    @classmethod
    def of(cls, engine, padded, profiles, tapers) -> _ReferenceMoments:
        shape = engine.shape
        coords = [
            np.broadcast_to(c.reshape([-1 if a == axis else 1 for a in range(len(shape))]), shape)
            for axis, c in enumerate(tilt_coordinates(shape))
        ]
        pairs = [(i, j) for i in range(len(shape)) for j in range(i, len(shape))]
        data = engine._reference.data
        return cls(
            tapers,
            [Marginals.of(c, 1, tapers) for c in coords],
            [Marginals.of(coords[i] * coords[j], 1, tapers) for i, j in pairs],
            [Marginals.of(data * c, 1, tapers) for c in coords],
            [_fft.rfftn(c, s=padded, threads=engine.threads, weights=profiles) for c in coords],
        )

    def sums(self, moving_conjugate, padded, reach) -> TiltSums:
        """The tilt's sums as terms of the shift, ``moving_conjugate`` the conjugate
        spectrum of the weighted moving image."""

        def against_taper(marginals):
            return TaperCorrelation(marginals, self.tapers, sign=1, reach=reach)

        return TiltSums(
            tuple(against_taper(m) for m in self.w_x),
            tuple(against_taper(m) for m in self.w_xx),
            tuple(against_taper(m) for m in self.r_x),
            tuple(Series(moving_conjugate * f, padded) for f in self.spectra),
        )


def _offset_surface(
    engine,
    ref_squares,
    mov_squares,
    ref_values,
    mov_values,
    cross,
    padded,
    tapers,
    *,
    reach,
    split_noise,
    filtered,
) -> Surface:
    """The surface with at most an offset fitted, from the taper's terms and the cross term."""
    residual = TermSum(ref_squares, mov_squares, Series(cross, padded, scale=-2.0))
    offset = None
    if engine.zero_mean:
        offset = TermSum(
            TaperCorrelation(ref_values, tapers, sign=1, reach=reach),
            TaperCorrelation(mov_values, tapers, sign=-1, reach=reach, scale=-1.0),
        )
    reference_part = (
        TermSum(ref_squares, Series(cross, padded, scale=-1.0)) if split_noise else None
    )
    return Surface(residual, TaperOverlap(tapers), offset, padded, reference_part, filtered)


def _local_minimum(engine, surface, centre, radius):
    """The whole-pixel minimum of ``surface`` within ``radius`` of ``centre`` (the
    window moved once if the minimum lies on its edge), and a parabolic guess."""
    limits = engine._limits
    for _ in range(2):
        window = [
            np.arange(max(c - r, -lim), min(c + r, lim) + 1)
            for c, r, lim in zip(centre, radius, limits, strict=True)
        ]
        score = surface.values(window)
        index = np.unravel_index(int(np.argmin(score)), score.shape)
        best = np.array([w[i] for w, i in zip(window, index, strict=True)])
        on_edge = [
            (i == 0 and w[0] > -lim) or (i == len(w) - 1 and w[-1] < lim)
            for w, i, lim in zip(window, index, limits, strict=True)
        ]
        if not any(on_edge):
            break
        centre = best
    offset = parabolic_offset(score, index, [False] * len(window))
    return best, best + offset
