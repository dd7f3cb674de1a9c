"""The chi-squared surface of a shift, from FFT cross-correlations, and its minimum.

The surface is the mean weighted squared residual over the pixels the two images share
at each shift, ``A(s) / W(s)``, built from correlations that are trigonometric series;
so the surface and its derivatives are exact at any sub-pixel shift, and Newton's method
needs no upsampling grid. The derivation: docs/how-it-works.md, "The χ² terms".
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from . import _fft
from ._fourier import axis_kernels, evaluate_series


class Term:
    """A function of the shift, evaluated with its derivatives on tensor grids."""

    def tensor(self, positions, orders) -> np.ndarray:
        """Values or derivatives on a grid: ``positions[a]`` holds the coordinates along
        axis ``a`` and ``orders[a]`` the derivative orders; the result has one axis of
        length ``len(positions[a]) * len(orders[a])`` per axis (orders vary slowest)."""
        raise NotImplementedError

    def derivatives(self, point, *, third: bool = False) -> tuple:
        """Value, gradient and Hessian at one shift; with ``third``, also the
        tensor of third derivatives (the same pass)."""
        ndim = len(point)
        orders = (0, 1, 2, 3) if third else (0, 1, 2)
        table = self.tensor([[p] for p in point], [orders] * ndim)
        return _unpack_derivatives(table, ndim, third=third)


class TermSum(Term):
    """The sum of several terms."""

    def __init__(self, *terms: Term):
        self.terms = terms

    @property
    def is_constant(self) -> bool:
        return False

    def tensor(self, positions, orders) -> np.ndarray:
        out = self.terms[0].tensor(positions, orders)
        for term in self.terms[1:]:
            out = out + term.tensor(positions, orders)
        return out


@dataclass
class Series(Term):
    """``scale * IDFT(spectrum)(s) + constant`` for an ``rfftn`` half-spectrum.

    ``factors`` (one 1-D spectrum per axis, the last a half-spectrum) stands
    for a separable spectrum, their outer product; neither given: a constant.
    ``transfer`` (one real 1-D array per axis, on the spectrum's frequencies)
    filters the spectrum by their outer product, without a copy of it.
    """

    spectrum: np.ndarray | None
    shape: tuple[int, ...]
    scale: float = 1.0
    constant: float = 0.0
    factors: list[np.ndarray] | None = None
    transfer: list[np.ndarray] | None = None

    @property
    def is_constant(self) -> bool:
        return self.spectrum is None and self.factors is None

    def grid(self, threads=None, *, scratch: bool = False, window=None) -> np.ndarray | float:
        """Values at every whole-pixel shift (FFT layout), or the constant.

        ``window`` (one index array per axis) keeps only those shifts: a new,
        small array. ``scratch``: without a window, the values may live in the
        FFT's own buffer, overwritten by the next transform of this size (use
        them at once).
        """
        if self.is_constant:
            return self.constant
        if self.factors is not None:
            last = len(self.shape) - 1
            profiles = [
                np.fft.irfft(f, n) if a == last else np.fft.ifft(f).real
                for a, (f, n) in enumerate(zip(self.factors, self.shape, strict=True))
            ]
            if window is not None:
                profiles = [p[w] for p, w in zip(profiles, window, strict=True)]
            values = outer_product(profiles)
            if self.scale != 1.0:
                values *= self.scale
        else:
            values = _fft.irfftn(
                self.spectrum,
                s=self.shape,
                threads=threads,
                scratch=scratch or window is not None,
                scale=self.scale,
            )
            if window is not None:
                values = values[np.ix_(*window)]
        if self.constant:
            values += self.constant
        return values

    def tensor(self, positions, orders) -> np.ndarray:
        ndim = len(self.shape)
        if self.is_constant:
            out = np.zeros([len(p) * len(o) for p, o in zip(positions, orders, strict=True)])
            zero_order = tuple(slice(0, len(p)) for p in positions)
            if all(o[0] == 0 for o in orders):
                out[zero_order] = self.constant
            return out
        kernels = [
            series_kernels(
                self.shape[a], tuple(np.ravel(positions[a])), a == ndim - 1, tuple(orders[a])
            )
            for a in range(ndim)
        ]
        if self.transfer is not None:
            kernels = [k * t for k, t in zip(kernels, self.transfer, strict=True)]
        if self.factors is not None:
            # Non-last axes give real values (full, conjugate-symmetric spectra);
            # the real part of the product is then that of the last factor.
            profiles = [k @ f for k, f in zip(kernels, self.factors, strict=True)]
            profiles = [p.real for p in profiles]
            out = outer_product(profiles) * self.scale
        else:
            out = evaluate_series(self.spectrum, kernels, real=True)
            out *= self.scale
        if self.constant and all(o[0] == 0 for o in orders):
            out[tuple(slice(0, len(p)) for p in positions)] += self.constant
        return out


@functools.lru_cache(maxsize=32)
def series_kernels(n: int, positions: tuple, half: bool, orders: tuple) -> np.ndarray:
    """:func:`axis_kernels`, cached and read-only: the series of one surface are
    evaluated at the same points (the taper's overlap on an axis's half spectrum,
    ``_taper``, asks for the last axis's kernels too)."""
    kernels = axis_kernels(n, positions, half=half, orders=orders)
    kernels.setflags(write=False)
    return kernels


def outer_product(profiles) -> np.ndarray:
    """The outer product of 1-D arrays, one per axis."""
    out = profiles[0]
    for profile in profiles[1:]:
        out = np.multiply.outer(out, profile)
    return out


def _unpack_derivatives(table: np.ndarray, ndim: int, *, third: bool = False):
    """Value, gradient, Hessian (and third derivatives) from a table indexed by
    the derivative order along each axis."""

    def entry(*axes):
        index = [0] * ndim
        for axis in axes:
            index[axis] += 1
        return table[tuple(index)]

    value = float(entry())
    grad = np.array([entry(a) for a in range(ndim)])
    hess = np.array([[entry(a, b) for b in range(ndim)] for a in range(ndim)])
    if not third:
        return value, grad, hess
    cube = np.empty((ndim,) * 3)
    for a, b, c in itertools.product(range(ndim), repeat=3):
        cube[a, b, c] = entry(a, b, c)
    return value, grad, hess, cube


@dataclass
class Surface:
    """The surface minimised: the mean weighted squared residual over shared pixels.

    ``f(s) = A(s) / W(s) - (B(s) / W(s))**2``: ``A`` the weighted squared
    residual, ``W`` the summed weight and ``B`` the weighted sum of the residual,
    whose term fits a constant offset between the images at every shift
    (``offset`` None: no offset fitted).

    ``noise_overlap``: the noise's expected share of ``A``, subtracted from it (see
    :func:`~napari_imreg.core._surface_spectral.noise_overlap`). None: that share
    is constant over ``f``, as with uniform weights.
    """

    residual: Term
    weight: Term
    offset: Term | None
    shape: tuple[int, ...]
    reference_part: Term | None = None
    filtered_cross: Series | None = None
    noise_overlap: Series | None = None
    #: Weighted by noise maps: the unweighted surface's score over its curvature
    #: (``_surface_spectral.score_ratio``), which the score's covariance reads.
    score_ratio: np.ndarray | None = None

    def for_search(self) -> Surface:
        """The surface the whole-pixel search scores: this one (no gain is fitted)."""
        return self

    def grid(self, threads=None, window=None) -> tuple[np.ndarray, np.ndarray | None]:
        """A score at every whole-pixel shift, and ``W`` (None if constant).

        The score is ``f`` up to an increasing affine map: its minimum and the
        parabola through its neighbours are those of ``f``. Without a window it
        is in FFT layout and may live in the FFT's scratch buffer (use it before
        the next transform); ``window`` (one index array per axis) keeps only
        those shifts.
        """
        residual = self.residual
        if (
            window is None
            and self.weight.is_constant
            and self.offset is None
            and self.noise_overlap is None
            and residual.spectrum is not None
        ):
            # f = (scale * IDFT + constant) / W: only the sign of the scale matters.
            sign = -1.0 if residual.scale < 0 else 1.0
            score = _fft.irfftn(
                residual.spectrum, s=self.shape, threads=threads, scratch=True, scale=sign
            )
            return score, None
        shape = self.shape if window is None else tuple(len(w) for w in window)
        f = residual.grid(threads, window=window)
        if np.ndim(f) == 0:  # a constant residual: a grid of it
            f = np.full(shape, f)
        if self.noise_overlap is not None:
            f = f - self.noise_overlap.grid(threads, window=window)
        weight = None if self.weight.is_constant else self.weight.grid(threads, window=window)
        divisor = self.weight.constant if weight is None else weight
        with np.errstate(divide="ignore", invalid="ignore"):
            f /= divisor
            if self.offset is not None:
                offset = self.offset.grid(threads, scratch=True, window=window)
                offset /= divisor
                np.square(offset, out=offset)
                f -= offset
        return f, weight

    def derivatives(self, point, *, third: bool = False) -> tuple:
        """Value, gradient and Hessian of ``f`` at one shift.

        With ``third``, a fourth item: the third derivatives where ``f`` is one
        series over a constant weight (no offset fitted), else None.
        """
        if third:
            if self.weight.is_constant and self.offset is None and self.noise_overlap is None:
                w = self.weight.constant
                return tuple(d / w for d in self.residual.derivatives(point, third=True))
            return (*self.derivatives(point), None)
        w, gw, hw = self.weight.derivatives(point)
        residual = self.residual.derivatives(point)
        if self.noise_overlap is not None:
            residual = tuple(
                r - n for r, n in zip(residual, self.noise_overlap.derivatives(point), strict=True)
            )
        f, gf, hf = _quotient(residual, (w, gw, hw))
        if self.offset is not None:
            v, gv, hv = _quotient(self.offset.derivatives(point), (w, gw, hw))
            f = f - v * v
            gf = gf - 2 * v * gv
            hf = hf - 2 * (np.outer(gv, gv) + v * hv)
        return f, gf, hf

    def values(self, positions) -> np.ndarray:
        """``f`` on the tensor grid of ``positions`` (one coordinate array per axis)."""
        orders = [(0,)] * len(self.shape)
        weight = self.weight.tensor(positions, orders)
        residual = self.residual.tensor(positions, orders)
        if self.noise_overlap is not None:
            residual = residual - self.noise_overlap.tensor(positions, orders)
        f = residual / weight
        if self.offset is not None:
            f = f - (self.offset.tensor(positions, orders) / weight) ** 2
        return f

    def weight_at(self, point) -> float:
        return self.weight.derivatives(point)[0]

    def reference_share(self, point, value: float) -> float:
        """The reference's share of the residual variance at ``point``, in [0, 1].

        ``value`` is ``f`` at ``point`` (known at the minimum).

        ``sum w R (R - M)`` is the reference's noise variance times the weight (the
        signal cancels in expectation), ``sum w (R - M)**2`` the sum of both.
        """
        if self.reference_part is None:
            return 0.5
        if (
            isinstance(self.residual, Series)
            and isinstance(self.reference_part, Series)
            and self.reference_part.spectrum is self.residual.spectrum
            and self.weight.is_constant
            and self.offset is None
        ):
            # Both are the cross term plus constants (residual = c - 2 T2, part = c1 - T2):
            # the residual at the minimum gives T2, so no pass over the spectrum.
            total = value * self.weight.constant
            cross = (self.residual.constant - total) / 2.0
            part = self.reference_part.constant - cross
            return float(np.clip(part / total, 0.0, 1.0)) if total > 0 else 0.5
        at = [[p] for p in point]
        orders = [(0,)] * len(point)
        total = float(self.residual.tensor(at, orders).reshape(-1)[0])
        part = float(self.reference_part.tensor(at, orders).reshape(-1)[0])
        if not total > 0:
            return 0.5
        return float(np.clip(part / total, 0.0, 1.0))


def _quotient(numerator, denominator):
    """Value, gradient and Hessian of n / d from those of n and d."""
    n, gn, hn = numerator
    d, gd, hd = denominator
    f = n / d
    gf = (gn - f * gd) / d
    hf = (hn - f * hd - np.outer(gf, gd) - np.outer(gd, gf)) / d
    return f, gf, hf


def signed_shifts(shape) -> list[np.ndarray]:
    """The shift each FFT-layout index stands for, per axis (``fftfreq * n``)."""
    return [np.fft.fftfreq(n, 1.0 / n) for n in shape]


def whole_pixel_minimum(
    surface: Surface,
    limits: np.ndarray,
    *,
    min_weight_fraction: float,
    threads=None,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The whole-pixel shift minimising the surface within ``|s| <= allowed``
    (default ``limits``), read on the shifts within ``|s| <= limits``: those beyond
    ``allowed`` (a guard) bracket a minimum on its edge for the parabola.

    Returns the shift and a parabolic estimate of the sub-pixel offset from it
    (a starting point for :func:`refine_minimum`). Shifts where the images share
    less than ``min_weight_fraction`` of the largest weight are not considered.
    """
    shifts = signed_shifts(surface.shape)
    window = None
    if not all(np.all(np.abs(v) <= limit) for v, limit in zip(shifts, limits, strict=True)):
        # Only the candidates' values are needed: a window of the grid, in
        # increasing shift along each axis.
        window = []
        for values, limit in zip(shifts, limits, strict=True):
            keep = np.flatnonzero(np.abs(values) <= limit)
            window.append(keep[np.argsort(values[keep], kind="stable")])
        shifts = [values[keep] for values, keep in zip(shifts, window, strict=True)]
    score, weight = surface.grid(threads, window)  # the score is ours to overwrite
    if weight is not None:
        # Too little overlap, or none (W can vanish): not a candidate.
        score[~(weight > min_weight_fraction * np.max(weight))] = np.inf
        score[~np.isfinite(score)] = np.inf
    index = _smallest(score, shifts, limits if allowed is None else allowed)
    if not np.isfinite(score[index]):  # the smallest is infinite: all are
        raise ValueError(
            "no shift leaves enough overlap between the images; raise max_shift or check "
            "the masks and NaN pixels."
        )
    shift = np.array([shifts[a][i] for a, i in enumerate(index)], dtype=np.float64)
    periodic = [len(values) == n for values, n in zip(shifts, surface.shape, strict=True)]
    return shift, parabolic_offset(score, index, periodic)


def _smallest(score: np.ndarray, shifts, allowed) -> tuple[int, ...]:
    """The index of ``score``'s smallest value among the shifts within ``allowed``
    (``shifts``: each axis' shift per index)."""
    keep = [
        np.flatnonzero(np.abs(values) <= bound)
        for values, bound in zip(shifts, allowed, strict=True)
    ]
    if all(len(k) == n for k, n in zip(keep, score.shape, strict=True)):
        return np.unravel_index(int(np.argmin(score)), score.shape)
    inner = score[np.ix_(*keep)]
    where = np.unravel_index(int(np.argmin(inner)), inner.shape)
    return tuple(int(k[i]) for k, i in zip(keep, where, strict=True))


def parabolic_offset(score: np.ndarray, index, periodic) -> np.ndarray:
    """Sub-pixel offset of the minimum from a parabola through each axis' neighbours
    (wrapping around the axes marked ``periodic``)."""
    offset = np.zeros(score.ndim)
    centre = score[index]
    for axis, n in enumerate(score.shape):
        if not periodic[axis] and not 0 < index[axis] < n - 1:
            continue
        before, after = list(index), list(index)
        before[axis] = (index[axis] - 1) % n
        after[axis] = (index[axis] + 1) % n
        lo, hi = score[tuple(before)], score[tuple(after)]
        curvature = lo - 2 * centre + hi
        if np.isfinite(lo) and np.isfinite(hi) and curvature > 0:
            offset[axis] = np.clip(0.5 * (lo - hi) / curvature, -0.5, 0.5)
    return offset


def refine_minimum(
    surface: Surface,
    start: np.ndarray,
    *,
    guess: np.ndarray | None = None,
    last_step: float = 1e-4,
    max_iterations: int = 30,
) -> tuple[np.ndarray, float, np.ndarray, bool]:
    """Newton's method on the continuous surface, from a whole-pixel minimum.

    Starts at ``guess`` (default ``start``); steps are limited to half a pixel,
    large ones accepted only when the surface decreases, and the search stays
    within one pixel of ``start``. Where the surface offers its third
    derivatives (read in the same pass), each step goes to the minimum of the
    cubic model, and convergence is cubic rather than quadratic.

    A step shorter than ``last_step`` (ten times that with the cubic model) is
    the last: it is taken without evaluating the surface again, since the next
    step would be of order its square (its cube). Returns the minimum, the
    value and Hessian there, and whether the Hessian is positive definite.
    """
    start = np.asarray(start, dtype=np.float64)
    point = start.copy() if guess is None else np.asarray(guess, dtype=np.float64).copy()
    value, grad, hess, third = surface.derivatives(point, third=True)
    for _ in range(max_iterations):
        step = _newton_step(grad, hess, third)
        size = np.max(np.abs(step)) if step.size else 0.0
        if size < (last_step if third is None else 10 * last_step):
            # The model's value there; the Hessian moves by a negligible
            # fraction over so short a step.
            point = np.clip(point + step, start - 1.0, start + 1.0)
            value = value + _model_change(grad, hess, third, step)
            break
        accepted = None
        for _halving in range(12):
            trial = np.clip(point + step, start - 1.0, start + 1.0)
            candidate = surface.derivatives(trial, third=True)
            # Near the minimum the values differ by round-off only: trust small
            # Newton steps, check larger ones for descent. Where the images no
            # longer overlap the surface is not finite: never a step there.
            descends = candidate[0] <= value or np.max(np.abs(step)) < 1e-3
            if np.isfinite(candidate[0]) and descends:
                accepted = trial, candidate
                break
            step = step / 2
        if accepted is None:
            break
        point, (value, grad, hess, third) = accepted
    positive = bool(np.all(np.linalg.eigvalsh(0.5 * (hess + hess.T)) > 0))
    return point, value, hess, positive


def _model_change(grad, hess, third, step) -> float:
    """Change of the local Taylor model (quadratic, or cubic with ``third``) over ``step``."""
    change = float(grad @ step + 0.5 * step @ hess @ step)
    if third is not None:
        change += float(np.einsum("ijk,i,j,k->", third, step, step, step)) / 6.0
    return change


def _newton_step(grad: np.ndarray, hess: np.ndarray, third=None) -> np.ndarray:
    sym = 0.5 * (hess + hess.T)
    try:
        eigenvalues = np.linalg.eigvalsh(sym)
    except np.linalg.LinAlgError:  # pragma: no cover - non-finite Hessian
        eigenvalues = np.array([-1.0])
    # Where the surface is not convex, move downhill by a quarter pixel per axis.
    convex = np.all(eigenvalues > 0)
    step = -np.linalg.solve(sym, grad) if convex else -0.25 * np.sign(grad)
    if convex and third is not None and np.max(np.abs(step), initial=0.0) < 0.25:
        # The stationary point of the cubic model, g + H d + T(d, d) / 2 = 0,
        # by fixed-point passes from the Newton step (a contraction for short steps).
        for _ in range(3):
            step = -np.linalg.solve(sym, grad + 0.5 * np.einsum("ijk,j,k->i", third, step, step))
    largest = np.max(np.abs(step)) if step.size else 0.0
    if largest > 0.5:
        step *= 0.5 / largest
    return step


def marginal_errors(
    hessian: np.ndarray, score_covariance: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Covariance of the minimum of a chi2 with Hessian ``H``, and the marginal 1-sigma.

    The covariance is the sandwich ``H^-1 J H^-1``, ``J`` the covariance of the
    chi2 gradient (score). For a correctly weighted chi2, ``J = 2 H`` (the
    default) and this is ``2 H^-1``: the 1-sigma of one parameter with the
    others profiled out, ``sqrt((2 H^-1)_ii)``, is where chi2 has risen by 1.
    """
    sym = 0.5 * (hessian + hessian.T)
    inverse = np.linalg.inv(sym)
    if score_covariance is None:
        covariance = 2.0 * inverse
    else:
        covariance = inverse @ (0.5 * (score_covariance + score_covariance.T)) @ inverse
    return covariance, np.sqrt(np.diag(covariance))
