"""Is there a shift to measure? The significance of the best match, and the search edge.

A stage for after the whole-pixel search. Pure noise, unrelated scenes and pairs
far below a signal-to-noise of one still have a best shift; its curvature gives a
small error, and the answer is meaningless. This module asks whether the best
match stands out from the others more than the largest of the others would by
chance, and whether it sits on the ``max_shift`` edge, where the true minimum may
lie outside.

The statistic is the peak of the normalised cross-correlation ``c(s)`` over the
search window (the correlation coefficient over the pixels the shift compares:
each part's own mean and energy), made Gaussian by Fisher's transform and
standardised by its spread under the null: ``z = atanh(c) sqrt(N / S)``, with
``N`` the pixels the shift compares and ``S`` the area of one correlation cell
(the images' own autocorrelation, Bartlett's effective sample size). Under the
null (no common signal), ``z`` at shifts further apart than a cell are close to
independent standard Gaussians, so the largest of ``n_eff`` of them exceeds ``z``
with probability ``p = 1 - (1 - Q(z))^n_eff`` (``Q`` the Gaussian tail), with
``n_eff`` the window's samples divided by the area of one correlation cell.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import fft as sp_fft
from scipy import special

from ._ambiguity import rival_test
from ._prepare import bin_blocks

#: The best match is a measurement when its false-alarm probability is below this.
FALSE_ALARM = 1e-3
#: Larger images are binned to at most this many pixels per axis for the test: the
#: decision needs the match's significance, which binning keeps, not its precision.
#: Volumes are binned by voxel count (see ``_test_binning``), at most this much per axis.
TEST_SIZE = 128
MAX_VOLUME_BINNING = 4
#: Sets of lags whose reference sums a :class:`ReferenceShare` keeps.
KEPT_OVERLAPS = 4


@dataclass(frozen=True)
class Significance:
    """The outcome of :func:`match_significance`.

    Attributes
    ----------
    significant : bool
        The match judged (the pipeline's ``shift`` if given, else the best one)
        stands out of the null's fluctuations (``p < alpha``).
    z : float
        The judged match's Fisher z-score against the null of no common signal.
    p_value : float
        Probability that the highest of ``n_eff`` null samples reaches ``z``.
    n_eff : float
        Independent samples in the search window.
    peak : numpy.ndarray
        The whole-pixel shift of the best match (sign of :func:`register`).
    agrees : bool
        The pipeline's ``shift`` (if given) lies within half a correlation cell of
        ``peak`` (informative: the correlation's global mean and norm can move its
        peak a pixel or two on smooth scenes, so the decision does not use it).
    cell : float
        Pixels per independent sample of the correlation surface.
    on_boundary : bool
        The judged match's nearest whole pixel is the last one searched on some
        axis (not for an axis whose window spans the whole periodic image).
    rival_z : float
        By how many sigma of the noise the judged match beats its closest rival
        minimum elsewhere in the window (:mod:`._ambiguity`); ``inf`` when there
        is none, or when the test did not run (not significant, or on the edge).
    rivals : numpy.ndarray or None
        ``(k, ndim)``: the other minima of the window (beyond the judged one's own
        whole-pixel peak) that the noise cannot rule out (sign of :func:`register`);
        empty when the judged match is a single measurement, None when the test
        did not run.
    rival_spread : numpy.ndarray or None
        ``(ndim, ndim)``: the covariance the judged match's error must reach along
        its shoulders that the noise cannot rule out (:mod:`._ambiguity`); None
        when the test did not run.
    rival_beyond : bool
        Some of ``rivals`` lie beyond ``max_shift`` (the rival test searches out to
        half the image): the truth may lie beyond the window searched.
    pending : callable or None
        The rival test that ``rivals=False`` left out, on the correlation already
        made: it returns this significance with the test (see :meth:`with_rivals`).
        None when the test ran, or when it would not run (not significant, or on
        the edge).
    """

    significant: bool
    z: float
    p_value: float
    n_eff: float
    peak: np.ndarray
    on_boundary: bool
    agrees: bool = True
    cell: float = 1.0
    rival_z: float = np.inf
    rivals: np.ndarray | None = None
    rival_spread: np.ndarray | None = None
    rival_beyond: bool = False
    pending: Callable[[], Significance] | None = field(default=None, repr=False, compare=False)

    def with_rivals(self) -> Significance:
        """This significance with the rival test, run now if ``rivals=False`` left it out."""
        return self if self.pending is None else self.pending()

    @property
    def ambiguous(self) -> bool:
        """Another match of the window is as good as the judged one, within the noise."""
        return self.rivals is not None and len(self.rivals) > 0

    @property
    def measured(self) -> bool:
        """The match judged is significant, inside the search window and unrivalled."""
        return self.significant and not self.on_boundary and not self.ambiguous


def _test_binning(shape) -> np.ndarray:
    """The factor each axis is binned by for the test.

    Images: one factor for every axis long enough to take it, so that the longest
    has at most ``TEST_SIZE`` pixels; a short axis (a 1 x N spectrum) is left whole
    rather than binned away. Volumes: an axis once per ``TEST_SIZE ** (2 / ndim)``
    voxels (25 in 3-D), about as many voxels as such an image has pixels, and by
    at most ``MAX_VOLUME_BINNING`` (a few planes of 512² keep 128² each).
    """
    if len(shape) >= 3:
        size = TEST_SIZE ** (2 / len(shape))
        return np.array([int(np.clip(n // size, 1, MAX_VOLUME_BINNING)) for n in shape])
    factor = max(1, -(-max(shape) // TEST_SIZE))
    return np.array([max(1, min(factor, n // 2)) for n in shape])


def _spectral_sum(a: np.ndarray, b: np.ndarray, last: int) -> float:
    """``sum_k a_k b_k`` over the full spectrum, from the half spectra of ``rfftn``
    (``last``: the last axis's padded length), so that Parseval needs no inverse."""
    weights = np.full(a.shape[-1], 2.0)
    weights[0] = 1.0
    if last % 2 == 0:
        weights[-1] = 1.0
    return float(np.sum((a * b) @ weights))


def _running_sums(values: np.ndarray, axis: int) -> np.ndarray:
    """``np.cumsum`` of ``values`` along ``axis`` after a zero: entry ``k`` sums the
    first ``k``. Along the first axis of an image, row after row (the same additions
    in the same order: numpy's cumulative sum across rows is several times slower)."""
    if axis > 0 or values.ndim < 2:
        zero = np.zeros_like(np.take(values, [0], axis=axis))
        return np.concatenate([zero, np.cumsum(values, axis=axis)], axis=axis)
    running = np.empty((values.shape[0] + 1, *values.shape[1:]), dtype=values.dtype)
    running[0] = 0.0
    running[1] = values[0]
    for row in range(1, values.shape[0]):
        np.add(running[row], values[row], out=running[row + 1])
    return running


def _overlap_sums(image, lags, sign: int) -> np.ndarray:
    """The sums of ``image`` over the part two copies share at each of ``lags`` (a grid,
    overlap mode): the reference's pixels ``x`` with ``x - s`` inside (``sign`` 1) or
    the moving image's ``x`` with ``x + s`` inside (``sign`` -1), from running sums
    along each axis in turn (no transform)."""
    sums = image
    for axis, (n, lag) in enumerate(zip(image.shape, lags, strict=True)):
        running = _running_sums(sums, axis)
        start = np.clip(sign * lag, 0, n)
        stop = np.clip(n + sign * lag, 0, n)
        sums = np.take(running, stop, axis=axis) - np.take(running, start, axis=axis)
    return sums


def _reference_overlap(ref, lags) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What :func:`_overlap_correlation` reads of the reference alone at each of
    ``lags``: the pixels the two images share, the reference's sum over its part
    and that part's centred energy (read-only arrays)."""
    grids = np.meshgrid(*lags, indexing="ij", sparse=True)
    count = np.ones([len(lag) for lag in lags])
    for n, grid in zip(ref.shape, grids, strict=True):
        count = count * np.maximum(n - np.abs(grid), 1)
    sum_r = _overlap_sums(ref, lags, 1)
    energy_r = np.maximum(_overlap_sums(ref**2, lags, 1) - sum_r**2 / count, 0.0)
    for array in (count, sum_r, energy_r):
        array.setflags(write=False)
    return count, sum_r, energy_r


def _overlap_correlation(ref, mov, window, lags, share: ReferenceShare | None = None):
    """The correlation coefficient of the two unmasked images over the part they share
    at each of ``lags`` (overlap mode), from ``window`` (their raw products summed
    there), and that part's pixels.

    A large shift compares a part of each image whose mean and spread are not the
    whole image's (a dark corner of one against the bright middle of the other): the
    products over it, divided by the shared fraction alone, then read the parts'
    means as a match. Each part's own mean and energy (running sums) make it the
    correlation over the pixels compared, as masked images have it
    (:func:`_masked_correlation`). With ``share`` (made from ``ref``), the
    reference's part is the one it keeps rather than summed again.
    """
    if share is None:
        count, sum_r, energy_r = _reference_overlap(ref, lags)
    else:
        count, sum_r, energy_r = share.overlap(lags)
    sum_m = _overlap_sums(mov, lags, -1)
    cross = window - sum_r * sum_m / count
    energy_m = np.maximum(_overlap_sums(mov**2, lags, -1) - sum_m**2 / count, 0.0)
    norm = np.sqrt(energy_r * energy_m)
    return np.where(norm > 0, cross / np.where(norm > 0, norm, 1.0), 0.0), count


def _masked_bin(image, valid, factors):
    """Block means of the valid pixels, and the blocks at least half valid."""
    counts = bin_blocks(valid.astype(np.float64), factors)
    sums = bin_blocks(np.where(valid, image, 0.0), factors)
    kept = counts >= 0.5
    return np.where(kept, sums / np.maximum(counts, 1e-300), 0.0), kept


def _unit(image, valid):
    """The image centred on its valid pixels' mean and scaled to unit norm, zero elsewhere
    (its mean there: a masked pixel adds nothing to the correlation)."""
    if valid is None:
        centred = image - image.mean()
    else:
        centred = np.where(valid, image - image[valid].mean(), 0.0)
    return centred / (np.sqrt(np.sum(centred**2)) or 1.0)


def _centred_alike(complete, given):
    """A function that returns ``complete()``'s two images binned, centred and scaled
    as :func:`_surface` made the ``given`` (unmasked) images its unit images: equal
    to those wherever the two agree."""

    def made() -> tuple[np.ndarray, ...]:
        factors = _test_binning(given[0].shape)
        out = []
        for whole, twin in zip(complete(), given, strict=True):
            if factors.max() > 1:
                whole, twin = bin_blocks(whole, factors), bin_blocks(twin, factors)
            mean = float(np.mean(twin))
            norm = float(np.sqrt(np.sum((twin - mean) ** 2)))
            out.append((whole - mean) / (norm or 1.0))
        return tuple(out)

    return made


def _masked_correlation(ref, mov, valid_r, valid_m, shape, axes):
    """The correlation coefficient of the two images over the pixels both have valid,
    at every shift, and that count ``n(s)``, on the padded grid (Padfield 2012).

    ``ref`` and ``mov`` are zero where not valid. Each shift's overlap has its own
    means and norms, so a shift that keeps a part of an image unlike the rest is
    judged on that part alone.
    """
    v_r, v_m = valid_r.astype(np.float64), valid_m.astype(np.float64)
    spectra = {
        name: sp_fft.rfftn(image, shape, axes=axes)
        for name, image in (("r", ref), ("rr", ref**2), ("vr", v_r))
    }
    spectra |= {
        name: np.conj(sp_fft.rfftn(image, shape, axes=axes))
        for name, image in (("m", mov), ("mm", mov**2), ("vm", v_m))
    }

    def correlate(a, b):
        return sp_fft.irfftn(spectra[a] * spectra[b], shape, axes=axes)

    shared = np.rint(correlate("vr", "vm"))
    count = np.maximum(shared, 1.0)
    sum_r, sum_m = correlate("r", "vm"), correlate("vr", "m")
    cross = correlate("r", "m") - sum_r * sum_m / count
    energy_r = np.maximum(correlate("rr", "vm") - sum_r**2 / count, 0.0)
    energy_m = np.maximum(correlate("vr", "mm") - sum_m**2 / count, 0.0)
    norm = np.sqrt(energy_r * energy_m)
    return np.where(norm > 0, cross / np.where(norm > 0, norm, 1.0), 0.0), shared


@dataclass(frozen=True)
class ReferenceShare:
    """The test's work that depends on the reference alone, for unmasked images:
    binned, centred, scaled to unit norm, transformed and squared once, then read by
    :func:`match_significance` for every moving image (a stack's frames)."""

    shape: tuple[int, ...]  # the reference's, before binning
    wrap: bool
    unit: np.ndarray  # binned, centred, unit norm
    spectrum: np.ndarray
    power: np.ndarray
    #: ``_reference_overlap``'s arrays, by the lags asked for (a stack asks for one set).
    _overlaps: dict = field(default_factory=dict, repr=False, compare=False)

    def overlap(self, lags) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:func:`_reference_overlap` of the unit image at ``lags`` (consecutive
        integers per axis), made once per set of lags (the latest few kept)."""
        key = tuple((int(lag[0]), len(lag)) for lag in lags)
        found = self._overlaps.get(key)
        if found is None:
            found = _reference_overlap(self.unit, lags)
            if len(self._overlaps) >= KEPT_OVERLAPS:
                self._overlaps.clear()
            self._overlaps[key] = found
        return found

    @classmethod
    def of(cls, reference, *, boundary: str = "overlap") -> ReferenceShare:
        """``reference`` as :func:`match_significance` takes it (prepared)."""
        reference = np.asarray(reference, dtype=np.float64)
        wrap = boundary == "wrap"
        factors = _test_binning(reference.shape)
        binned = bin_blocks(reference, factors) if factors.max() > 1 else reference
        unit = _unit(binned, None)
        spectrum = sp_fft.rfftn(
            unit, _padded_shape(unit.shape, wrap), axes=tuple(range(unit.ndim))
        )
        power = np.abs(spectrum) ** 2
        for array in (unit, spectrum, power):
            array.setflags(write=False)
        return cls(reference.shape, wrap, unit, spectrum, power)


def _padded_shape(shape, wrap: bool) -> tuple[int, ...]:
    """The correlation's grid: the images' own for wrap, else twice, to a fast length."""
    return tuple(shape) if wrap else tuple(sp_fft.next_fast_len(2 * n, real=True) for n in shape)


def _reaches(limit, shape, wrap: bool) -> list[int]:
    """The largest whole-pixel shift of the test per axis: ``limit``'s, within the
    periodic image's half or the image's extent."""
    return [
        int(min(np.floor(bound), n // 2 if wrap else n - 1))
        for bound, n in zip(limit, shape, strict=True)
    ]


def _outer_limit(limit, shape, wrap: bool) -> np.ndarray:
    """The shifts the rival test searches beyond the window, per axis: out to half
    the image, where the two images still share half of it along that axis, and one
    more, so that a peak at half the image is bracketed."""
    return np.maximum(np.asarray(limit, dtype=np.float64), np.asarray(shape) // 2 + 1)


def _surface(reference, moving, wrap, limit, valid=None, share: ReferenceShare | None = None):
    """The z-score of the cross-correlation at every whole-pixel shift within ``limit``.

    ``c(s)`` is the correlation coefficient of the two images over the ``n(s)``
    pixels they share at ``s`` (each part with its own mean and energy; the whole
    periodic image for wrap), with the null variance ``S / n(s)`` and Bartlett's
    ``S = sum_tau rho_r(tau) rho_m(tau)``, which Parseval gives from the two power
    spectra without a transform. With ``valid`` (the two images' valid pixels),
    ``n(s)`` counts the pixels valid in both at ``s``: the masked pixels are
    neither samples nor a pattern. With ``share`` (unmasked images only),
    ``reference`` is not read: its binned unit image and spectrum are the share's.
    Returns the z-scores on the window, each axis's lags, ``S``, and the two images
    centred and scaled as correlated.
    """
    valid_r, valid_m = (None, None) if valid is None else valid
    mov = _unit(moving, valid_m)
    shape = _padded_shape(mov.shape, wrap)
    axes = tuple(range(mov.ndim))
    if share is None:
        ref = _unit(reference, valid_r)
        r_spec = sp_fft.rfftn(ref, shape, axes=axes)
        r_power = np.abs(r_spec) ** 2
    else:
        ref, r_spec, r_power = share.unit, share.spectrum, share.power
    m_spec = sp_fft.rfftn(mov, shape, axes=axes)
    m_power = np.abs(m_spec) ** 2
    bartlett = _spectral_sum(r_power, m_power, shape[-1]) / float(np.prod(shape))
    bartlett = max(bartlett, 1.0 / mov.size)
    # Only the lags within ``limit``: the rest of the padded correlation is not read.
    lags = [np.arange(-reach, reach + 1) for reach in _reaches(limit, mov.shape, wrap)]
    at_lags = np.ix_(*[lag % n for lag, n in zip(lags, shape, strict=True)])
    if valid is not None:
        correlation, samples = _masked_correlation(ref, mov, valid_r, valid_m, shape, axes)
        correlation, samples = correlation[at_lags], samples[at_lags]
        # Too few shared pixels to sample the null: a shift that says nothing.
        usable = samples >= max(16.0, 2.0 * bartlett)
    else:
        # The product where the moving spectrum was (one spectrum fewer at a time).
        product = np.multiply(r_spec, np.conj(m_spec, out=m_spec), out=m_spec)
        window = sp_fft.irfftn(product, shape, axes=axes)[at_lags]
        if wrap:  # every shift compares the whole periodic image
            correlation, samples, usable = window, float(mov.size), True
        else:
            correlation, samples = _overlap_correlation(ref, mov, window, lags, share)
            usable = samples >= max(16.0, 2.0 * bartlett)
    # Fisher's transform atanh makes the correlation Gaussian with std
    # sqrt(S / (N f)) under the null, also near |c| = 1.
    correlation = np.clip(correlation, -1 + 1e-12, 1 - 1e-12)
    z = np.arctanh(correlation) * np.sqrt(samples / bartlett)
    return np.where(usable, z, 0.0), lags, bartlett, (ref, mov)


def match_significance(
    reference,
    moving,
    *,
    max_shift,
    searched=None,
    boundary="overlap",
    shift=None,
    alpha: float = FALSE_ALARM,
    valid=None,
    share: ReferenceShare | None = None,
    margins=None,
    rivals: bool = True,
    complete=None,
) -> Significance:
    """Test whether the best whole-pixel match is significant, and whether it is on the edge.

    Parameters
    ----------
    reference, moving : array_like
        The images as the pipeline compares them (filtered, masked pixels zeroed).
    max_shift : float or sequence of float
        The largest shift allowed per axis, pixels: the test's window.
    searched : float or sequence of float, optional
        How far the pipeline's search read, per axis (default ``max_shift``): a shift
        beyond ``max_shift`` or ``searched - 0.5`` (a whole-pixel minimum on the last
        sample, not bracketed) is on the edge.
    boundary : {"overlap", "wrap"}
        Whether the images are periodic.
    shift : array_like, optional
        The pipeline's shift, to check that it is this peak's.
    alpha : float
        False-alarm probability of the test.
    valid : pair of array_like of bool, optional
        The valid pixels of ``reference`` and of ``moving`` (masked pixels False),
        when some are not: the test then correlates and counts only those.
    share : ReferenceShare, optional
        ``ReferenceShare.of(reference, boundary=boundary)``, made once for many
        moving images: the reference is then not binned and transformed again.
        Used only without ``valid`` (masked images bin the reference with its mask).
    margins : sequence of int, optional
        Pixels at each end of each axis that the pipeline's filter zeroed (when
        ``valid`` is None): the rival test (:mod:`._ambiguity`) leaves them out.
    rivals : bool
        Run the rival test (default). False leaves it out: ``rivals`` is then None
        and ``measured`` says only whether the match is significant and inside.
    complete : callable, optional
        Unmasked images only: returns ``reference`` and ``moving`` with their
        ``margins`` filtered too (the filter run with the edges extended), equal to
        them elsewhere. The rival test shifts these instead of filling the margins
        (:mod:`._ambiguity`), and calls it only when it has a rival to refine.

    Returns
    -------
    Significance
        The decision, its statistic and the peak's whole-pixel shift (the
        translation that registers ``moving`` onto ``reference``).

    Notes
    -----
    Under the null hypothesis that the two images share no signal, the
    normalised cross-correlation at a shift has zero mean and variance
    ``sum_tau rho_r(tau) rho_m(tau) / N_overlap`` (Bartlett 1935), with ``rho``
    the images' autocorrelations: smooth images correlate by chance far more than
    white noise does. The correlation surface is correlated over an area of
    about ``sum rho_r rho_m`` pixels too, so the window holds
    ``n_eff = window / that`` independent samples. The pipeline should warn
    (``RegistrationWarning``) and report an error that covers the search window
    when ``significant`` is False or ``on_boundary`` is True.
    """
    reference = np.asarray(reference, dtype=np.float64)
    moving = np.asarray(moving, dtype=np.float64)
    if valid is not None:
        valid = tuple(np.asarray(v, dtype=bool) for v in valid)
    wrap = boundary == "wrap"
    limit = np.broadcast_to(np.asarray(max_shift, dtype=np.float64), (reference.ndim,))
    shape, full_limit = reference.shape, limit
    sampled = limit if searched is None else np.broadcast_to(searched, limit.shape)
    if share is not None and (share.shape != shape or share.wrap != wrap):
        raise ValueError(
            f"share was made for a reference of shape {share.shape} with wrap={share.wrap}, "
            f"not {shape} with boundary={boundary!r}."
        )
    if valid is not None:
        share = None  # masked images bin the reference with its mask
    given = (reference, moving)
    factors = _test_binning(reference.shape)
    binned = factors.max() > 1
    if binned and valid is not None:
        reference, valid_r = _masked_bin(reference, valid[0], factors)
        moving, valid_m = _masked_bin(moving, valid[1], factors)
        valid = (valid_r, valid_m)
    elif binned:
        moving = bin_blocks(moving, factors)
        reference = None if share is not None else bin_blocks(reference, factors)
    if binned:
        limit = limit / factors
        shift = None if shift is None else np.asarray(shift, dtype=np.float64) / factors
    # The correlation out to half the image, for the rival test beyond the window;
    # the window's part, at its centre, for the significance.
    outer = _outer_limit(limit, moving.shape, wrap)
    outer_z, outer_lags, cell, unit = _surface(reference, moving, wrap, outer, valid, share)
    inner = tuple(
        slice(len(lag) // 2 - reach, len(lag) // 2 + reach + 1)
        for lag, reach in zip(outer_lags, _reaches(limit, moving.shape, wrap), strict=True)
    )
    zmap, lags = outer_z[inner], [lag[part] for lag, part in zip(outer_lags, inner, strict=True)]
    grids = np.meshgrid(*lags, indexing="ij", sparse=True)
    index = np.unravel_index(np.argmax(zmap), zmap.shape)
    peak = np.array([lag[i] for lag, i in zip(lags, index, strict=True)], dtype=np.float64)
    n_eff = max(zmap.size / max(cell, 1.0), 1.0)
    # Within the correlation cell's half-width of a shift (at least 1.5 px) is the same match.
    reach = max(1.5, 0.5 * np.sqrt(cell))
    z, agrees, judged = float(zmap[index]), True, peak
    if shift is not None:
        judged = np.asarray(shift, dtype=np.float64)
        agrees = bool(np.all(np.abs(judged - peak) <= reach))
        # The pipeline's own minimum is what is reported, so it is what is judged:
        # the best correlation within reach of it, against the whole window's null.
        near = np.ones(zmap.shape, dtype=bool)
        for axis, g in enumerate(grids):
            near = near & (np.abs(g - judged[axis]) <= reach)
        z = float(np.max(zmap[near])) if near.any() else -np.inf
    tail = 0.5 * special.erfc(z / np.sqrt(2.0))
    p_value = float(-np.expm1(n_eff * np.log1p(-min(tail, 1 - 1e-16))))
    on_edge = False
    # Judged at full resolution: binning a short axis (the 32 rows of a 32 x 2000
    # image, by the long axis's factor) can leave its window under a binned pixel.
    judged_full = judged * factors
    for axis, n in enumerate(shape):
        spans = wrap and full_limit[axis] >= n / 2
        # Beyond the window, or not bracketed (the true minimum may lie beyond it).
        edge = min(full_limit[axis], np.floor(sampled[axis]) - 0.5)
        on_edge = on_edge or (not spans and abs(judged_full[axis]) > edge)
    verdict = Significance(
        agrees=agrees,
        cell=cell * float(np.prod(factors)),
        significant=p_value < alpha,
        z=z,
        p_value=p_value,
        n_eff=n_eff,
        peak=peak * factors,
        on_boundary=on_edge,
    )
    if not (p_value < alpha) or on_edge:
        return verdict
    if margins is not None:  # whole binned pixels that hold a zeroed one
        margins = [-(-int(m) // int(f)) for m, f in zip(margins, factors, strict=True)]

    def with_rivals() -> Significance:
        # As many shared pixels as a masked shift needs to be a candidate (_surface).
        rivalry = rival_test(
            *unit,
            zmap,
            lags,
            judged,
            wrap=wrap,
            valid=valid,
            alpha=alpha,
            margins=margins,
            least=max(16.0, 2.0 * cell),
            complete=None
            if complete is None or valid is not None
            else _centred_alike(complete, given),
            outer=(outer_z, outer_lags),
        )
        return dataclasses.replace(
            verdict,
            rival_z=rivalry.z,
            rivals=rivalry.rivals * factors,
            rival_spread=rivalry.spread * np.outer(factors, factors),
            rival_beyond=rivalry.beyond,
        )

    return with_rivals() if rivals else dataclasses.replace(verdict, pending=with_rivals)
