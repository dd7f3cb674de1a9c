"""Noise that grows with the signal, when the noise is not given: its line, read from
a pair's residual.

Every real detector's noise variance is a straight line in the signal, ``read**2 +
signal / gain``: flat where the read noise dominates, growing with the counts where the
photons do. One number estimated from the residual (its robust sigma, over pixels that
are mostly sky in a sparse field) is then far below the noise of the bright pixels: the
outlier stage clips star cores and the fit weighs them as if they were as quiet as the
sky. :func:`noise_line` fits the line to the squared residual against the pixels'
level; where its slope stands out, the outlier stage judges each pixel by the line and
the pair is registered with the per-pixel errors it gives (docs/how-it-works-errors.md,
"Photon noise with the noise estimated"). Where it does not, nothing changes.
"""

from __future__ import annotations

import itertools
import weakref
from dataclasses import dataclass

import numpy as np

from ._rows import block_rows
from ._sampling import median
from ._spline_model import keys_weights

__all__ = ["LevelRanks", "NoiseLine", "kept_ranks", "noise_line"]

#: The slope counts when it is this many of its standard errors above nil (a one-sided
#: false alarm of 3e-5 for a flat noise; the floor check's level).
SIGNIFICANCE = 4.0
#: Squared residuals beyond this many sigmas of the line leave its fit (outliers, the
#: misfit at sharp features).
OUTLIER = 5.0
#: The line counts where, averaged where the shift's information lies, it exceeds the
#: one number (the residual's robust variance) by this factor: errors 2x too small.
UNDERSTATED = 4.0
#: The pixels the line is fitted on, at most (a fixed thinning of larger images).
PIXELS = 1 << 16
#: The share of the brightest pixels that a thinning keeps whole.
BRIGHT = 1 / 64
#: The fewest pixels in a group of one level.
GROUP = 8
#: The median of a chi-squared variable of one degree of freedom.
CHI2_1_MEDIAN = 0.454936423119572


@dataclass(frozen=True)
class NoiseLine:
    """The residual's variance as a line in the level, in the reference's units.

    Attributes
    ----------
    intercept, slope : float
        ``variance = intercept + slope * level`` of the residual ``R - g M' - c``.
    floor : float
        The line at the darkest group's level: no pixel's variance is taken below it.
    share : float
        The residual's variance over that of the two images' own noise, each at the
        level: ``1 + f``, with ``f`` the share of a pixel's noise variance that the
        interpolation of the moving image keeps.
    """

    intercept: float
    slope: float
    floor: float
    share: float

    def residual_variance(self, level: np.ndarray) -> np.ndarray:
        """The residual's variance at ``level`` (reference units)."""
        return np.maximum(self.intercept + self.slope * level, self.floor)

    def image_error(self, image, invalid, gain: float = 1.0, offset: float = 0.0):
        """The 1-sigma noise map of ``image`` (NaN where ``invalid``), whose pixels
        are ``gain * image + offset`` in the reference's units: the residual's
        variance at their local level (:func:`local_level`), the interpolation's
        share taken out, in the image's units."""
        filled = (
            np.where(invalid, np.float64(median(image[~invalid])), image)
            if invalid.any()
            else image
        )
        level = local_level(gain * np.asarray(filled, dtype=np.float64) + offset)
        error = np.sqrt(self.residual_variance(level) / self.share) / abs(gain)
        error[invalid] = np.nan
        return error


def interpolated_share(shift) -> float:
    """``1 + f``: the residual's variance over one image's, for two equally noisy
    images when the moving one is interpolated by Keys' cubic at ``shift`` (``f`` the
    sum of its squared weights over the taps, per axis)."""
    share = 1.0
    for value in np.atleast_1d(shift):
        share *= float(np.sum(np.square(keys_weights(float(value) - np.floor(value)))))
    return 1.0 + share


def local_level(image: np.ndarray) -> np.ndarray:
    """The mean of each pixel's neighbours (the ``3**ndim - 1`` around it, mirrored at
    the edges), without the pixel itself: a level whose noise is not the pixel's.

    In blocks of rows that stay in cache, each summed along the first axis from its
    rows and one more on either side, then along the others (``scipy.ndimage``'s
    filters along the first axis of a large image read it a column at a time: 2048²,
    160-170 ms against about 40 ms here; 96³, 34 ms against 11).
    """
    image = np.asarray(image, dtype=np.float64)
    n = image.shape[0]
    out = np.empty_like(image)
    rows = block_rows(image)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        # The block's rows with one more on either side, mirrored at the image's ends.
        window = image[_mirrored(np.arange(start - 1, stop + 1), n)]
        total = window[:-2] + window[1:-1]
        total += window[2:]
        for axis in range(1, image.ndim):
            total = _neighbour_sums(total, axis)
        total -= image[start:stop]
        np.divide(total, 3**image.ndim - 1, out=out[start:stop])
    return out


def _mirrored(index: np.ndarray, n: int) -> np.ndarray:
    """Indices one beyond ``[0, n)`` mirrored back into it (-1 -> 1, n -> n - 2)."""
    if n == 1:
        return np.zeros_like(index)
    return np.where(index < 0, -index, np.where(index >= n, 2 * (n - 1) - index, index))


def _neighbour_sums(values: np.ndarray, axis: int) -> np.ndarray:
    """Each entry plus its two neighbours along ``axis``, mirrored at the ends (slices,
    not gathered copies)."""
    n = values.shape[axis]
    moved = np.moveaxis(values, axis, 0)
    if n == 1:
        return values * 3.0
    out = np.empty_like(values)
    total = np.moveaxis(out, axis, 0)
    np.add(moved[:-2], moved[1:-1], out=total[1:-1])
    total[1:-1] += moved[2:]
    for edge, inner in ((0, 1), (n - 1, n - 2)):
        np.multiply(moved[inner], 2.0, out=total[edge])
        total[edge] += moved[edge]
    return out


class LevelRanks:
    """The pixels a noise line is read on, ranked by level (:func:`noise_line`'s
    thinning and groups): they depend on the level and the valid pixels alone, so the
    frames of a stack registered onto one reference share them.

    Attributes
    ----------
    level, valid : numpy.ndarray
        As given (``valid`` is kept, not copied).
    spread : numpy.ndarray of int or None
        Flat indices of the pixels whose residual gives its centre and robust
        variance (:func:`_thinning`); None when too few pixels are valid.
    picks : numpy.ndarray of int
        Flat indices of the pixels the line is fitted on, partitioned at the ``parts``.
    levels : numpy.ndarray
        Their levels, in that order.
    parts : list of slice
        The groups' ranks (:func:`_quantile_groups`).
    """

    def __init__(self, level: np.ndarray, valid: np.ndarray):
        self.level, self.valid = level, valid
        self.spread = None
        self._information = None
        x = level[valid]
        if x.size < 4 * GROUP:
            return
        spread, bright = _thinning(x)
        if bright.size:
            x = np.concatenate([x[spread], x[bright]])
            picks = np.concatenate([spread, bright])
        else:  # all of them: the spread is every valid pixel
            picks = spread
        self.parts = _quantile_groups(x.size)
        order = np.argpartition(x, [part.start for part in self.parts[1:]])
        self.levels = x[order]
        picks = picks[order]
        if not valid.all():  # else the valid pixels' ranks are their flat indices
            spread, picks = _flat_indices(valid, spread, picks)
        self.spread, self.picks = spread, picks

    def information(self) -> tuple[np.ndarray, float, np.ndarray]:
        """The squared gradient of the level at the valid pixels (where a shift's
        information lies), its total, and those pixels' levels; made on first use."""
        if self._information is None:
            gradient = np.gradient(self.level)
            parts = gradient if self.level.ndim > 1 else [gradient]
            weight = sum(np.square(part) for part in parts)[self.valid]
            self._information = (weight, float(np.sum(weight)), self.level[self.valid])
        return self._information


def _flat_indices(valid: np.ndarray, *ranks: np.ndarray) -> list[np.ndarray]:
    """The flat indices of the valid pixels of each of ``ranks`` (their places among
    the valid pixels in C order). When the valid pixels fill a box (a pair's overlap,
    nothing masked) they are read off its corner and shape, without listing every
    valid pixel (2048²: 18 -> 2.6 ms)."""
    lows, shape = [], []
    for axis in range(valid.ndim):
        others = tuple(a for a in range(valid.ndim) if a != axis)
        along = np.flatnonzero(np.any(valid, axis=others))
        lows.append(along[0])
        shape.append(along[-1] + 1 - along[0])
    if np.count_nonzero(valid) != np.prod(shape):
        flat = np.flatnonzero(valid)
        return [flat[r] for r in ranks]
    return [
        np.ravel_multi_index(
            [i + low for i, low in zip(np.unravel_index(r, shape), lows, strict=True)],
            valid.shape,
        )
        for r in ranks
    ]


#: Each live owner's (a Registrar's) last ranks asked for.
_KEPT_RANKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def kept_ranks(owner, level: np.ndarray, valid: np.ndarray) -> LevelRanks:
    """``LevelRanks(level, valid)``, kept for ``owner``'s next call with the same
    ``level`` (the same array) and valid pixels while ``owner`` lives: the frames of a
    stack registered by one Registrar share them while their valid pixels agree (all
    of them in the periodic mode)."""
    kept = _KEPT_RANKS.get(owner)
    if kept is not None and kept.level is level and np.array_equal(kept.valid, valid):
        return kept
    ranks = LevelRanks(level, valid.copy())
    _KEPT_RANKS[owner] = ranks
    return ranks


def noise_line(
    residual: np.ndarray, level: np.ndarray, valid: np.ndarray, shift, ranks=None, rounding=0.0
):
    """The residual's noise variance as a line in the level, or None when its slope
    does not stand out (a flat noise: :data:`SIGNIFICANCE`).

    Parameters
    ----------
    residual : numpy.ndarray
        ``R - g M' - c`` at the shift found (the moving image by Keys' cubic).
    level : numpy.ndarray
        The pixels' level, whose noise is not theirs (:func:`local_level`): a level
        read on the pixel itself would put the residual's noise into both axes.
    valid : numpy.ndarray of bool
        The pixels where the residual is defined.
    shift : sequence of float
        The shift the moving image was interpolated at.
    ranks : LevelRanks, optional
        ``LevelRanks(level, valid)``, when known.
    rounding : float
        The residual's variance from digitising the images (``step**2 / 12`` each,
        for integer counts or an 8-bit scale), 0 for continuous values: the least
        variance a group starts from.

    Returns
    -------
    NoiseLine or None

    Notes
    -----
    The pixels are ranked by level and grouped at the quantiles ``2**-k`` and ``1 -
    2**-k`` (a few groups each side of the median, the last holding at least
    :data:`GROUP` pixels): the bright tail, where a sparse field's stars lie, has
    groups of its own. A group's variance is the mean squared residual (about its
    median) of its pixels within :data:`OUTLIER` sigmas of it (the misfit at sharp
    features and the outliers left out), its standard error a Gaussian noise's, ``sqrt(2 / n)``
    of it. The line
    is their least-squares fit weighted by those errors; its slope counts when it
    exceeds :data:`SIGNIFICANCE` of its standard errors.

    The line is kept only where it matters: where, averaged over the pixels that carry
    the shift's information (weighted by the level's squared gradient), it exceeds the
    one number the residual gives (its robust variance) :data:`UNDERSTATED` times. On
    an extended scene under photon noise the two are close (0.9-3.8 on most held-out
    Poisson pairs), and the errors from one number hold; on a sparse field the
    information lies in the cores, whose noise is 10-60 times the sky's.
    """
    if ranks is None:
        ranks = LevelRanks(level, valid)
    if ranks.spread is None:
        return None
    y = np.take(residual, ranks.spread).astype(np.float64)
    centre = median(y)
    scalar = max(median(np.square(y - centre)) / CHI2_1_MEDIAN, rounding)
    y = np.square(np.take(residual, ranks.picks).astype(np.float64) - centre)
    share = interpolated_share(shift)
    # A level's noise variance over the residual's: the reference's, over its neighbours.
    level_noise = 1.0 / (share * (3**residual.ndim - 1))
    groups = np.array(_distinct_groups(ranks.levels, y, ranks.parts, level_noise, rounding))
    if len(groups) < 2:
        return None
    levels, variances, errors = groups.T
    design = np.stack([np.ones_like(levels), levels], axis=1)
    normal = design.T @ (design / np.square(errors)[:, None])
    try:
        covariance = np.linalg.inv(normal)
    except np.linalg.LinAlgError:
        return None
    coefficients = covariance @ (design.T @ (variances / np.square(errors)))
    intercept, slope = coefficients
    if not slope > SIGNIFICANCE * np.sqrt(covariance[1, 1]):
        return None
    # A detector's intercept is its read noise squared, never below nought: one far
    # below is a line drawn by outliers (streaks among the bright groups), not by the
    # noise. Its error scaled by the groups' scatter about the line, where above theirs.
    misfit = variances - design @ coefficients
    scatter = max(1.0, float(np.sum(np.square(misfit / errors))) / max(1, len(levels) - 2))
    if intercept < -SIGNIFICANCE * np.sqrt(scatter * covariance[0, 0]):
        return None
    floor = intercept + slope * float(levels[0])
    if not floor > 0:
        return None
    line = NoiseLine(float(intercept), float(slope), float(floor), share)
    if _informative_variance(line, ranks) < UNDERSTATED * scalar:
        return None
    return line


def _informative_variance(line: NoiseLine, ranks: LevelRanks) -> float:
    """The line's residual variance averaged over the valid pixels weighted by the
    squared gradient of the level (:meth:`LevelRanks.information`): where a shift's
    information lies."""
    weight, total, levels = ranks.information()
    if not total > 0:
        return 0.0
    return float(np.sum(weight * line.residual_variance(levels))) / total


def _thinning(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``levels``: all of them (and none apart) up to :data:`PIXELS` values;
    beyond, an even spread of the others (the residual's centre and robust variance
    are read on it) and, apart, all of the brightest :data:`BRIGHT` (a sparse field's
    stars), at most half of :data:`PIXELS`, which are in all."""
    size = levels.size
    if size <= PIXELS:
        return np.arange(size), np.arange(0)
    # From 2048² on, the brightest share alone would be all of PIXELS (or more).
    bright = min(int(size * BRIGHT), PIXELS // 2)
    order = np.argpartition(levels, size - bright)
    step = -(-(size - bright) // (PIXELS - bright))
    # Copies: the slices would keep the whole ordering alive.
    return order[: size - bright][::step].copy(), order[size - bright :].copy()


def _quantile_groups(size: int) -> list[slice]:
    """Slices of ``size`` ranks cut at the quantiles ``2**-k`` and ``1 - 2**-k``, each
    of at least :data:`GROUP` values."""
    cuts = [size // 2]
    while cuts[0] >= 2 * GROUP:
        cuts.insert(0, cuts[0] // 2)
    edges = [0, *cuts[1:], *(size - cut for cut in reversed(cuts[1:])), size]
    edges = sorted(set(edges))
    return [slice(low, high) for low, high in itertools.pairwise(edges)]


def _distinct_groups(levels, squares, parts, level_noise: float, rounding: float) -> list[tuple]:
    """:func:`_group` of ``levels`` (partitioned at the ``parts``, slices of ranks) over
    the parts, each merged into the group before while its level lies within
    :data:`SIGNIFICANCE` sigmas of a level's noise (its variance ``level_noise`` times
    the residual's) of that group's first part: ranking within the noise sorts the
    noise, not the signal, and would flatten the line. (Compared with the part just
    before, a dim sky's many parts, each within the noise of the next, chained every
    level into one group, and no line was left.)"""
    merged: list[slice] = []
    whole: list[bool] = []  # a merged slice that is one part keeps that part's group
    found: list = []  # each merged slice's first part's group
    for part in parts:
        new = _group(levels[part], squares[part], rounding)
        first = found[-1] if found else None
        close = bool(merged) and (new is None or first is None)
        if merged and not close:
            close = new[0] - first[0] <= SIGNIFICANCE * np.sqrt(
                level_noise * max(first[1], new[1])
            )
        if close:
            merged[-1] = slice(merged[-1].start, part.stop)
            whole[-1] = False
        else:
            merged.append(part)
            whole.append(True)
            found.append(new)
    groups = [
        group if kept else _group(levels[part], squares[part], rounding)
        for part, kept, group in zip(merged, whole, found, strict=True)
    ]
    return [group for group in groups if group is not None]


def _group(levels: np.ndarray, squares: np.ndarray, rounding: float):
    """``(level, variance, its standard error)`` of one group's squared residuals
    within :data:`OUTLIER` sigmas (of their median's sigma, at least ``rounding``'s,
    then of their mean's), or None when too few are left.

    Counts of a dim sky (under a count per pixel) mostly tie: the median residual is
    that of the pixels at nought in both images, and the median's sigma is nought or
    near it, which would leave out every pixel that saw a photon."""
    variance = max(median(squares) / CHI2_1_MEDIAN, rounding)
    for _ in range(2):
        inside = squares <= OUTLIER**2 * variance
        count = np.count_nonzero(inside)
        if count < GROUP // 2 or not variance > 0:
            return None
        kept = slice(None) if count == squares.size else inside  # all: no copy
        variance = _mean(squares[kept])
    error = variance * np.sqrt(2.0 / count)
    return _mean(levels[kept]), variance, error


def _mean(values: np.ndarray) -> float:
    """``numpy.mean`` of a 1-D float64 array (the same sum, divided alike), without its
    general handling: most of the time of the line's small groups."""
    return float(np.add.reduce(values) / values.size)
