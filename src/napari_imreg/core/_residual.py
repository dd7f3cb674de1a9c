"""Errors from the residual (issue 13): the image-space stage in the pipeline.

After the refinement, :func:`residual_errors` runs
:func:`~._image_fit.fit_image_shift` on the images as given (unfiltered, in
image space) from the pipeline's shift, with the images as the pipeline compared
them (filtered, tapered), and returns the covariance of the pipeline's shift: its
noise term, the sandwich of the pipeline's own residual, and a bias bound from a
second estimate, the pipeline at the floor check's other filter strength when it
ran, else the spline fit (docs/how-it-works-errors.md, "The pipeline's own
residual"). The shift stays the pipeline's: the option changes the errors only.

The stage costs tens of full-image passes. Above :data:`STAGE_PIXELS` pixels it
runs on one window of that many pixels at the centre of the overlap (the moving
window offset by the whole-pixel shift, so the two show the same scene), and its
sandwich, which falls as one over the pixels compared, is scaled by the window's
share of the overlap.
"""

from __future__ import annotations

import numpy as np

from . import _fft
from ._brightness import fits_tilt
from ._image_fit import covariance_envelope, fit_image_shift, variance_model
from ._pipeline_residual import ComparedImages, Witness

#: Images with more pixels than this are fitted on a window of this many pixels.
STAGE_PIXELS = 128**2


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


def _known(valid, error):
    """``valid`` less the pixels whose error is NaN (unknown noise: ignored)."""
    if error is None or np.ndim(error) == 0:
        return valid
    known = np.isfinite(error)
    return known if valid is None else (valid & known)


def _valid(source, valid):
    """The image with unusable pixels zeroed, and its validity (None: all valid)."""
    finite = np.isfinite(source)
    valid = finite if valid is None else (valid & finite)
    if valid.all():
        return source, None
    return np.where(valid, source, 0.0), valid


def _window(shape, whole):
    """Slices of the reference and the moving image: a window of at most
    :data:`STAGE_PIXELS` pixels at the centre of their overlap at the whole shift
    ``whole``; and the window's share of the overlap's pixels."""
    overlap = [n - abs(w) for n, w in zip(shape, whole, strict=True)]
    side = int(np.floor(STAGE_PIXELS ** (1.0 / len(shape))))
    ref_slices, mov_slices = [], []
    for w, length in zip(whole, overlap, strict=True):
        size = min(side, length)
        # The overlap in the reference frame is [max(w, 0), max(w, 0) + length).
        start = max(w, 0) + (length - size) // 2
        ref_slices.append(slice(start, start + size))
        mov_slices.append(slice(start - w, start - w + size))
    share = float(np.prod([s.stop - s.start for s in ref_slices])) / float(np.prod(overlap))
    return tuple(ref_slices), tuple(mov_slices), share


def residual_errors(engine, image, shift, covariance, moving_error, *, witness=None):
    """The covariance of the pipeline's ``shift`` from the stage, run on ``engine``'s
    reference and the prepared ``image`` (its source) from that shift and the
    pipeline's ``covariance`` (see the module). ``witness``: the same pair measured
    at another filter strength (a result with ``shift`` and ``covariance``), or None."""
    if witness is not None and np.all(np.isfinite(witness.covariance)):
        witness = Witness.of(shift, covariance, witness.shift, witness.covariance)
    else:
        witness = None
    # Skinny products: threaded BLAS is slower on them and spins afterwards.
    with _fft.one_blas_thread():
        return _residual_errors(engine, image, shift, covariance, moving_error, witness)


def _residual_errors(engine, image, shift, covariance, moving_error, witness) -> np.ndarray:
    shape = engine.shape
    reference, ref_valid = _valid(
        engine._source, _known(engine._reference.valid, engine._reference_error)
    )
    moving, mov_valid = _valid(image.source, _known(image.valid, moving_error))
    ref_var, mov_var = _variances(engine, moving_error, shape)
    maps = ref_var is not None and np.ndim(ref_var) > 0
    whole = np.round(shift).astype(int)
    compared = ComparedImages(
        engine._reference.data,
        image.data,
        engine._base_weight(engine._reference),
        engine._base_weight(image),
    )
    if reference.size <= STAGE_PIXELS:
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
        # The pipeline's shift stays the answer: the stage gives its error, from the
        # pipeline's own residual and the part of the models' difference that is
        # not noise (a bias, as large seen from either end).
        return fit.covariance
    if engine.boundary == "wrap":
        # The window's moving side may wrap round: take the periodic image's pixels.
        axes = tuple(range(len(shape)))
        moving = np.roll(moving, tuple(whole), axes)
        mov_valid = None if mov_valid is None else np.roll(mov_valid, tuple(whole), axes)
        if maps:
            mov_var = np.roll(mov_var, tuple(whole), axes)
        compared = _rolled(compared, tuple(whole))
        whole = np.zeros_like(whole)
    ref_s, mov_s, share = _window(shape, whole)
    ref_w = np.asarray(reference[ref_s], dtype=np.float64)
    mov_w = np.asarray(moving[mov_s], dtype=np.float64)
    weight = None
    if ref_valid is not None or mov_valid is not None:
        weight = np.ones(ref_w.shape)
        for valid, s in ((ref_valid, ref_s), (mov_valid, mov_s)):
            if valid is not None:
                weight = weight * valid[s]
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
    return _scaled(fit, pipeline, share)


def _scaled(fit, pipeline, share):
    """The window's covariance as the whole overlap's: the pipeline's sandwich
    scaled by the window's share of the pixels (it falls as one over the pixels
    compared), the pipeline's covariance as a floor, and the window's model term
    (the models' difference less its random part: a bias, the same across the
    image, so not scaled)."""
    sandwich = fit.sandwich_covariance * share
    return covariance_envelope(sandwich, pipeline) + fit.model_covariance


def _rolled(compared, whole):
    """The compared images with the moving side rolled by ``whole`` pixels (periodic)."""
    axes = tuple(range(len(whole)))
    weight = compared.moving_weight
    return ComparedImages(
        compared.reference,
        np.roll(compared.moving, whole, axes),
        compared.reference_weight,
        None if weight is None else np.roll(weight, whole, axes),
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
