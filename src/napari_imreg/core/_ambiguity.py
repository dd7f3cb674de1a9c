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

and its noise comes from the data's own per-pixel residuals: to first order in
the noise ``n_r`` of the reference and ``n_m`` of the moving image, ``delta``
moves by ``2 sum D n_r + 2 g sum R n_m``, ``R(y) = r(y + s1) - r(y + s2)``, so

    var(delta) = 4 sum_lag [C_r(lag) A_D(lag) + g**2 C_m(lag) A_R(lag)]

with ``A`` the autocorrelations of ``D`` and ``R`` and ``C`` the noise's. The
residual's autocovariance ``C_e = C_r + g**2 C_m`` is measured (every lag, by
Parseval from its power spectrum), and split evenly between the two images. It
holds whatever the filter, the binning or the units did to the noise, and when
``s1`` is wrong it also holds the misfit, which only makes the test stricter.

If ``s2`` were the truth, ``delta`` would be drawn around ``-mu`` (``mu > 0``),
so ``P(delta >= observed) <= Q(z)`` with ``z = delta / sqrt(var)``: the rival is
ruled out at the false-alarm probability ``alpha`` when ``z >= Q^-1(alpha)``.
The judged minimum is a single measurement only when every rival is ruled out
(an intersection-union test: each at level ``alpha``, no correction for their
number). The rivals are the strongest local maxima of the correlation surface
outside the judged minimum's neighbourhood, refined to sub-pixel by a parabola.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.ndimage
from scipy import fft as sp_fft
from scipy import special

from ._chi2 import parabolic_offset

#: The strongest local maxima outside the judged one's neighbourhood that are tested.
RIVALS = 3
#: A local maximum of the correlation closer than this to the judged minimum on every
#: axis is its own whole-pixel peak (a sub-pixel minimum lies within half a pixel of
#: its peak; two local maxima of a 3x3 neighbourhood are at least two pixels apart).
OWN = 1.5


@dataclass(frozen=True)
class Rivalry:
    """The outcome of :func:`rival_test`.

    Attributes
    ----------
    z : float
        The smallest ``delta / sqrt(var(delta))`` over the rivals (``inf`` when
        there is none): how many sigma the judged minimum beats its closest rival by.
    rivals : numpy.ndarray
        ``(k, ndim)``: the rivals not ruled out (sub-pixel shifts, in the units of
        the images given), empty when the judged minimum is a single measurement.
    """

    z: float
    rivals: np.ndarray


def rival_test(reference, moving, zmap, lags, judged, *, wrap, valid, alpha) -> Rivalry:
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
        The valid pixels of each image (None: all).
    alpha : float
        The probability of ruling out a rival that is the truth.
    """
    threshold = float(special.ndtri(1.0 - alpha))
    z_min, kept = np.inf, []
    for rival in _rivals(zmap, lags, judged):
        z = _paired_z(reference, moving, judged, rival, wrap, valid)
        z_min = min(z_min, z)
        if not z >= threshold:
            kept.append(rival)
    rivals = np.array(kept, dtype=np.float64).reshape(-1, reference.ndim)
    return Rivalry(z=float(z_min), rivals=rivals)


def _rivals(zmap, lags, judged) -> list[np.ndarray]:
    """The strongest local maxima of ``zmap`` but ``judged``'s own, sub-pixel."""
    peaks = (zmap == scipy.ndimage.maximum_filter(zmap, size=3, mode="nearest")) & (zmap > 0)
    own = np.ones(zmap.shape, dtype=bool)
    for axis, g in enumerate(np.meshgrid(*lags, indexing="ij", sparse=True)):
        own = own & (np.abs(g - judged[axis]) < OWN)
    peaks &= ~own
    found = np.flatnonzero(peaks)
    strongest = found[np.argsort(zmap.reshape(-1)[found])[::-1][:RIVALS]]
    rivals = []
    for flat in strongest:
        index = np.unravel_index(flat, zmap.shape)
        whole = np.array([lag[i] for lag, i in zip(lags, index, strict=True)], dtype=np.float64)
        # parabolic_offset refines a minimum: the correlation's maximum is the score's.
        rivals.append(whole + parabolic_offset(-zmap, index, [False] * zmap.ndim))
    return rivals


def _moved(image, shift, wrap):
    """``image(x - shift)`` by cubic splines (periodic when ``wrap``)."""
    mode = "grid-wrap" if wrap else "nearest"
    return scipy.ndimage.shift(image, shift, order=3, mode=mode)


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
    """Pixels whose values ``image(x - s)``, for every ``s``, draw on valid pixels only."""
    mode = "grid-wrap" if wrap else "nearest"
    kept = np.ones(valid.shape, dtype=bool)
    for s in shifts:
        moved = scipy.ndimage.shift(valid.astype(np.float64), s, order=1, mode=mode)
        kept &= scipy.ndimage.binary_erosion(moved > 1 - 1e-9, border_value=1)
    return kept


def _paired_z(reference, moving, first, second, wrap, valid) -> float:
    """``delta / sqrt(var(delta))`` of ``first`` against ``second`` (see the module)."""
    delta, variance = paired_difference(reference, moving, first, second, wrap=wrap, valid=valid)
    if not variance > 0:
        return np.inf if delta > 0 else -np.inf
    return delta / np.sqrt(variance)


def paired_difference(reference, moving, first, second, *, wrap, valid=None):
    """``chi2(second) - chi2(first)`` and its variance from the residual (see the module);
    ``(-inf, 0)`` when the two shifts share no pixels to compare them on."""
    m1, m2 = _moved(moving, first, wrap), _moved(moving, second, wrap)
    r1, r2 = _moved(reference, -first, wrap), _moved(reference, -second, wrap)
    on_ref = _inside(reference.shape, (first, second), wrap)
    on_mov = _inside(moving.shape, (-first, -second), wrap)
    if valid is not None:
        valid_r, valid_m = valid
        on_ref &= valid_r & _valid_after(valid_m, (first, second), wrap)
        on_mov &= valid_m & _valid_after(valid_r, (-first, -second), wrap)
    count = int(on_ref.sum())
    if count < 2 or not on_mov.any():
        return -np.inf, 0.0  # nothing to compare the two on: not ruled out
    power = float(np.sum(m1[on_ref] ** 2))
    gain = float(np.sum(reference[on_ref] * m1[on_ref])) / power if power > 0 else 0.0
    if not gain > 0:
        return -np.inf, 0.0
    residual = np.where(on_ref, reference - gain * m1, 0.0)
    difference = np.where(on_ref, gain * (m1 - m2), 0.0)
    delta = float(np.sum(difference**2) + 2.0 * np.sum(residual * difference))
    residual[on_ref] -= residual[on_ref].mean()
    reverse = np.where(on_mov, r1 - r2, 0.0)
    shape = reference.shape
    if not wrap:  # padded: the lags do not wrap around
        shape = tuple(sp_fft.next_fast_len(2 * n) for n in shape)
    axes = tuple(range(reference.ndim))
    power_e = np.abs(sp_fft.fftn(residual, shape, axes=axes)) ** 2
    power_d = np.abs(sp_fft.fftn(difference, shape, axes=axes)) ** 2
    power_r = np.abs(sp_fft.fftn(reverse, shape, axes=axes)) ** 2
    # sum_lag C_e(lag) A(lag) = sum_k |E_k|^2 |A_k|^2 / (count * size), by Parseval;
    # half of C_e is each image's: 4 * (1/2) * (A_D + A_R).
    variance = 2.0 * float(np.sum(power_e * (power_d + power_r))) / (count * np.prod(shape))
    return delta, variance
