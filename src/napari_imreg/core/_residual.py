"""Errors from the residual (issue 13): the image-space stage in the pipeline.

After the refinement, :func:`residual_errors` runs
:func:`~._image_fit.fit_image_shift` on the images as given (unfiltered, in
image space) from the pipeline's shift, with the images as the pipeline compared
them (filtered, tapered), and returns the covariance of the pipeline's shift: its
noise term, the sandwich of the pipeline's own residual, and a bias bound from a
second estimate: the pipeline at the floor check's other filter strength when it
ran, or at the strength of least predicted variance when the floor bound forced the
full one with the noise given, else the spline fit (both count with masked pixels;
docs/how-it-works-errors.md, "The pipeline's own residual" and "Bias shared by both
strengths"). The shift stays the pipeline's: the option changes the errors only.

The stage costs tens of full-image passes. Above :data:`STAGE_PIXELS` pixels (a
cube of side :data:`STAGE_SIDE` for volumes) it runs on one window of that many
pixels at the centre of the overlap (the moving window offset by the whole-pixel
shift, so the two show the same scene), and its sandwich, which falls as one over
the pixels compared, is scaled by the window's share of the overlap.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy import ndimage

from . import _fft
from ._brightness import fits_tilt
from ._filters import fill_invalid
from ._image_fit import BLOCK, covariance_envelope, fit_image_shift, variance_model
from ._pipeline_residual import ComparedImages, Witness
from ._prepare import SCATTERED, taper_interior

#: Images with more pixels than this are fitted on a window of this many pixels.
STAGE_PIXELS = 128**2
#: The window's least side: the sandwich's largest blocks (four times
#: :data:`~._image_fit.BLOCK`), which must hold the residual's correlation. In 2-D
#: the :data:`STAGE_PIXELS` square is longer; a cube of as many voxels is not (25³).
STAGE_SIDE = 4 * BLOCK
#: Pixels either side of the nearest one whose spline coefficients the cubic
#: B-spline reads at a point (4 per axis): a moving pixel this close to a hole is
#: interpolated partly from the hole's fill, and left out of the stage.
SPLINE_REACH = 2


def _variances(engine, moving_error, shape):
    """Each image's noise variance as the stage takes it: None (estimate), scalars, or
    per-pixel maps (both then maps, made by :func:`variance_model` downstream)."""
    ref_err, mov_err = engine._reference_error, moving_error
    if ref_err is None and mov_err is None:
        return None, None
    ref_var = 0.0 if ref_err is None else np.square(ref_err, dtype=np.float64)
    mov_var = 0.0 if mov_err is None else np.square(mov_err, dtype=np.float64)
    if np.ndim(ref_var) or np.ndim(mov_var):
        # NaN marks pixels to ignore (the weight masks them): give them the mean.
        ref_var = _filled(np.broadcast_to(ref_var, shape))
        mov_var = _filled(np.broadcast_to(mov_var, shape))
    return ref_var, mov_var


def _filled(variance):
    """The map with its non-finite pixels at the mean of the others."""
    finite = np.isfinite(variance)
    if finite.all():
        return variance
    return np.where(finite, variance, np.mean(variance[finite]) if finite.any() else 1.0)


def _known(mask, error):
    """The pixels neither ``mask`` (None: none) marks nor whose error is NaN (unknown
    noise: ignored); None when that is all of them."""
    valid = None if mask is None else ~mask
    if error is None or np.ndim(error) == 0:
        return valid
    known = np.isfinite(error)
    return known if valid is None else (valid & known)


def _valid(source, valid, *, reach: int = 0):
    """The image with its unusable pixels filled, and the pixels the stage may weigh
    (None: all).

    The stage compares the images as given, so the pixels it may use are those
    given, finite and not masked: not the pipeline's, which also loses the filter's
    footprint round each hole. Holes are filled smoothly
    (:func:`~._filters.fill_invalid`): a zeroed hole's edge would ring through the
    cubic spline's prefilter and the Fourier model into the valid pixels round it
    (errors 10-40x too large round a masked block). ``reach``: the valid pixels
    within that many pixels of a hole (on any axis or diagonal) are left out too,
    those whose interpolated value reads filled ones; kept if that leaves under a
    quarter of them (scattered holes: see ``_prepare.SCATTERED``).
    """
    finite = np.isfinite(source)
    valid = finite if valid is None else (valid & finite)
    if valid.all():
        return source, None
    filled = fill_invalid(source, valid)
    if reach:
        structure = ndimage.generate_binary_structure(valid.ndim, valid.ndim)
        eroded = ndimage.binary_erosion(valid, structure, iterations=reach, border_value=1)
        if np.count_nonzero(eroded) >= np.count_nonzero(valid) // SCATTERED:
            valid = eroded
    return filled, valid


def _stage_pixels(ndim: int) -> int:
    """The stage's pixel budget in ``ndim`` dimensions: :data:`STAGE_PIXELS`, or a cube
    of side :data:`STAGE_SIDE` where that holds more (32³ for volumes)."""
    return max(STAGE_PIXELS, STAGE_SIDE**ndim)


def _window_sizes(overlap) -> list[int]:
    """The window's length along each axis: a cube of :func:`_stage_pixels` pixels,
    with the axes whose overlap is shorter than its side taken whole and their share
    of the pixels given to the others (a 4 x 100000 image: 4 x 4096, not the 4 x 128
    whose spline is as biased by the edges as the pipeline)."""
    sizes = list(overlap)
    free = list(range(len(overlap)))
    budget = float(_stage_pixels(len(overlap)))
    while free:
        # The largest whole side whose cube fits (32768 ** (1 / 3) is 31.99999...).
        side = round(budget ** (1.0 / len(free)))
        side -= side ** len(free) > budget
        short = [axis for axis in free if overlap[axis] <= side]
        if not short:
            for axis in free:
                sizes[axis] = side
            break
        for axis in short:
            budget /= overlap[axis]
            free.remove(axis)
    return sizes


def _window(shape, whole):
    """Slices of the reference and the moving image: a window of at most
    :data:`STAGE_PIXELS` pixels at the centre of their overlap at the whole shift
    ``whole`` (see :func:`_window_sizes`); and the window's share of the overlap's
    pixels."""
    overlap = [n - abs(w) for n, w in zip(shape, whole, strict=True)]
    ref_slices, mov_slices = [], []
    for w, length, size in zip(whole, overlap, _window_sizes(overlap), strict=True):
        # The overlap in the reference frame is [max(w, 0), max(w, 0) + length).
        start = max(w, 0) + (length - size) // 2
        ref_slices.append(slice(start, start + size))
        mov_slices.append(slice(start - w, start - w + size))
    share = float(np.prod([s.stop - s.start for s in ref_slices])) / float(np.prod(overlap))
    return tuple(ref_slices), tuple(mov_slices), share


def residual_errors(
    engine, image, shift, covariance, moving_error, mask=None, witness=None, excess=1.0
):
    """The covariance of the pipeline's ``shift`` from the stage, run on ``engine``'s
    reference and the prepared ``image`` (its source, less the pixels ``mask``
    marks) from that shift and the pipeline's ``covariance`` (see the module).
    ``witness``: the same pair measured at another filter strength (a result with
    ``shift`` and ``covariance``), or None. Also the shift at the moving image's centre
    less ``shift``, where the images turned or changed scale (zeros elsewhere: see
    ``_distortion``): the shift to report."""
    if witness is not None and np.all(np.isfinite(witness.covariance)):
        witness = Witness.of(shift, covariance, witness.shift, witness.covariance)
    else:
        witness = None
    # Skinny products: threaded BLAS is slower on them and spins afterwards.
    with _fft.one_blas_thread():
        return _residual_errors(
            engine, image, shift, covariance, moving_error, mask, witness, excess
        )


def _residual_errors(engine, image, shift, covariance, moving_error, mask, witness, excess):
    shape = engine.shape
    reference, moving = engine._source, image.source
    ref_known = _known(engine._reference_mask, engine._reference_error)
    mov_known = _known(mask, moving_error)
    ref_var, mov_var = _variances(engine, moving_error, shape)
    maps = ref_var is not None and np.ndim(ref_var) > 0
    whole = np.round(shift).astype(int)
    compared = ComparedImages(
        engine._reference.data,
        image.data,
        engine._base_weight(engine._reference),
        engine._base_weight(image),
        # Not one pixel of the overlap past both tapers on some axis.
        tapered_through=(
            engine._tapers is not None and taper_interior(engine._tapers, shift, 1) is None
        ),
        excess=excess,
        filtered=engine._variance_factor,
    )
    if reference.size <= _stage_pixels(reference.ndim):
        reference, ref_valid = _valid(reference, ref_known)
        moving, mov_valid = _valid(moving, mov_known, reach=SPLINE_REACH)
        weight = _weight(ref_valid, mov_valid, whole)
        if maps:
            ref_var, mov_var = variance_model(ref_var, mov_var, whole, boundary=engine.boundary)
        fit = fit_image_shift(
            reference,
            moving,
            shift,
            reference_variance=ref_var,
            moving_variance=mov_var,
            weight=weight,
            boundary=engine.boundary,
            covariance=covariance,
            tilt=fits_tilt(engine.brightness),
            compared=compared,
            witness=witness,
        )
        # The pipeline's shift stays the answer but where the images turned or changed
        # scale (then the moving image's centre's): the stage gives its error, from the
        # pipeline's own residual and the part of the models' difference that is
        # not noise (a bias, as large seen from either end).
        return fit.covariance, fit.distortion
    if engine.boundary == "wrap":
        # The whole overlap is the image; the window's moving side is the periodic
        # image's pixels at the whole shift: cut where they lie, unless the window
        # crosses the image's edge there (the image is then rolled by the shift).
        ref_s, mov_s, share = _window(shape, np.zeros_like(whole))
        mov_s = _moved_window(mov_s, whole, shape)
        if mov_s is None:
            axes = tuple(range(len(shape)))
            moving = np.roll(moving, tuple(whole), axes)
            mov_known = None if mov_known is None else np.roll(mov_known, tuple(whole), axes)
            if maps:
                mov_var = np.roll(mov_var, tuple(whole), axes)
            compared = _rolled(compared, tuple(whole))
            mov_s = ref_s
    else:
        ref_s, mov_s, share = _window(shape, whole)
    # The holes are filled in the windows only: the stage reads nothing else.
    ref_w, ref_valid = _valid(
        np.asarray(reference[ref_s], dtype=np.float64),
        None if ref_known is None else ref_known[ref_s],
    )
    mov_w, mov_valid = _valid(
        np.asarray(moving[mov_s], dtype=np.float64),
        None if mov_known is None else mov_known[mov_s],
        reach=SPLINE_REACH,
    )
    weight = _weight(ref_valid, mov_valid, np.zeros(len(shape), dtype=int))
    if maps:
        # The windows show the same scene: the maps align at no further shift.
        ref_var, mov_var = variance_model(ref_var[ref_s], mov_var[mov_s], np.zeros(len(shape)))
    # The windows are cut at the whole shift (wrap: after the roll, which is it).
    fraction = np.asarray(shift, dtype=np.float64) - np.round(shift)
    pipeline = np.asarray(covariance, dtype=np.float64)
    fit = fit_image_shift(
        ref_w,
        mov_w,
        fraction,
        reference_variance=ref_var,
        moving_variance=mov_var,
        weight=weight,
        boundary="overlap",
        covariance=pipeline / share,
        tilt=fits_tilt(engine.brightness),
        compared=compared.window(ref_s, mov_s),
        witness=witness,
    )
    return _scaled(fit, pipeline, share), fit.distortion


def _scaled(fit, pipeline, share):
    """The window's covariance as the whole overlap's: the pipeline's sandwich
    scaled by the window's share of the pixels (it falls as one over the pixels
    compared), the pipeline's covariance as a floor, and the window's model term
    (the models' difference less its random part: a bias, the same across the
    image, so not scaled)."""
    sandwich = fit.sandwich_covariance * share
    return covariance_envelope(sandwich, pipeline) + fit.model_covariance


def _moved_window(slices, whole, shape):
    """``slices`` moved back by the whole shift ``whole``: the pixels of the image
    rolled by ``whole`` that they cut, as slices of the image itself (views, no
    rolled copy of the whole image); None where that window crosses an edge."""
    moved = [slice(s.start - w, s.stop - w) for s, w in zip(slices, whole, strict=True)]
    if all(s.start >= 0 and s.stop <= n for s, n in zip(moved, shape, strict=True)):
        return tuple(moved)
    return None


def _rolled(compared, whole):
    """The compared images with the moving side rolled by ``whole`` pixels (periodic)."""
    axes = tuple(range(len(whole)))
    weight = compared.moving_weight
    return replace(
        compared,
        moving=np.roll(compared.moving, whole, axes),
        moving_weight=None if weight is None else np.roll(weight, whole, axes),
    )


def _weight(ref_valid, mov_valid, whole):
    """The stage's weight in the reference frame: valid reference pixels whose moving
    pixel (at the whole-pixel shift) is valid too; None when all are."""
    if ref_valid is None and mov_valid is None:
        return None
    weight = np.ones(ref_valid.shape if ref_valid is not None else mov_valid.shape)
    if ref_valid is not None:
        weight = weight * ref_valid
    if mov_valid is not None:
        axes = tuple(range(weight.ndim))
        moved = np.roll(mov_valid, tuple(whole), axis=axes)
        weight = weight * moved  # wrapped pixels lie outside the overlap, weighed 0 there
    return weight
