"""Is there a shift to measure? The significance of the best match, and the search edge.

A stage for after the whole-pixel search. Pure noise, unrelated scenes and pairs
far below a signal-to-noise of one still have a best shift; its curvature gives a
small error, and the answer is meaningless. This module asks whether the best
match stands out from the others more than the largest of the others would by
chance, and whether it sits on the ``max_shift`` edge, where the true minimum may
lie outside.

The statistic is the peak of the normalised cross-correlation ``c(s)`` over the
search window, standardised by the surface's own fluctuations away from the peak
(median and MAD): ``z = (c_peak - median) / (1.4826 MAD)``. Under the null (no
common signal), ``c`` at shifts further apart than its correlation length are
close to independent Gaussians, so the largest of ``n_eff`` of them exceeds ``z``
with probability ``p = 1 - (1 - Q(z))^n_eff`` (``Q`` the Gaussian tail), with
``n_eff`` the window's samples divided by the area of one correlation cell,
measured from the surface's own autocorrelation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

#: The best match is a measurement when its false-alarm probability is below this.
FALSE_ALARM = 1e-3
#: Larger images are binned to at most this many pixels per axis for the test: the
#: decision needs the match's significance, which binning keeps, not its precision.
TEST_SIZE = 256


@dataclass(frozen=True)
class Significance:
    """The outcome of :func:`match_significance`.

    Attributes
    ----------
    significant : bool
        The best match stands out of the surface's fluctuations (``p < alpha``).
    z : float
        The peak's height in units of the surface's robust standard deviation.
    p_value : float
        Probability that the highest of ``n_eff`` null samples reaches ``z``.
    n_eff : float
        Independent samples in the search window.
    peak : numpy.ndarray
        The whole-pixel shift of the best match (sign of :func:`register`).
    agrees : bool
        The pipeline's ``shift`` (if given) lies within one correlation cell of
        ``peak``: a chi2 minimum elsewhere is a different answer, not a refinement.
    cell : float
        Pixels per independent sample of the correlation surface.
    on_boundary : bool
        The peak lies within one pixel of the ``max_shift`` edge on some axis (not
        for an axis whose window spans the whole periodic image).
    """

    significant: bool
    z: float
    p_value: float
    n_eff: float
    peak: np.ndarray
    on_boundary: bool
    agrees: bool = True
    cell: float = 1.0

    @property
    def measured(self) -> bool:
        """A significant match, inside the search window, that the pipeline found."""
        return self.significant and self.agrees and not self.on_boundary


def _bin(image, factor):
    """Block means of ``factor`` pixels per axis (the remainder trimmed)."""
    trimmed = image[tuple(slice(0, n // factor * factor) for n in image.shape)]
    shape = []
    for n in trimmed.shape:
        shape += [n // factor, factor]
    return trimmed.reshape(shape).mean(axis=tuple(range(1, 2 * image.ndim, 2)))


def _autocorrelation(image, shape):
    """Autocorrelation of a zero-mean, unit-norm image, on the padded lags."""
    spectrum = np.fft.fftn(image, shape, axes=range(image.ndim))
    return np.fft.ifftn(np.abs(spectrum) ** 2).real


def _surface(reference, moving, wrap):
    """The z-score of the cross-correlation at every whole-pixel shift, and ``S``.

    ``c(s) = sum r(x) m(x - s)`` of the zero-mean unit-norm images, over the
    overlap fraction ``f(s)``; its null variance is ``S / (N f(s))`` with
    Bartlett's ``S = sum_tau rho_r(tau) rho_m(tau)``.
    """
    ref = reference - reference.mean()
    mov = moving - moving.mean()
    ref = ref / (np.sqrt(np.sum(ref**2)) or 1.0)
    mov = mov / (np.sqrt(np.sum(mov**2)) or 1.0)
    shape = ref.shape if wrap else tuple(2 * n for n in ref.shape)
    axes = tuple(range(ref.ndim))
    cross = np.fft.ifftn(
        np.fft.fftn(ref, shape, axes=axes) * np.conj(np.fft.fftn(mov, shape, axes=axes))
    ).real
    bartlett = float(np.sum(_autocorrelation(ref, shape) * _autocorrelation(mov, shape)))
    bartlett = max(bartlett, 1.0 / ref.size)
    fraction = np.ones(shape)
    if not wrap:
        ones = np.ones(ref.shape)
        fraction = np.fft.ifftn(np.abs(np.fft.fftn(ones, shape, axes=axes)) ** 2).real / ones.size
        fraction = np.maximum(fraction, 1.0 / ones.size)
    # raw / f is the correlation over the overlap; Fisher's transform atanh makes
    # it Gaussian with std sqrt(S / (N f)) under the null, also near |c| = 1.
    correlation = np.clip(cross / fraction, -1 + 1e-12, 1 - 1e-12)
    z = np.arctanh(correlation) * np.sqrt(ref.size * fraction / bartlett)
    return z, bartlett


def match_significance(
    reference,
    moving,
    *,
    max_shift,
    boundary="overlap",
    shift=None,
    alpha: float = FALSE_ALARM,
) -> Significance:
    """Test whether the best whole-pixel match is significant, and whether it is on the edge.

    Parameters
    ----------
    reference, moving : array_like
        The images as the pipeline compares them (filtered, masked pixels zeroed).
    max_shift : float or sequence of float
        The largest shift searched per axis, pixels.
    boundary : {"overlap", "wrap"}
        Whether the images are periodic.
    shift : array_like, optional
        The pipeline's shift, to check that it is this peak's.
    alpha : float
        False-alarm probability of the test.

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
    wrap = boundary == "wrap"
    limit = np.broadcast_to(np.asarray(max_shift, dtype=np.float64), (reference.ndim,))
    factor = max(1, -(-max(reference.shape) // TEST_SIZE))
    if factor > 1:
        reference, moving = _bin(reference, factor), _bin(moving, factor)
        limit = limit / factor
        shift = None if shift is None else np.asarray(shift, dtype=np.float64) / factor
    shape = reference.shape
    zmap, cell = _surface(reference, moving, wrap)
    grids = np.meshgrid(
        *[np.fft.fftfreq(n, 1.0 / n) for n in zmap.shape], indexing="ij", sparse=True
    )
    window = np.ones(zmap.shape, dtype=bool)
    for axis, g in enumerate(grids):
        window = window & (np.abs(g) <= limit[axis])
    values = np.where(window, zmap, -np.inf)
    index = np.unravel_index(np.argmax(values), zmap.shape)
    peak = np.array([g.ravel()[i] for g, i in zip(grids, index, strict=True)])
    z = float(zmap[index])
    n_eff = max(float(np.sum(window)) / max(cell, 1.0), 1.0)
    tail = 0.5 * special.erfc(z / np.sqrt(2.0))
    p_value = float(-np.expm1(n_eff * np.log1p(-min(tail, 1 - 1e-16))))
    on_edge = False
    for axis, n in enumerate(shape):
        spans = wrap and limit[axis] >= n / 2
        if not spans and abs(peak[axis]) >= limit[axis] - 1:
            on_edge = True
    agrees = True
    if shift is not None:
        # Within the correlation cell's half-width of the peak (at least 1.5 px).
        reach = max(1.5, 0.5 * np.sqrt(cell))
        agrees = bool(np.all(np.abs(np.asarray(shift, dtype=np.float64) - peak) <= reach))
    return Significance(
        agrees=agrees,
        cell=cell * factor**reference.ndim,
        significant=p_value < alpha,
        z=z,
        p_value=p_value,
        n_eff=n_eff,
        peak=peak * factor,
        on_boundary=on_edge,
    )
