"""Choosing the filter strength: the reference's edge content and the noise."""

from __future__ import annotations

import numpy as np

from ._filter import SHORT_AXIS, smoothing_kernels
from ._prefilter import (
    EdgeContent,
    PowerSpectrum,
    edge_scale,
    filter_strength,
    floor_noise,
    least_variance_strength,
)
from ._surface_binned import binned_estimate, binned_search

#: With no error given, large images measure their noise on windows this wide;
#: volumes on windows of ``SHORT_AXIS`` voxels per axis (32³, already eight times
#: the voxels of a 64² window).
NOISE_WINDOW = 64


def unknown_noise(registrar, mov: np.ndarray, mask):
    """The noise variance of the difference when no error is given, from the
    residual of a fit at full strength (which holds at any noise):
    ``(variance, estimate, fitted)``.

    Images that take the binned search fit a window of ``NOISE_WINDOW`` pixels
    per axis around the centre, cut at the whole-pixel shift found on the binned
    images (``estimate``, which the registration proper reuses). Others fit whole
    (``fitted``, which finishes the registration should the strength come out
    full; ``estimate`` is then its ``Fit.estimate``). A residual below the
    surface's precision gives a small variance, hence full strength, as it should.
    The variance is None when an image is flat.
    """
    engine = registrar._engine(1.0, prepare=False)
    complete = mask is None and bool(np.isfinite(np.sum(mov, dtype=np.float64)))
    # A thin image has no window (an axis under SHORT_AXIS): its fit finds the
    # estimate itself, after the images' checks.
    if binned_search(engine, complete, noise_maps=False) and min(mov.shape) >= SHORT_AXIS:
        estimate = binned_estimate(engine, mov)
        windows = noise_windows(registrar.shape, np.round(estimate).astype(int))
        if windows is not None:
            window = registrar._window_engine(windows[0]).fit_unknown_noise(mov[windows[1]])
            if window is not None:
                return window[1].noise ** 2, estimate, None
    fitted = registrar._engine(1.0).fit_unknown_noise(mov, mask)
    if fitted is None:
        return None, None, None
    return fitted[1].noise ** 2, fitted[1].estimate, fitted


def reference_edge_scale(registrar) -> float:
    """The scale of the sub-pixel floor (see ``_prefilter``), from the reference's
    statistics with its known noise taken out; 0 for wrap."""
    if registrar.boundary == "wrap":
        return 0.0
    kernels = smoothing_kernels(registrar.shape)
    if registrar._content is None:
        reference = registrar._source
        valid = np.isfinite(reference)
        if registrar._inputs["reference_mask"] is not None:
            valid &= ~registrar._inputs["reference_mask"]
        if valid.all():
            registrar._content = EdgeContent.measure(reference, None, kernels)
        else:
            zeroed = np.where(valid, reference, 0.0)
            registrar._content = EdgeContent.measure(zeroed, valid, kernels)
    return edge_scale(registrar._content, registrar.shape, registrar._reference_var, kernels)


def choose_strength(registrar, scale: float, noise_var: float, moving=None) -> float:
    """The filter strength for a difference of noise variance ``noise_var``: the
    least that keeps the floor at ``FLOOR_TOLERANCE`` of the noise's error
    (:func:`~._prefilter.filter_strength`), or more where the predicted error is
    less (:func:`~._prefilter.least_variance_strength`: at low SNR filtering removes
    more noise than shift information); 0 for wrap.

    The noise is split between the images as their errors give it, or, estimated
    (``moving``: the moving image and its mask, given when no error is), as their
    power where the full filter removes most, less the scene they share there.
    """
    if registrar.boundary == "wrap":
        return 0.0
    floor_bound = filter_strength(scale, len(registrar.shape), noise_var)
    spectrum = registrar._content.spectrum if registrar._content is not None else None
    if floor_bound >= 1.0 or spectrum is None or not noise_var > 0.0:
        return floor_bound
    kernels = smoothing_kernels(registrar.shape)
    if moving is None:
        reference_var = min(registrar._reference_var, noise_var)
    else:
        image, mask = moving
        valid = np.isfinite(image) if mask is None else np.isfinite(image) & ~mask
        if valid.all():
            moving_spectrum = PowerSpectrum.measure(image, None)
        else:
            moving_spectrum = PowerSpectrum.measure(np.where(valid, image, 0.0), valid)
        # Near Nyquist each image's power is the scene they share plus its noise,
        # and the two noises sum to noise_var: what is left is the scene's.
        ref_high = spectrum.removed_power(kernels)
        shared = max(0.0, (ref_high + moving_spectrum.removed_power(kernels) - noise_var) / 2)
        reference_var = min(max(ref_high - shared, 0.0), noise_var)
    least = least_variance_strength(
        spectrum, kernels, registrar.shape, scale, reference_var, noise_var - reference_var
    )
    return max(floor_bound, least)


def floor_variance(registrar, scale: float, strength: float) -> float:
    """The floor's variance at ``strength``, as a noise variance; 0 for wrap."""
    if registrar.boundary == "wrap":
        return 0.0
    return floor_noise(scale, len(registrar.shape), strength) ** 2


def noise_windows(shape, whole) -> tuple[tuple[slice, ...], tuple[slice, ...]] | None:
    """Windows of up to ``NOISE_WINDOW`` pixels per axis (``SHORT_AXIS`` for
    volumes), one in each image, that show the same scene at a whole-pixel shift
    ``whole`` (the reference's pixel ``x`` is the moving image's ``x - whole``),
    centred where both overlap; None where the overlap is narrower than ``SHORT_AXIS``."""
    reference, moving = [], []
    largest = NOISE_WINDOW if len(shape) <= 2 else SHORT_AXIS
    for n, k in zip(shape, whole, strict=True):
        low, high = max(0, k), min(n, n + k)  # the reference's pixels that both show
        size = min(largest, high - low)
        if size < SHORT_AXIS:
            return None
        start = low + (high - low - size) // 2
        reference.append(slice(start, start + size))
        moving.append(slice(start - k, start - k + size))
    return tuple(reference), tuple(moving)
