"""Is the best match better than the runner-up? A paired test between two minima.

The significance test (:mod:`._significance`) asks whether the best match beats
noise. At a signal-to-noise near one a scene can match itself at two shifts
(a repeated structure, a lattice, a smooth gradient), and the noise then decides
which one is the lowest minimum: the answer is a wrong peak with a small error.
This module asks the second question: is the judged minimum ``s1`` significantly
better than each rival minimum ``s2`` elsewhere in the search window (outside its
own neighbourhood)?

The statistic is the chi2 difference between the two, with the gain ``g`` fitted
at ``s1`` (``e = r - g m(x - s1)`` the residual, ``D = g [m(x - s1) - m(x - s2)]``)::

    delta = chi2(s2) - chi2(s1) = sum D**2 + 2 sum e D

and its noise, to first order in the noise ``n_r`` of the reference and ``n_m`` of
the moving image (the gain ``g`` fitted on the same noise included), is
``delta -> delta + sum a_r n_r + sum a_m n_m`` with, in the reference's frame,

    a_r(x) = 2 g D0(x) + k S(x)
    a_m(x - s1) = -2 g D0(x + d) + k (1 - 2 g) S(x)

``S`` the common signal, ``D0 = S - S(x - d)`` the model's difference, ``d = s2 - s1``
and ``k = (d delta / d g) / sum m(x - s1)**2``. So
``var(delta) = sum_lag [C_r A_r + C_m A_m]`` (``A`` the autocorrelations of ``a_r``
and ``a_m``, ``C`` the noises'), which holds whatever the filter, the binning or the
units did to the noise. Three things are measured from the images:

* ``C_r + C_m``: the autocovariance of the residual at the gain of equal signal,
  ``sqrt(sum r**2 / sum m(x - s1)**2)``, at every lag (by Parseval from its power
  spectrum), split evenly between the images. Not the fitted gain's residual: that
  gain is diluted by the moving image's noise (``g`` is its signal fraction, a half
  at SNR 1), and its residual holds the ``(1 - g) S`` left unfitted, a smooth signal
  that counted as noise made ``sqrt(var)`` 1.5-2x too large at SNR 1.
* ``D0`` and ``S``: each the mean of the moving image's estimate (at the gain of
  equal signal) and the reference's (``r(x) - r(x - d)``, ``r``), whose noises are
  independent. Either one alone, its
  noise squared in ``A``, counts the noise a second time on top of the second-order
  term that ``delta`` does hold (``2 g sum n_r [n_m(x - s2) - n_m(x - s1)]``); with
  the mean, the noise ``A`` holds, and its correlation with the residual's, add up to
  exactly that term when the two images are equally noisy, and to more when they are
  not (the even split then overstates it too: the test errs towards flagging).

When ``s1`` is wrong the residual also holds the misfit, which only makes the
test stricter; on real images it holds the interpolation's misfit, which makes
``sqrt(var)`` conservative at high SNR, where ``delta`` is far beyond it anyway.

If ``s2`` were the truth, ``delta`` would be drawn around ``-mu`` (``mu > 0``),
so ``P(delta >= observed) <= Q(z)`` with ``z = delta / sqrt(var)``: the rival is
ruled out at the false-alarm probability ``alpha`` when ``z >= Q^-1(alpha)``.

That holds for the noise, not for the interpolation. A whole-pixel shift is exact
in every interpolation model; a sub-pixel one is not where the scene holds detail
finer than a pixel (sharp edges, small beads), and a lattice's alias can lie on a
whole pixel where the truth does not. Were ``s2`` the truth, ``delta`` would then
be drawn around the Fourier model's misfit at ``s2`` less that at ``s1``, which
can be many times the noise's ``sqrt(var)`` and says nothing about which of the
two is the truth (a binned chessboard at SNR 30: ``delta`` 70 sigma, the samples
at the alias an exact copy). So a rival peak's ``delta`` is first reduced by a
budget ``B`` for that misfit: the chi2 by which the Fourier and the linear model's
values disagree, the moving image (its periodic part) moved by ``s2``, less the
noise's expected share (from the noise's power spectrum above and the two models'
transfer functions). The two models are exact at the two ends of what the samples
leave open, a band-limited scene and one constant within each pixel, so their
disagreement measures what the samples do not say between the pixels: on the
binned chessboard it is 0.8-1.0 of the Fourier model's misfit at the truth; on a
box-sampled square wave (1-D, bins 2-4, offsets of 1/4 to 1/2 pixel) the misfit
reaches 1.6-2 times it. On smooth scenes ``B`` is small: real scenes' rival peaks
beat it by 4.6 times or more at SNR 10-100 (the phantom's rivals along its straight
edges by 1.3). The judged minimum's shoulders are not budgeted: their differences
measure its width.

The same holds for what the images hold beyond the pixels compared. The pipeline's
filter zeroes a margin it cannot compute; filled smoothly, that margin beside sharp
detail is a misfit which a Fourier shift by a fraction of a pixel spreads into the
pixels compared (a sinc's tails) and a whole-pixel shift does not. On the binned
chessboard it made ``delta`` 8-14 times what the images without it give (the truth
half a pixel off, its alias on a whole pixel) and beyond ``B``. So, given the
images with their margins filtered too (the filter run with the edges extended:
``complete``), the shifts move those, and the margins are still not compared.

The judged minimum is a single measurement only when every rival is ruled out
(an intersection-union test: each at level ``alpha``, no correction for their
number). The rivals are the strongest local maxima of the correlation surface
beyond the judged minimum's own whole-pixel peak, and its shoulders: the best
whole-pixel shifts beyond that peak which are not local maxima. On a ridge or a
broad peak at low SNR the truth can lie on the judged peak's flank, never a local
maximum of the sampled correlation. A shoulder whose refinement settles at a minimum
of its own is a rival like a peak. One that does not (it creeps along a flat valley
towards the judged minimum, or slides down its slope) is part of the judged
minimum, and the test bounds that minimum's width instead: a quadratic profile
``Delta chi2 = (d / sigma)**2`` along ``d`` has ``delta`` at ``(d / sigma)**2`` and
its noise at ``2 d / sigma`` (the linear term's), so ``z = d / (2 sigma)`` and the
data say ``sigma = d / (2 z)`` along ``d``; a shoulder not ruled out (``z`` below the
threshold) raises ``spread`` to ``d d^T / (4 z**2)``, at most ``d d^T`` (a profile
flat to ``d``: reaching it, as a rival's widening does), axis by axis. Both minima are compared at
their best in these images (Gauss-Newton from each, on copies shifted as
:func:`_shiftable` says, which keeps white noise white at any sub-pixel shift): a
minimum compared off its bottom would lose by its misplacement, not by the data.

Beyond the window. A true shift beyond ``max_shift`` leaves no minimum at the truth
inside the window, and a texture's period or a smooth scene's slope can still make a
genuine minimum there that beats every other shift of the window (a brick wall
binned 2x: its alias a period from the truth, measured 17-50 px off with errors of
0.1-0.3 px). So the test also looks beyond the window, out to half the image (the
correlation is made there anyway), and compares the strongest peaks there
(:data:`RIVALS_BEYOND`) with the judged minimum as it compares a rival, on the pixels
the two share, however few of the judged one's (a far shift shares little with the
window's), each image less its mean there: on a part of the images their means need
not be the whole's, and a gain alone left the offset to decide (saturated coins: a
neighbouring coin beat the truth by 9 sigma; 5 of 48 right pairs flagged). The
question there is the one the search edge asks: does chi2 go lower beyond the window
than at the judged minimum? A rival beyond the window counts when it is the lower
minimum (``delta`` below zero, the budget ``B`` taken off), not when it merely is not
ruled out: inside the window every shift is as likely, beyond it the caller's
``max_shift`` says it is not, and a far shift shares few pixels with the judged one,
on which at SNR 1-3 the noise often cannot rule it out (that rule flagged 1-3 more
right pairs of 16-48 at SNR 1-3 on the benchmarks' real pairs). A rival counted
beyond the window flags the match like any rival, and says the truth may lie beyond
``max_shift``. A peak on the last shift computed (half the image) is no peak. Since only
the sign of ``delta - B`` counts there, a rival whose ``delta`` exceeds ``B`` before the
noise's share is taken off it (an upper bound) is ruled out without its variance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.ndimage
from scipy import fft as sp_fft
from scipy import special

from ._chi2 import parabolic_offset
from ._filter import gradients
from ._filters import fill_invalid
from ._pipeline_residual import covariance_envelope

#: The strongest local maxima outside the judged one's neighbourhood that are tested.
RIVALS = 3
#: The strongest local maxima beyond the search window that are tested (the ``outer``
#: correlation of :func:`rival_test`), ranked by their z-score over the square root of
#: the fraction of the image the two share there: the correlation's own strength. A
#: truth beyond ``max_shift`` is the best correlation there, since the images match
#: there and only by chance elsewhere; a lattice's aliases nearer the window share more
#: pixels and have the larger z-score.
RIVALS_BEYOND = 2
#: A rival whose correlation z-score is below the judged peak's by more than this many
#: times the test's one-sided threshold is not refined: Fisher's z of a correlation has
#: unit variance whatever the correlation (the significance test scales it so), the
#: difference of two has a std of at most 2, and twice that again covers the sub-pixel
#: gain of a peak sampled off its top and the autocorrelated noise's excess. Noise bumps
#: beside a strong match are dropped; a lattice's aliases (equal peaks) stay.
SCREEN = 4.0
#: A local maximum of the correlation closer than this to the judged minimum on every
#: axis is its own whole-pixel peak (a sub-pixel minimum lies within half a pixel of
#: its peak; two local maxima of a 3x3 neighbourhood are at least two pixels apart).
OWN = 1.5
#: The best shifts beyond the judged peak that are not local maxima (its shoulders)
#: that are tested, each at least :data:`APART` pixels (on some axis) from the others:
#: the best one, the flank's likeliest truth (the best three caught one more miss in
#: 2,400 real pairs at SNR 1-3, for twice the cost).
SHOULDERS = 1
#: Whole-pixel shoulders this close on every axis would refine to one minimum.
APART = 2


@dataclass(frozen=True)
class Rivalry:
    """The outcome of :func:`rival_test`.

    Attributes
    ----------
    z : float
        The smallest ``delta / sqrt(var(delta))`` over the rivals (beyond the
        window, those counted; ``inf`` when there is none): how many sigma the
        judged minimum beats its closest rival by.
    rivals : numpy.ndarray
        ``(k, ndim)``: the rivals not ruled out (sub-pixel shifts, in the units of
        the images given), empty when the judged minimum is a single measurement.
    beyond : bool
        Some of ``rivals`` lie beyond the search window (the ``outer`` correlation's
        peaks of :func:`rival_test`): the truth may lie beyond ``max_shift``.
    spread : numpy.ndarray
        ``(ndim, ndim)``: the covariance the judged minimum's error must reach, from
        its shoulders that are no minima of their own and that the noise cannot rule
        out (see the module); zero when there is none.
    """

    z: float
    rivals: np.ndarray
    spread: np.ndarray
    beyond: bool = False


def rival_test(
    reference,
    moving,
    zmap,
    lags,
    judged,
    *,
    wrap,
    valid,
    alpha,
    margins=None,
    least=16,
    complete=None,
    outer=None,
) -> Rivalry:
    """Test the judged minimum against the rival minima of the correlation ``zmap``.

    Parameters
    ----------
    reference, moving : numpy.ndarray
        The images as the significance test compares them (centred, zero where
        not valid).
    zmap : numpy.ndarray
        The correlation's z-score at each whole-pixel shift of ``lags``.
    lags : list of numpy.ndarray
        The shifts of ``zmap`` along each axis.
    judged : numpy.ndarray
        The minimum judged (sub-pixel; the sign of :func:`register`). The local
        maxima of ``zmap`` within ``OWN`` pixels of it on every axis are its own.
    wrap : bool
        The images are periodic.
    valid : pair of numpy.ndarray or None
        The valid pixels of each image (None: all but the ``margins``).
    alpha : float
        The probability of ruling out a rival that is the truth.
    margins : sequence of int, optional
        Pixels at each end of each axis that the pipeline's filter zeroed: they are
        not data, and compared they would favour the shifts that align them.
    least : float
        The fewest pixels valid at both shifts on which a rival is compared.
    complete : callable, optional
        With ``valid`` None: returns ``reference`` and ``moving`` with their
        ``margins`` filtered too (the pipeline's filter run with the edges extended),
        equal to them elsewhere; called only when there is a rival to refine. The
        shifts move these, and the margins are still not compared. Without it the
        margins are filled smoothly, and a smooth fill beside sharp detail is a misfit
        that a sub-pixel Fourier shift spreads into the pixels compared, while a
        whole-pixel shift does not: it favoured a lattice's whole-pixel aliases.
    outer : tuple, optional
        ``(zmap, lags)`` of the correlation over a wider range of shifts, holding
        ``zmap`` at its centre: its strongest local maxima beyond the window are
        rivals too. A lattice's alias or a smooth scene's broad slope can make a
        minimum inside the window while the truth lies beyond ``max_shift``: the
        judged minimum must beat that one as well.
    """
    unmasked = valid is None
    if valid is None and margins is not None and any(margins):
        interior = np.zeros(reference.shape, dtype=bool)
        interior[tuple(slice(m, n - m) for n, m in zip(reference.shape, margins, strict=True))] = (
            True
        )
        valid = (interior, interior)
    threshold = float(special.ndtri(1.0 - alpha))
    z_min, kept = np.inf, []
    maxima = _local_maxima(zmap)
    peaks = _rivals(zmap, lags, judged, SCREEN * threshold, maxima)
    shoulders = _shoulders(zmap, lags, judged, SCREEN * threshold, maxima, taken=peaks)
    window = [lag[-1] for lag in lags]
    far = []
    if outer is not None:
        # The same map when the window spans every shift computed (a periodic image's).
        outer_maxima = maxima if outer[0].shape == zmap.shape else None
        far = _rivals(
            *outer, judged, SCREEN * threshold, outer_maxima, beyond=(reference.shape, window)
        )
    beyond = False
    if peaks or shoulders or far:
        if unmasked and complete is not None:
            images = complete()
        elif valid is None:
            images = (reference, moving)
        else:
            images = map(fill_invalid, (reference, moving), valid)
        spectra = tuple(_shiftable(image, wrap) for image in images)
        # Both at their best in these images: a minimum compared off its bottom loses.
        judged, _ = _refined(reference, spectra[1], judged, wrap, valid)
        at_judged = _moved_at(spectra[1], reference.shape, valid, judged, wrap)
    spread = np.zeros((reference.ndim, reference.ndim))
    candidates = [(peak, False, False) for peak in peaks] + [(peak, False, True) for peak in far]
    candidates += [(point, True, False) for point in shoulders]
    for rival, shoulder, outside in candidates:
        rival, settled = _refined(reference, spectra[1], rival, wrap, valid)
        if np.all(np.abs(rival - judged) < 1.0):
            continue  # the refinement found the judged minimum itself: not a rival
        # A rival peak is judged on what the interpolation cannot explain (module).
        z = _paired_z(
            reference,
            moving,
            spectra,
            judged,
            rival,
            wrap,
            valid,
            least,
            budgeted=not shoulder,
            alike=not outside,
            lower_only=outside,
            at_first=at_judged,
        )
        if np.isnan(z):
            # Too few pixels valid at both shifts to sample the noise: the rival is
            # not a candidate (as a shift is not one of the significance test's).
            continue
        if shoulder and not settled:  # part of the judged minimum: its width
            if z < threshold:
                away = rival - judged
                width = np.outer(away, away) * (1.0 if z <= 0.5 else 0.25 / z**2)
                spread = covariance_envelope(spread, width)
            continue
        # Beyond the window, a rival counts when it is the lower minimum (module).
        if not z >= (0.0 if outside else threshold):
            kept.append(rival)
            beyond = beyond or outside
        if not outside or not z >= 0.0:
            z_min = min(z_min, z)
    rivals = np.array(kept, dtype=np.float64).reshape(-1, reference.ndim)
    return Rivalry(z=float(z_min), rivals=rivals, spread=spread, beyond=bool(beyond))


def _local_maxima(zmap) -> np.ndarray:
    """Where ``zmap`` is the largest of its 3 x 3 (x 3) neighbourhood, the edges repeated."""
    return zmap == scipy.ndimage.maximum_filter(zmap, size=3, mode="nearest")


def _rivals(zmap, lags, judged, screen: float, maxima=None, beyond=None) -> list[np.ndarray]:
    """The strongest local maxima of ``zmap`` (``maxima``: :func:`_local_maxima`, made
    here when None and needed) but ``judged``'s own, sub-pixel, within ``screen`` of
    the judged peak's z-score; with ``beyond`` (the image's shape and the window's
    largest shift per axis), only those outside the window, and the strongest as if
    each were seen over the whole image (see :data:`RIVALS_BEYOND`)."""
    own = np.ones(zmap.shape, dtype=bool)
    grids = np.meshgrid(*lags, indexing="ij", sparse=True)
    for axis, g in enumerate(grids):
        own = own & (np.abs(g - judged[axis]) < OWN)
    peaks = ~own & (zmap > 0)
    if beyond is not None:
        inside, bracketed = np.ones(zmap.shape, dtype=bool), np.ones(zmap.shape, dtype=bool)
        for g, lag, limit in zip(grids, lags, beyond[1], strict=True):
            inside = inside & (np.abs(g) <= limit)
            # A maximum on the last shift computed is not bracketed: no peak.
            bracketed = bracketed & (np.abs(g) < np.max(np.abs(lag)))
        peaks &= bracketed & ~inside
    if own.any():
        peaks &= zmap >= float(np.max(zmap[own])) - screen
    if not peaks.any():
        return []
    peaks &= _local_maxima(zmap) if maxima is None else maxima
    strength, count = zmap, RIVALS
    if beyond is not None:
        # z grows as the square root of the pixels shared: a shift far out shares fewer.
        fraction = np.ones(zmap.shape)
        for g, n in zip(grids, beyond[0], strict=True):
            fraction = fraction * (np.maximum(n - np.abs(g), 1) / n)
        strength, count = zmap / np.sqrt(fraction), RIVALS_BEYOND
    found = np.flatnonzero(peaks)
    strongest = found[np.argsort(strength.reshape(-1)[found])[::-1][:count]]
    rivals = []
    for flat in strongest:
        index = np.unravel_index(flat, zmap.shape)
        whole = np.array([lag[i] for lag, i in zip(lags, index, strict=True)], dtype=np.float64)
        # parabolic_offset refines a minimum: the correlation's maximum is the score's.
        rivals.append(whole + parabolic_offset(-zmap, index, [False] * zmap.ndim))
    return rivals


def _shoulders(zmap, lags, judged, screen: float, maxima, taken=()) -> list[np.ndarray]:
    """The best whole-pixel shifts of ``zmap`` beyond ``judged``'s own peak that are
    not local maxima (``maxima``; those are :func:`_rivals`), within ``screen`` of the judged
    peak's z-score: up to :data:`SHOULDERS`, each :data:`APART` pixels on some axis
    from the others and from the rival peaks ``taken``, the highest first."""
    grids = np.meshgrid(*lags, indexing="ij", sparse=True)
    own = np.ones(zmap.shape, dtype=bool)
    for axis, g in enumerate(grids):
        own = own & (np.abs(g - judged[axis]) < OWN)
    if not own.any():
        return []
    open_ = ~own & ~maxima & (zmap >= float(np.max(zmap[own])) - screen)
    chosen: list[np.ndarray] = []
    for flat in np.argsort(np.where(open_, zmap, -np.inf), axis=None)[::-1]:
        if len(chosen) == SHOULDERS or not open_.flat[flat]:
            break
        index = np.unravel_index(flat, zmap.shape)
        point = np.array([lag[i] for lag, i in zip(lags, index, strict=True)], dtype=np.float64)
        if all(np.any(np.abs(point - other) >= APART) for other in (*chosen, *taken)):
            chosen.append(point)
    return chosen


def _shiftable(image, wrap):
    """The image ready for :func:`_moved`: the spectrum of its periodic part, and its
    smooth part (None when ``wrap``).

    A Fourier shift keeps white noise white at any sub-pixel shift, which a spline
    or linear interpolation does not (they average the noise by an amount that
    depends on the sub-pixel offset, and so favour one minimum over another). But a
    cropped image's edges do not join, and the jump rings through a Fourier shift.
    Moisan's periodic plus smooth decomposition (2011) moves the jump into a smooth
    part, which interpolation shifts well and which holds almost no noise; the
    periodic part is shifted in Fourier space.
    """
    if wrap:
        return sp_fft.rfftn(image), None
    jumps = np.zeros(image.shape)
    for axis, n in enumerate(image.shape):
        first = [slice(None)] * image.ndim
        last = [slice(None)] * image.ndim
        first[axis], last[axis] = 0, n - 1
        step = image[tuple(last)] - image[tuple(first)]
        jumps[tuple(first)] += step
        jumps[tuple(last)] -= step
    laplacian = np.zeros(())
    for a, n in enumerate(image.shape):
        k = sp_fft.rfftfreq(n) if a == image.ndim - 1 else sp_fft.fftfreq(n)
        term = 2.0 * np.cos(2.0 * np.pi * k) - 2.0
        laplacian = laplacian[..., None] + term if laplacian.ndim else term
    laplacian.reshape(-1)[0] = 1.0  # the mean stays in the periodic part
    smooth_spectrum = sp_fft.rfftn(jumps) / laplacian
    smooth_spectrum.reshape(-1)[0] = 0.0
    smooth = sp_fft.irfftn(smooth_spectrum, image.shape)
    return sp_fft.rfftn(image - smooth), smooth


def _moved(parts, shape, shift) -> np.ndarray:
    """``image(x - shift)`` from :func:`_shiftable`'s parts. The periodic part's shift
    wraps around; :func:`_inside` keeps only the pixels that did not wrap."""
    spectrum, smooth = parts
    factor = np.ones(())
    for a, n in enumerate(shape):
        k = sp_fft.rfftfreq(n) if a == len(shape) - 1 else sp_fft.fftfreq(n)
        term = np.exp(-2j * np.pi * k * shift[a])
        factor = factor[..., None] * term if factor.ndim else term
    moved = sp_fft.irfftn(spectrum * factor, shape)
    if smooth is not None:
        moved += _linear_shift(smooth, shift)
    return moved


def _linear_shift(image, shift) -> np.ndarray:
    """``image(x - shift)`` by linear interpolation, the edges extended (a smooth part)."""
    for axis, (n, s) in enumerate(zip(image.shape, shift, strict=True)):
        source = np.arange(n) - s
        below = np.floor(source)
        weight = (source - below).reshape([-1 if a == axis else 1 for a in range(image.ndim)])
        low = np.take(image, np.clip(below.astype(int), 0, n - 1), axis=axis)
        high = np.take(image, np.clip(below.astype(int) + 1, 0, n - 1), axis=axis)
        image = low + weight * (high - low)
    return image


def _refined(reference, parts, start, wrap, valid, steps: int = 4) -> tuple[np.ndarray, bool]:
    """The chi2 minimum ``sum (r - g m(x - s))**2`` near ``start`` (within a pixel), by
    Gauss-Newton steps on the moving image (``parts`` from :func:`_shiftable`); and
    whether the steps settled there (False: they ran out, or were stopped at the
    pixel's reach, so the shift is no minimum of its own)."""
    shape = reference.shape
    start = np.asarray(start, dtype=np.float64)
    shift = start.copy()
    # The pixels compared: those of the start (a step of a pixel at most moves few).
    inside = _inside(shape, (start - 1.0, start + 1.0), wrap)
    if valid is not None:
        inside &= valid[0] & _valid_after(valid[1], (start,), wrap)
    settled = False
    for _ in range(steps):
        moved = _moved(parts, shape, shift)
        power = float(np.sum(moved[inside] ** 2))
        gain = float(np.sum(reference[inside] * moved[inside])) / power if power > 0 else 0.0
        if not gain > 0:
            break
        residual = (reference - gain * moved)[inside]
        # d m(x - s) / ds = -grad m (x - s), by central differences: only the
        # step's direction and size depend on it, not the minimum it converges to.
        slopes = np.stack([-gain * slope[inside] for slope in gradients(moved)])
        normal = slopes @ slopes.T
        if not np.all(np.isfinite(normal)) or np.linalg.det(normal) <= 0:
            break
        step = np.clip(np.linalg.solve(normal, slopes @ residual), -0.5, 0.5)
        shift = np.clip(shift + step, start - 1.0, start + 1.0)
        if np.max(np.abs(step)) < 1e-2:  # far below what separates two minima
            settled = bool(np.all(np.abs(shift - start) < 1.0))
            break
    return shift, settled


def _inside(shape, shifts, wrap) -> np.ndarray:
    """Pixels ``x`` whose ``x - s`` lies at least a pixel inside the image for every ``s``."""
    inside = np.ones(shape, dtype=bool)
    if wrap:
        return inside
    for axis, n in enumerate(shape):
        x = np.arange(n)
        keep = np.ones(n, dtype=bool)
        for s in shifts:
            keep &= (x - s[axis] >= 1) & (x - s[axis] <= n - 2)
        inside &= keep.reshape([-1 if a == axis else 1 for a in range(len(shape))])
    return inside


def _valid_after(valid, shifts, wrap) -> np.ndarray:
    """Pixels whose values ``image(x - s)``, for every ``s``, come mostly from valid
    pixels (the invalid ones were filled smoothly: :func:`~._filters.fill_invalid`)."""
    weight = valid.astype(np.float64)
    kept = np.ones(valid.shape, dtype=bool)
    for s in shifts:
        if wrap:
            kept &= scipy.ndimage.shift(weight, s, order=1, mode="grid-wrap") > 0.5
        else:
            kept &= _linear_shift(weight, s) > 0.5
    return kept


def _paired_z(
    reference, moving, spectra, first, second, wrap, valid, least, budgeted, **kinds
) -> float:
    """``delta / sqrt(var(delta))`` of ``first`` against ``second`` (see the module),
    ``delta`` less the interpolation's budget at ``second`` when ``budgeted``; nan when
    they share too few pixels to be compared. ``kinds``: :func:`paired_difference`'s
    ``alike``, ``lower_only`` and ``at_first``."""
    delta, variance, budget = paired_difference(
        reference,
        moving,
        first,
        second,
        wrap=wrap,
        valid=valid,
        spectra=spectra,
        least=least,
        budgeted=budgeted,
        **kinds,
    )
    if np.isnan(delta):
        return np.nan
    delta -= budget
    if not variance > 0:
        return np.inf if delta > 0 else -np.inf
    return delta / np.sqrt(variance)


def _moved_at(moving_parts, shape, valid, shift, wrap) -> tuple[np.ndarray, np.ndarray | None]:
    """The moving image at ``shift`` (from its :func:`_shiftable` parts), and the
    pixels whose moved values come mostly from its valid ones (None: ``valid`` None):
    what :func:`paired_difference` needs of its first shift, the same for each rival."""
    moved = _moved(moving_parts, shape, shift)
    return moved, None if valid is None else _valid_after(valid[1], (shift,), wrap)


def paired_difference(
    reference,
    moving,
    first,
    second,
    *,
    wrap,
    valid=None,
    spectra=None,
    least=0,
    budgeted=True,
    alike=True,
    lower_only=False,
    at_first=None,
):
    """``chi2(second) - chi2(first)``, its variance from the images, and the chi2 that
    the interpolation's own uncertainty could add at ``second`` (see the module; 0
    unless ``budgeted``);
    ``(nan, 0, 0)`` when the two shifts share fewer than ``least`` pixels valid at both
    to compare them on, or (``alike``) fewer than half of those valid at ``first``;
    not ``alike``, each image less its mean over the pixels compared.
    ``lower_only``: only whether ``second`` is the lower minimum matters (beyond the
    window): when ``delta`` exceeds the budget before the noise's share is taken off
    it (an upper bound on ``B``), ``delta - B > 0`` whatever the noise, and the
    variance is not computed: ``(delta, 0, that bound)``.
    ``at_first``: :func:`_moved_at` of ``first``, when the caller has it.
    ``spectra``: the two images' :func:`_shiftable` parts, when the caller has them."""
    if spectra is None:
        images = (
            (reference, moving) if valid is None else map(fill_invalid, (reference, moving), valid)
        )
        spectra = tuple(_shiftable(image, wrap) for image in images)
    shape = reference.shape
    m1, first_valid = at_first or _moved_at(spectra[1], shape, valid, first, wrap)
    m2 = _moved(spectra[1], shape, second)
    on_ref = _inside(shape, (first, second), wrap)
    own = _inside(shape, (first,), wrap)
    if valid is not None:
        valid_r, valid_m = valid
        on_ref &= valid_r & first_valid & _valid_after(valid_m, (second,), wrap)
        own &= valid_r & first_valid
    count = int(on_ref.sum())
    # Compared on fewer pixels than half of those the first minimum stands on, the
    # two are not compared like for like (the first's evidence may lie in the rest).
    if count < max(least, 2, 0.5 * own.sum() if alike else 0):
        return np.nan, 0.0, 0.0
    level = 0.0
    if not alike:
        # On a part of the images, their means there need not be the whole's.
        level = float(np.mean(reference[on_ref]))
        reference = reference - level
        m1, m2 = m1 - np.mean(m1[on_ref]), m2 - np.mean(m2[on_ref])
    power = float(np.sum(m1[on_ref] ** 2))
    gain = float(np.sum(reference[on_ref] * m1[on_ref])) / power if power > 0 else 0.0
    if not gain > 0:
        return -np.inf, 0.0, 0.0
    residual = np.where(on_ref, reference - gain * m1, 0.0)
    difference = np.where(on_ref, gain * (m1 - m2), 0.0)
    delta = float(np.sum(difference**2) + 2.0 * np.sum(residual * difference))
    if lower_only and budgeted:
        bound = gain**2 * _disagreement(spectra[1][0], second, on_ref, 0.0)
        if delta > bound:
            return delta, 0.0, bound
    # The noise: the residual at the gain of equal signal, sqrt(sum r^2 / sum m1^2).
    # The fitted gain is smaller by the moving image's signal fraction (regression
    # dilution), and its residual would hold the signal that it leaves unfitted.
    equal = float(np.sqrt(np.sum(reference[on_ref] ** 2) / power))
    noise = np.where(on_ref, reference - equal * m1, 0.0)
    noise[on_ref] -= noise[on_ref].mean()
    # The model's difference and signal, each the mean of the two images' (their
    # noises independent), where both are known (module).
    step = np.asarray(second, dtype=np.float64) - np.asarray(first, dtype=np.float64)
    both = on_ref & _inside(shape, (step,), wrap)
    if valid is not None:
        both &= _valid_after(valid_r, (step,), wrap)
    from_moving = equal * (m1 - m2)
    from_reference = reference - (_moved(spectra[0], shape, step) - level)
    model = np.where(both, 0.5 * (from_moving + from_reference), from_moving)
    model = np.where(on_ref, model, 0.0)
    signal = np.where(on_ref, 0.5 * (reference + equal * m1), 0.0)
    # d delta / d gain, times d gain / d image: the gain is fitted on the same noise.
    slope = 2.0 * float(np.sum(residual * m1 - (residual + difference) * m2)) / power
    ahead = _moved((sp_fft.rfftn(model), None), shape, -step)  # the model at x + d
    on_reference = 2.0 * gain * model + slope * signal
    on_moving = np.where(on_ref, -2.0 * gain * ahead + slope * (1.0 - 2.0 * gain) * signal, 0.0)
    # Unpadded: a lag that wraps around pairs pixels far apart, whose residuals and
    # differences hardly correlate (the sums run over a few correlation lengths).
    power_n, power_r, power_m = (
        np.abs(sp_fft.rfftn(image, shape)) ** 2 for image in (noise, on_reference, on_moving)
    )
    # sum_lag C(lag) A(lag) = sum_k |N_k|^2 |A_k|^2 / (count * size), by Parseval
    # over the full spectrum (each half-spectrum column but the first and the
    # Nyquist stands for two); half of C is each image's.
    twice = np.full(power_n.shape[-1], 2.0)
    twice[0] = 1.0
    if shape[-1] % 2 == 0:
        twice[-1] = 1.0
    total = float(np.sum((power_n * (power_r + power_m)) @ twice))
    variance = 0.5 * total / (count * np.prod(shape))
    if not budgeted:
        return delta, variance, 0.0
    # The interpolation's budget (module): the moving image moved to ``second`` by the
    # Fourier and the linear model, apart by this much beyond its noise's share.
    share = 0.5 * power_n * twice / (np.prod(shape) * equal**2)
    budget = gain**2 * _disagreement(spectra[1][0], second, on_ref, share)
    return delta, variance, budget


def _disagreement(spectrum, shift, where, noise) -> float:
    """``sum`` over ``where`` of the squared difference between the image of half
    spectrum ``spectrum`` (periodic) moved by ``shift`` by the Fourier model and by the
    linear one, less what the noise of power ``noise`` (per mode, full-spectrum weights
    included) adds to it; at least zero."""
    shape = where.shape
    transfer = _model_disagreement(shape, shift)
    spread = sp_fft.irfftn(spectrum * transfer, shape)[where]
    return max(float(np.sum(spread**2)) - float(np.sum(noise * np.abs(transfer) ** 2)), 0.0)


def _model_disagreement(shape, shift) -> np.ndarray:
    """The half spectrum's transfer function of ``image(x - shift)`` by the Fourier
    model less the same by linear interpolation between the two nearest pixels
    (each axis in turn, the image periodic)."""
    fourier, linear = np.ones(()), np.ones(())
    for a, n in enumerate(shape):
        k = sp_fft.rfftfreq(n) if a == len(shape) - 1 else sp_fft.fftfreq(n)
        whole = np.floor(shift[a])
        part = shift[a] - whole
        one = np.exp(-2j * np.pi * k * shift[a])
        two = np.exp(-2j * np.pi * k * whole) * ((1.0 - part) + part * np.exp(-2j * np.pi * k))
        fourier, linear = fourier[..., None] * one, linear[..., None] * two
    return fourier - linear
