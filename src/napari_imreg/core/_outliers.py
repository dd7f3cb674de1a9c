"""Pixels that one image has and the other has not: hot pixels, cosmic rays, saturation.

Pure functions on arrays for the stages of the pipeline (saturation, and levelling a
saturated pair, are :mod:`._saturation`'s):

* :func:`search_copy` (whole-pixel search only): the image with its brightest and
  darkest ``tail`` of pixels clipped to the quantile there. A hot pixel or a streak
  then weighs no more than the brightest real feature, so the coincidences of
  outliers (hot pixel on hot pixel, streak on star) cannot outvote the thousands of
  pixels that match at the true shift. Real sharp stars keep their place and most of
  their weight: this only levels the top of the brightness scale.
* :func:`clip_residual` (after a first alignment, before the refinement): the pixels
  whose residual ``R - g M' - c`` is more than ``threshold`` robust sigmas from its
  median. It judges a pixel by the other image, not by its neighbours, so a real
  star 1-2 px wide, present in both images, is kept, and an outlier is found
  whatever its shape. When the noise is not given and grows with the signal
  (:mod:`._photon`), each pixel is judged by the noise at its level instead, and
  the pair is registered with the errors that noise gives.

Clipped pixels leave every sum: the degrees of freedom are the weight of the pixels
kept, and the noise estimated from the residual is that of the pixels kept (at a
``threshold`` of 5 or more, clipping removes under 6e-7 of Gaussian noise, and lowers
its variance by less than 1e-5 of itself).
"""

from __future__ import annotations

import dataclasses
import weakref

import numpy as np
import scipy.ndimage

from ._photon import kept_ranks, local_level, noise_line
from ._result import held_warnings, warn_registration
from ._sampling import median, quantum, robust_sigma, sample, tails
from ._saturation import dilate, levelled, saturated
from ._spline_model import keys_shift, spline_shift, tap_weights

__all__ = [
    "clip_residual",
    "folded",
    "reached",
    "search_copy",
]


def search_copy(image: np.ndarray, valid: np.ndarray | None = None, *, tail: float = 0.01):
    """A copy of ``image`` with its outer ``tail`` of values clipped, for the search only.

    Parameters
    ----------
    image : numpy.ndarray
        The image (not modified).
    valid : numpy.ndarray of bool, optional
        The pixels to take the quantiles over.
    tail : float
        Fraction of pixels clipped at each end (0.01: the top and bottom 1%). Hot
        pixels (0.01-0.05%) and a few short streaks (~0.3% of a 96 px image) fall
        inside it.

    Returns
    -------
    numpy.ndarray
        float64, the values outside the ``tail`` and ``1 - tail`` quantiles set to them
        (taken over at most :data:`~._sampling.SAMPLE` of the values).
    """
    return np.clip(image, *tails(image, valid, tail))


def clip_residual(
    residual: np.ndarray,
    valid: np.ndarray,
    *,
    threshold: float = 5.0,
    grow: int = 1,
    model_error: np.ndarray | None = None,
    sigma_floor: float = 0.0,
    noise: np.ndarray | None = None,
) -> tuple[np.ndarray, float | np.ndarray]:
    """The pixels whose residual departs from its median by more than ``threshold``
    robust sigmas, grown by ``grow`` pixels.

    Parameters
    ----------
    residual : numpy.ndarray
        ``R - g M' - c`` on the reference's grid, the moving image aligned by the
        current shift.
    valid : numpy.ndarray of bool
        The pixels where the residual is defined (the overlap, unmasked).
    threshold : float
        In robust sigmas (MAD x 1.4826 over the valid pixels, or :func:`sample` of them).
    grow : int
        Pixels added around each one: the wings of a cosmic ray or hot pixel, and
        the interpolation's ripple around one in the moving image.
    model_error : numpy.ndarray, optional
        A per-pixel bound on what the alignment itself can leave in the residual
        (the interpolation's error at sharp features), added in quadrature to the
        noise: a sharp real feature present in both images is then kept.
    sigma_floor : float
        The least sigma (the rounding of digitised images).
    noise : numpy.ndarray, optional
        The residual's 1-sigma noise per pixel, in place of its robust sigma (a noise
        that grows with the signal, :mod:`._photon`).

    Returns
    -------
    mask : numpy.ndarray of bool
        True where clipped (on ``residual``'s grid).
    sigma : float or numpy.ndarray
        The robust sigma of the residual, or ``noise`` (at least ``sigma_floor``).
    """
    values = sample(residual, valid)
    centre = median(values)
    if noise is not None:
        sigma = np.maximum(noise, sigma_floor)
    elif not (sigma := max(robust_sigma(values), sigma_floor)) > 0:
        return np.zeros(residual.shape, dtype=bool), sigma
    scale = sigma if model_error is None else np.sqrt(sigma**2 + model_error**2)
    outliers = valid & (np.abs(residual - centre) > threshold * scale)
    return dilate(outliers, grow) & valid, sigma


#: The interpolation error allowed in the residual, as a multiple of the difference
#: between the cubic and the linear interpolant (where both images are sharp).
MODEL_ERROR = 3.0
#: Pixels around a sharp one whose interpolation it can spoil (an edge moves).
MODEL_REACH = 1
#: Residuals below this fraction of the reference's std are never clipped.
ROUND_OFF = 1e-6
#: Outlier pixels the search copies allow for (clipped: at least 1%, at most 5%).
SEARCH_OUTLIERS = 64
#: Pixels of margin around a point over which the spline's coefficients are found
#: for it (the prefilter's reach falls by 0.268 per pixel: 3e-5 at 8).
SPLINE_MARGIN = 8


def moved(values: np.ndarray, shift, *, wrap: bool) -> np.ndarray:
    """``values(x - shift)`` by linear interpolation, zero beyond the edges unless
    ``wrap`` (local: an outlier spreads over its neighbours only, where an FFT shift
    would spread it along whole rows)."""
    mode = "grid-wrap" if wrap else "constant"
    return scipy.ndimage.shift(values, shift, order=1, mode=mode, cval=0.0)


def search_tail(size: int) -> float:
    """The tail :func:`search_copy` clips for an image of ``size`` pixels: small
    images' few streaks are a larger share of their pixels."""
    return float(np.clip(SEARCH_OUTLIERS / size, 0.01, 0.05))


def _inside(shape, shift, *, slack: float = 0.0) -> np.ndarray:
    """The pixels ``x`` whose ``x - shift`` lies inside the image (edges included, and
    ``slack`` pixels beyond them)."""
    inside = np.ones(shape, dtype=bool)
    for axis, n in enumerate(shape):
        x = np.arange(n) - shift[axis]
        view = [-1 if a == axis else 1 for a in range(len(shape))]
        inside = inside & ((x >= -slack) & (x <= n - 1 + slack)).reshape(view)
    return inside


def reached(mov_mask, shift, *, wrap):
    """The reference pixels whose aligned moving pixel (at ``shift``) is inside the
    moving image and interpolated from valid pixels only."""
    if mov_mask.any():
        return moved((~mov_mask).astype(np.float64), shift, wrap=wrap) > 0.999
    if wrap:
        return np.ones(mov_mask.shape, dtype=bool)
    return _inside(mov_mask.shape, shift, slack=1e-9)


def folded(index, n, *, wrap):
    """Indices outside ``[0, n)`` brought in: periodically, or by the whole-sample mirror."""
    if wrap:
        return np.mod(index, n)
    if n == 1:
        return np.zeros_like(index)
    period = 2 * (n - 1)
    index = np.abs(index) % period
    return np.where(index > n - 1, period - index, index)


def _interpolants_at(image, points, shift, *, wrap, reach, levels=(-np.inf, np.inf)):
    """The cubic-spline and linear interpolants of ``image`` (clipped to ``levels``)
    at ``x - shift`` for ``x`` within ``reach`` pixels of each of ``points``
    (reference pixels, ``(K, ndim)``): two arrays ``(K, (2 reach + 1)**ndim)``.

    Each point's values come from a patch around it: the spline's coefficients over
    the patch, with a margin of ``SPLINE_MARGIN`` pixels, are those of the whole image
    where they are read. The cost goes with the points, not with the image.
    """
    ndim = image.ndim
    whole = np.floor(shift).astype(int)
    phase = shift - whole
    radius = reach + 2 + SPLINE_MARGIN
    offsets = np.arange(-radius, radius + 1)
    index = []
    for axis, n in enumerate(image.shape):
        view = [1] * (ndim + 1)
        view[axis + 1] = offsets.size
        at = (points[:, axis] - whole[axis]).reshape([-1] + [1] * ndim) + offsets.reshape(view)
        index.append(folded(at, n, wrap=wrap))
    patches = np.clip(image[tuple(index)], *levels)
    cubic = patches
    for axis in range(1, ndim + 1):
        cubic = scipy.ndimage.spline_filter1d(cubic, order=3, axis=axis, mode="mirror")
    linear = patches

    def tap(values, axis, offset):
        index = [slice(None)] * values.ndim
        index[axis] = slice(radius - reach + offset, radius + reach + 1 + offset)
        return values[tuple(index)]

    for axis in range(1, ndim + 1):
        # The value at x - phase: taps x - 2 .. x + 1 (cubic), x - 1 and x (linear).
        p = float(phase[axis - 1])
        weights = tap_weights(p)
        cubic = sum(w * tap(cubic, axis, t) for w, t in zip(weights, (-2, -1, 0, 1), strict=True))
        linear = (1.0 - p) * tap(linear, axis, 0) + p * tap(linear, axis, -1)
    return cubic.reshape(len(points), -1), linear.reshape(len(points), -1)


def _patches_pay(image, points) -> bool:
    """Whether patches around ``points`` hold fewer pixels than the image."""
    patch = (2 * (MODEL_REACH + 2 + SPLINE_MARGIN) + 1) ** image.ndim
    return len(points) * patch <= image.size


def _sharpness_at(image, points, shift, *, wrap, levels=(-np.inf, np.inf)):
    """``|cubic - linear|`` interpolant of ``image(x - shift)``, its largest within
    ``MODEL_REACH`` pixels of each of ``points`` (:func:`_interpolants_at`)."""
    cubic, linear = _interpolants_at(
        image, points, shift, wrap=wrap, reach=MODEL_REACH, levels=levels
    )
    return np.abs(cubic - linear).max(axis=1)


def _sharpness(image, points, shift, *, wrap, levels=(-np.inf, np.inf)):
    """:func:`_sharpness_at` at ``points`` of ``image`` clipped to ``levels`` (its
    search copy): from patches when they pay, else from the whole image."""
    if _patches_pay(image, points):
        return _sharpness_at(image, points, shift, wrap=wrap, levels=levels)
    image = np.clip(image, *levels)
    cubic = spline_shift(image, shift, wrap=wrap)
    if not wrap:  # nothing beyond the edges, as the linear interpolant
        cubic[~_inside(image.shape, shift)] = 0.0
    sharp = np.abs(cubic - moved(image, shift, wrap=wrap))
    return _box_maximum_at(sharp, points, MODEL_REACH)


def _box_maximum_at(values: np.ndarray, points: np.ndarray, reach: int) -> np.ndarray:
    """The largest of ``values`` within ``reach`` pixels of each of ``points`` along
    every axis (the box cut at the edges: ``scipy.ndimage.maximum_filter``'s
    reflected values at an edge lie inside the box too), read at the points only."""
    offsets = np.arange(-reach, reach + 1)
    ndim = values.ndim
    index = []
    for axis, n in enumerate(values.shape):
        view = [1] * (ndim + 1)
        view[axis + 1] = offsets.size
        at = points[:, axis].reshape([-1] + [1] * ndim) + offsets.reshape(view)
        index.append(np.clip(at, 0, n - 1))
    return values[tuple(index)].reshape(len(points), -1).max(axis=1)


def _spline_at(image, points, shift, *, wrap):
    """The cubic spline of ``image`` at ``points - shift``: from patches when they
    pay, else from the whole image."""
    if _patches_pay(image, points):
        return _interpolants_at(image, points, shift, wrap=wrap, reach=0)[0][:, 0]
    return spline_shift(image, shift, wrap=wrap)[tuple(points.T)]


def _on_moving(clipped, shift, mov_mask, *, wrap):
    """The moving pixels that the linear interpolation at ``shift`` carries onto the
    ``clipped`` reference pixels, less those already masked."""
    if not clipped.any():
        return clipped.copy()
    points = np.argwhere(clipped)
    whole = np.floor(shift).astype(int)
    steps = [(0, 1) if s > w else (0,) for s, w in zip(shift, whole, strict=True)]
    out = np.zeros(clipped.shape, dtype=bool)
    for step in np.array(np.meshgrid(*steps, indexing="ij")).reshape(len(shift), -1).T:
        at = points - whole - step
        if wrap:
            at = np.mod(at, clipped.shape)
        else:
            at = at[np.all((at >= 0) & (at < clipped.shape), axis=1)]
        out[tuple(at.T)] = True
    return out & ~mov_mask


def _residual(ref, mov, valid, shift, scale, offset, *, wrap):
    """``R - scale M(x - shift) - offset`` with ``M(x - shift)`` by Keys' cubic
    convolution (no prefilter: the residual of every pixel, for the candidates),
    in single precision: each image less its level first, so that the rounding is
    that of the structure, not of the level (the residual is compared with
    ``threshold`` times its spread, at least 5)."""
    ref_level = float(np.mean(sample(ref, valid)))
    mov_level = float(np.mean(sample(mov)))
    aligned = keys_shift(np.subtract(mov, mov_level, dtype=np.float32), shift, wrap=wrap)
    residual = np.subtract(ref, ref_level, dtype=np.float32)
    residual -= np.float32(scale) * aligned
    residual -= np.float32(offset + scale * mov_level - ref_level)
    return residual


#: Each live Registrar's last valid pixels asked about and its reference's step there.
_REFERENCE_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def reference_quantum(registrar, valid: np.ndarray) -> float:
    """:func:`quantum` of ``registrar``'s reference on ``valid``, kept for the next call
    with the same pixels while the registrar lives (a stack's frames ask with one)."""
    kept = _REFERENCE_STEPS.get(registrar)
    if kept is not None and np.array_equal(kept[0], valid):
        return kept[1]
    step = quantum(registrar._source, valid)
    _REFERENCE_STEPS[registrar] = (valid, step)
    return step


#: Each live Registrar's last pixels left out and its reference's local level then.
_REFERENCE_LEVELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def reference_level(registrar, invalid: np.ndarray) -> np.ndarray:
    """:func:`~._photon.local_level` of ``registrar``'s reference with its ``invalid``
    pixels zeroed (as the residual takes it), kept for the next call with the same
    pixels while the registrar lives: the photon line and the outlier stage both read
    it, and a stack's frames share it."""
    kept = _REFERENCE_LEVELS.get(registrar)
    if kept is not None and np.array_equal(kept[0], invalid):
        return kept[1]
    ref = registrar._source
    level = local_level(np.where(invalid, 0.0, ref) if invalid.any() else ref)
    _REFERENCE_LEVELS[registrar] = (invalid.copy(), level)
    return level


def _residual_at(ref, mov, ref_mask, mov_mask, shift, scale, offset, *, wrap):
    """``(reference, moving, valid, residual)``: the images with their masked pixels
    filled, the pixels where the residual ``R - scale M' - offset`` at ``shift`` is
    defined, and the residual (:func:`_residual`)."""
    filled = mov
    if mov_mask.any():
        filled = np.where(mov_mask, median(sample(mov, ~mov_mask)), mov)
    ref_clean = np.where(ref_mask, 0.0, ref) if ref_mask.any() else ref
    valid = ~ref_mask & reached(mov_mask, shift, wrap=wrap)
    residual = _residual(ref_clean, filled, valid, shift, scale, offset, wrap=wrap)
    return ref_clean, filled, valid, residual


def photon_line(at, shift, *, level=None, ranks=None, rounding=0.0):
    """The noise variance of the residual ``at`` (:func:`_residual_at` at ``shift``)
    as a line in the pixels' level (:func:`~._photon.noise_line`), or None for a flat
    noise. ``level``: the reference's local level with its mask zeroed, and
    ``ranks``: its :class:`~._photon.LevelRanks` on the valid pixels, when known;
    ``rounding``: the residual's variance from digitising the images."""
    ref_clean, _, valid, residual = at
    level = local_level(ref_clean) if level is None else level
    return noise_line(residual, level, valid, np.asarray(shift, float), ranks, rounding)


def outlier_masks(
    ref,
    mov,
    ref_mask,
    mov_mask,
    shift,
    scale,
    offset,
    *,
    wrap,
    threshold,
    reference_step=None,
    moving_step=None,
    line=None,
    level=None,
    at=None,
):
    """The pixels of each image whose residual ``R - scale M' - offset`` at ``shift``
    is an outlier (:func:`clip_residual`), as a mask on each image's own grid: beyond
    ``threshold`` times its robust sigma, or with ``line`` (:class:`~._photon.NoiseLine`)
    its noise at each pixel's level. ``reference_step``: ``quantum(ref, ~ref_mask)``,
    ``moving_step``: ``quantum(mov, ~mov_mask)``, ``level``: the reference's local
    level with ``ref_mask`` zeroed, and ``at``: :func:`_residual_at` of these
    arguments, when known.

    A sharp feature present in both images leaves an interpolation error in the
    residual: up to ``MODEL_ERROR`` times the cubic-minus-linear interpolant, where
    both images are sharp (judged on their search copies, so that an outlier cannot
    make its own image look sharp and excuse itself). That allowance is found only
    where the residual stands out without it (it can only spare pixels).
    """
    shift = np.asarray(shift, dtype=np.float64)
    if at is None:
        at = _residual_at(ref, mov, ref_mask, mov_mask, shift, scale, offset, wrap=wrap)
    ref_clean, filled, valid, residual = at
    noise = None
    if line is not None:  # at the brighter of the two images' levels (a star's)
        aligned = local_level(np.where(valid, ref_clean - residual, ref_clean))
        level = local_level(ref_clean) if level is None else level
        noise = np.sqrt(line.residual_variance(np.maximum(level, aligned)))
    # Digitised images: their rounding is noise the robust sigma may not see.
    if reference_step is None:
        reference_step = quantum(ref, ~ref_mask)
    if moving_step is None:
        moving_step = quantum(mov, ~mov_mask)
    rounding = np.hypot(reference_step, scale * moving_step) / np.sqrt(12)
    candidates, sigma = clip_residual(
        residual, valid, threshold=threshold, grow=0, sigma_floor=float(rounding), noise=noise
    )
    if not candidates.any():  # nothing stands out even without the allowance: done
        return candidates, candidates.copy()
    points = np.argwhere(candidates)
    fraction = shift - np.round(shift)
    ref_levels = tails(ref_clean, ~ref_mask, search_tail(ref.size))
    mov_levels = tails(filled, ~mov_mask, search_tail(mov.size))
    sharp_mov = _sharpness(filled, points, shift, wrap=wrap, levels=mov_levels)
    sharp_ref = _sharpness(ref_clean, points, fraction, wrap=wrap, levels=ref_levels)
    model_error = MODEL_ERROR * np.minimum(abs(scale) * sharp_mov, sharp_ref)
    # Noiseless images: a residual at round-off is no outlier.
    spread = float(np.std(sample(ref_clean, valid)))
    model_error = np.maximum(model_error, ROUND_OFF * spread)
    centre = median(sample(residual, valid))
    at = tuple(points.T)
    sigma = sigma if noise is None else sigma[at]
    bound = threshold * np.sqrt(sigma**2 + model_error**2)
    # The candidates' residual by the cubic spline, whose interpolation error the
    # allowance bounds.
    exact = ref_clean[at] - scale * _spline_at(filled, points, shift, wrap=wrap) - offset
    kept = np.abs(exact - centre) > bound
    clipped = np.zeros(ref.shape, dtype=bool)
    clipped[tuple(points[kept].T)] = True
    clipped = dilate(clipped, 1) & valid
    return clipped, _on_moving(clipped, shift, mov_mask, wrap=wrap)


#: Rounds of clipping and registering again, at most.
MAX_ROUNDS = 3


class _Registrations:
    """The outlier stage's registrations of one pair, and the warnings of the latest
    (the others are superseded).

    Each set of masks is registered once: a round whose clipping comes back to the
    masks of the latest registration takes its result (a registration is a function
    of its inputs). The registrar of a clipped reference is kept while its clipping
    holds, so that a round that clips the moving image alone keeps the reference
    prepared.
    """

    def __init__(self, registrar, mov, moving_error, delta_chi2_map, ref_out, mov_out):
        self._registrar = registrar
        self._pair = (mov, moving_error, delta_chi2_map)
        self._out = (ref_out, mov_out)
        self.said: list = []
        self._latest = None  # (the masks, the result, its warnings)
        self._clipped = None  # (the reference's clipping, the registrar of it)

    def quietly(self, call, *args):
        """``call(*args)``, its warnings held as the latest."""
        with held_warnings() as held:
            out = call(*args)
        self.said[:] = held
        return out

    def masked(self, clip_ref, clip_mov, *, saturated_reference: bool):
        """The pair registered with the clipped pixels masked, and the invalid ones
        (and saturated ones, ``saturated_reference`` when the reference has some)."""
        masks = (clip_ref, clip_mov)
        if self._latest is not None and all(map(np.array_equal, self._latest[0], masks)):
            self.said[:] = self._latest[2]
            return self._latest[1]
        mov, moving_error, delta_chi2_map = self._pair
        ref_out, mov_out = self._out
        target = self._registrar
        if saturated_reference or clip_ref.any():
            if self._clipped is None or not np.array_equal(self._clipped[0], clip_ref):
                self._clipped = (clip_ref, self._registrar._masked(ref_out | clip_ref))
            target = self._clipped[1]
        moving_mask = mov_out | clip_mov
        if not moving_mask.any():  # not held through the registration (a volume's memory)
            moving_mask = None
        result = self.quietly(target._register, mov, moving_error, moving_mask, delta_chi2_map)
        self._latest = (masks, result, list(self.said))
        return result

    def release(self) -> None:
        """Let the clipped reference's registrar go (its prepared images) once the
        rounds are over."""
        self._clipped = None


def _brightness_of(result) -> tuple[float, float]:
    """``result``'s gain and offset (1 and 0 where not fitted)."""
    gain = 1.0 if result.scale is None else float(result.scale)
    return gain, 0.0 if result.offset is None else float(result.offset)


def _photon_line_of(registrar, mov, ref_out, mov_out, result, *, wrap, moving_step):
    """:func:`photon_line` of ``registrar``'s reference and ``mov`` at ``result``'s
    shift (None when it found none to judge from, or a gain of nil), and the residual
    there (:func:`_residual_at`'s; None with no line sought): the outlier stage judges
    it next when the line leaves the result as it is. ``moving_step(mov_out)``:
    ``quantum(mov, ~mov_out)``."""
    gain, offset = _brightness_of(result)
    if not (np.all(np.isfinite(result.shift)) and gain != 0.0 and np.isfinite(gain)):
        return None, None
    shift = np.asarray(result.shift, dtype=np.float64)
    at = _residual_at(registrar._source, mov, ref_out, mov_out, shift, gain, offset, wrap=wrap)
    level = reference_level(registrar, ref_out)
    # Digitised images: their rounding, within which most residuals of a dim sky tie.
    steps = np.hypot(reference_quantum(registrar, ~ref_out), gain * moving_step(mov_out))
    ranks = kept_ranks(registrar, level, at[2])
    return photon_line(at, shift, level=level, ranks=ranks, rounding=steps**2 / 12), at


def reject_outliers(
    registrar, mov, moving_error, mask, delta_chi2_map, *, threshold: float, saturation: bool
):
    """The registration stage of issue 14's outliers: ``registrar``'s registration of
    ``mov`` (in the core's units), with ``saturation`` its saturated pixels masked, then, while the
    residual at the shift found shows outliers, those pixels masked and the pair
    registered again. Clean pairs cost one residual on top of the registration.

    Where the first residual shows outliers, they may have fooled its whole-pixel
    search (hot pixel on hot pixel): the shift is found again on both images' search
    copies, whose outliers weigh no more than the brightest real features, and
    judged from there. Unless ``saturation`` masks them, saturated pixels are then
    levelled (:func:`levelled`) and the pair registered once more. Returns the result
    with ``clipped`` and ``saturated`` counts.
    """
    wrap = registrar.boundary == "wrap"
    ref = registrar._source
    ref_given = registrar._inputs["reference_mask"]
    # The pixels left out of every round: invalid ones, and saturated ones with
    # ``saturation`` (made in place: a volume's masks add up).
    ref_out = ~np.isfinite(ref) if ref_given is None else ref_given | ~np.isfinite(ref)
    mov_out = ~np.isfinite(mov) if mask is None else mask | ~np.isfinite(mov)
    satur, sat_any = 0, False
    if saturation:
        sat_ref = saturated(np.where(ref_out, np.nan, ref)) & ~ref_out
        sat_mov = saturated(np.where(mov_out, np.nan, mov)) & ~mov_out
        satur = int(np.count_nonzero(sat_ref) + np.count_nonzero(sat_mov))
        sat_any = bool(sat_ref.any())
        ref_out |= sat_ref
        mov_out |= sat_mov
        del sat_ref, sat_mov
    clip_ref, clip_mov = (np.zeros(ref.shape, dtype=bool) for _ in range(2))

    runs = _Registrations(registrar, mov, moving_error, delta_chi2_map, ref_out, mov_out)
    kept_step = []  # the moving image's pixels left out last asked about, and its step

    def moving_step(out):
        if not (kept_step and np.array_equal(kept_step[0], out)):
            kept_step[:] = [out, quantum(mov, ~out)]
        return kept_step[1]

    def judged(result):
        # The residual the line was read on, where nothing has changed since.
        same = first[0] is result and not (clip_ref.any() or clip_mov.any())
        at = first[1] if same else None
        mov_mask = mov_out | clip_mov
        new = outlier_masks(
            ref,
            mov,
            ref_out | clip_ref,
            mov_mask,
            result.shift,
            1.0 if result.scale is None else result.scale,
            0.0 if result.offset is None else result.offset,
            wrap=wrap,
            threshold=threshold,
            reference_step=reference_quantum(registrar, ~(ref_out | clip_ref)),
            moving_step=moving_step(mov_mask),
            line=line,
            level=None if line is None else reference_level(registrar, ref_out | clip_ref),
            at=at,
        )
        return new[0] | clip_ref, new[1] | clip_mov

    result = runs.masked(clip_ref, clip_mov, saturated_reference=sat_any)
    line, first = None, (None, None)
    # The noise's line is read at the first measured shift: where nothing matches, the
    # scene's mismatch grows with its brightness and passes for photon noise.
    unread = registrar._inputs["reference_error"] is None and moving_error is None
    for round_ in range(MAX_ROUNDS):
        if unread and result.measured:
            unread = False
            line, at = _photon_line_of(
                registrar, mov, ref_out, mov_out, result, wrap=wrap, moving_step=moving_step
            )
            first = (result, at)
        if line is not None and moving_error is None:  # again, with the line's errors
            gain, offset = _brightness_of(result)
            registrar = type(registrar)._one_off(
                ref,
                registrar.options,
                reference_error=line.image_error(ref, ref_out),
                reference_mask=registrar._inputs["reference_mask"],
            )
            moving_error = line.image_error(mov, mov_out, gain, offset)
            runs = _Registrations(registrar, mov, moving_error, delta_chi2_map, ref_out, mov_out)
            result = runs.masked(clip_ref, clip_mov, saturated_reference=sat_any)
        new_ref, new_mov = judged(result)
        lost = not np.all(np.isfinite(result.error))  # no curvature: perhaps fooled
        if not lost and np.array_equal(new_ref, clip_ref) and np.array_equal(new_mov, clip_mov):
            break
        if round_ == 0:
            # No mask where none is needed: a complete pair takes the binned search.
            search = runs.quietly(
                registrar._masked(
                    ref_out if ref_out.any() else None,
                    source=search_copy(ref, ~ref_out, tail=search_tail(ref.size)),
                )._register,
                search_copy(mov, ~mov_out, tail=search_tail(mov.size)),
                moving_error,
                mov_out if mov_out.any() else None,
                False,
            )
            new_ref, new_mov = judged(search)
            runs.said.clear()
        try:
            clipped = runs.masked(new_ref, new_mov, saturated_reference=sat_any)
        except ValueError:  # the clipping leaves too few pixels: keep the last answer
            break
        clip_ref, clip_mov, result = new_ref, new_mov, clipped
    runs.release()
    pair = None
    if not saturation:  # the saturated pixels kept, both images clipped at one level
        pair = levelled(
            ref,
            mov,
            ref_out | clip_ref,
            mov_out | clip_mov,
            1.0 if result.scale is None else result.scale,
            0.0 if result.offset is None else result.offset,
        )
    if pair is not None:
        ref_mask, mov_mask = ref_out | clip_ref, mov_out | clip_mov
        target = registrar._masked(ref_mask if ref_mask.any() else None, source=pair[0])
        masked = mov_mask if mov_mask.any() else None
        result = runs.quietly(target._register, pair[1], moving_error, masked, delta_chi2_map)
        satur = pair[2]
    for message in runs.said:
        warn_registration(message)
    counts = int(np.count_nonzero(clip_ref) + np.count_nonzero(clip_mov))
    return dataclasses.replace(result, clipped=counts, saturated=satur)
