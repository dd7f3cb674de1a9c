"""Correlations with the overlap mode's separable taper, at any shift, without an FFT.

Only the cross term of chi-squared needs the detail of both images; the others correlate
one image with the other's taper, which differs from one only in a band at each end of an
axis, so they are summed over those bands alone, exactly at any sub-pixel shift. The
expansion: docs/how-it-works.md, "The taper (overlap mode)".
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np

from ._chi2 import Term, outer_product, series_kernels
from ._rows import block_rows

__all__ = ["Taper", "TaperCorrelation", "TaperOverlap"]

#: Pixels past the ramp over which an interpolated taper's ripples are summed.
RIPPLE = 32


@dataclass(frozen=True)
class Taper:
    """The weight profile of one axis of length ``n``: zero over ``margin`` pixels
    at each end, then a raised-cosine ramp over ``width`` pixels, then one.

    As a function of a continuous position ``u``, the ramp is
    ``(1 - cos(pi v / width)) / 2`` with ``v = u - margin + 1/2``; pixel ``margin + i``
    of the ramp has weight ``(1 - cos(pi (i + 1/2) / width)) / 2``.

    With a ``period``, the taper between pixels is instead the trigonometric
    interpolant of those samples, zero-padded to ``period``: what a correlation
    computed by FFTs of that size sees. Terms summed with it then agree with a
    cross term from such FFTs; the raised cosine differs from that interpolant
    by what its spectrum leaks past Nyquist, times the image's level at the edges.
    Its ripples beyond the ramp are left out past ``RIPPLE`` pixels.
    """

    n: int
    width: int
    margin: int = 0
    period: int | None = None

    @classmethod
    def for_axis(cls, n: int, width: int, margin: int = 0) -> Taper:
        """The taper of an axis: margin and ramp ``width`` pixels long together, the
        ramp at most a quarter of the axis."""
        return cls(n, max(1, min(width - margin, n // 4)), margin)

    @property
    def start(self) -> float:
        """Where the low ramp begins (the weight is zero below)."""
        return self.margin - 0.5

    @functools.cached_property
    def _samples(self) -> np.ndarray:
        samples = 1.0 - self._raised_cosine(np.arange(self.n, dtype=np.float64), (0,))[0]
        samples.setflags(write=False)
        return samples

    @functools.cached_property
    def _spectrum(self) -> np.ndarray:
        return np.fft.rfft(self._samples, n=self.period)

    def samples(self) -> np.ndarray:
        """The weight at each pixel (read-only)."""
        return self._samples

    def complement(self, u, orders=(0,)) -> list[np.ndarray]:
        """The derivatives of ``1 - t`` of each of ``orders`` at positions ``u``: one
        outside the image and zero inside for order 0, zero beyond the ramps for
        the others (up to the interpolant's ripples, with a ``period``)."""
        u = np.asarray(u, dtype=np.float64)
        if self.period is None:
            return self._raised_cosine(u, orders)
        return self._interpolated(u, orders)

    def complement_moved(self, pixels, shifts, orders=(0,)) -> list[np.ndarray]:
        """:meth:`complement` at ``pixels - s`` (rows) for each of ``shifts``.

        With a ``period``, each shift's fraction of a pixel is taken once, as exact
        arithmetic has it: the positions ``pixels - s`` themselves round it a little
        differently at each pixel, and each rounding would cost its own transform.
        """
        pixels = np.asarray(pixels)
        shifts = np.asarray(shifts, dtype=np.float64).reshape(-1)
        if self.period is None:
            return self._raised_cosine(pixels[None, :] - shifts[:, None], orders)
        pairs = zip(self.interpolant_moved(pixels, shifts, orders), orders, strict=True)
        return [(1.0 - part) if order == 0 else -part for part, order in pairs]

    def interpolant_moved(self, pixels, shifts, orders) -> np.ndarray:
        """``values[order, shift, pixel]``: the derivatives of a periodic taper's
        interpolant (not its complement) at ``pixels - s`` for each of ``shifts``, a
        new C-ordered array (the products the kernels take part in depend on their
        layout); see :meth:`complement_moved`."""
        whole = np.floor(-shifts)
        which = np.arange(shifts.size)[:, None]
        at = pixels[None, :] + whole.astype(np.intp)[:, None]
        fractions = -shifts - whole
        values = _shifted_interpolants(self, tuple(fractions.tolist()), tuple(orders))
        return np.ascontiguousarray(values[:, which, at % self.period])

    def _interpolated(self, u: np.ndarray, orders) -> list[np.ndarray]:
        """:meth:`complement` from the interpolant of the samples: each fraction of a
        pixel in ``u`` shifts the spectrum, and one batch of inverse FFTs gives every
        order at every pixel plus that fraction."""
        whole = np.floor(u)
        fraction = u - whole
        if fraction.size and np.all(fraction == fraction.flat[0]):
            # One fraction throughout (what np.unique would find), without its sort.
            fractions, which = fraction.reshape(-1)[:1], np.zeros(u.shape, dtype=np.intp)
        else:
            fractions, which = np.unique(fraction, return_inverse=True)
        return self._picked(whole.astype(np.intp), which.reshape(u.shape), fractions, orders)

    def _picked(self, whole, which, fractions, orders) -> list[np.ndarray]:
        """The derivatives of ``1 - t`` at the whole pixels ``whole`` plus the
        fractions ``fractions[which]``, from the interpolant of the samples."""
        values = _shifted_interpolants(self, tuple(fractions.tolist()), tuple(orders))
        picked = values[:, which, whole % self.period]
        pairs = zip(picked, orders, strict=True)
        return [(1.0 - part) if order == 0 else -part for part, order in pairs]

    def _raised_cosine(self, u: np.ndarray, orders) -> list[np.ndarray]:
        """:meth:`complement` of the raised cosine: all orders from one cosine and
        one sine of each ramp."""
        rate = np.pi / self.width
        out = [np.zeros(u.shape) for _ in orders]
        for mirrored in (False, True):
            v = (self.n - 1 - u if mirrored else u) - self.start
            phase = rate * np.clip(v, 0.0, self.width)  # 1 below the ramp, 0 above
            cos, sin = np.cos(phase), np.sin(phase)
            inside = (v > 0) & (v < self.width)
            for values, order in zip(out, orders, strict=True):
                # d^o/dv^o of (1 + cos(rate v)) / 2; d/du = -d/dv on the mirrored ramp.
                if order == 0:
                    values += 0.5 * (1.0 + cos)
                    continue
                wave = (cos, -sin, -cos, sin)[order % 4]
                term = (0.5 * rate**order) * wave * inside
                values += -term if (mirrored and order % 2) else term
        return out

    def band(self, low: float, high: float) -> tuple[int, int]:
        """``(first, last)``: the pixels ``x < first`` and ``x >= last`` are those where
        ``1 - t(x - s)`` can be non-zero for ``low <= s <= high``."""
        reach = self.start + self.width + (0 if self.period is None else RIPPLE)
        first = min(self.n, max(0, math.ceil(reach + high)))
        last = max(first, min(self.n, math.floor(self.n - 1 - reach + low) + 1))
        return first, last


@functools.lru_cache(maxsize=64)
def _shifted_interpolants(taper: Taper, fractions: tuple, orders: tuple) -> np.ndarray:
    """``values[order, fraction, pixel]``: the derivative of each order of a periodic
    taper's interpolant at each pixel plus each fraction, over one period. Cached
    and read-only: the terms of one surface ask for the same shifts."""
    period = taper.period
    k = np.arange(period // 2 + 1)
    shifted = taper._spectrum * np.exp((2j * np.pi / period) * np.outer(fractions, k))
    factors = _derivative_factors(period, orders)
    values = np.fft.irfft(factors[:, None, :] * shifted[None, :, :], n=period, axis=-1)
    values.setflags(write=False)
    return values


@functools.lru_cache(maxsize=16)
def _derivative_factors(period: int, orders: tuple) -> np.ndarray:
    """``(2 pi i k / period) ** order`` for each of ``orders`` (rows) on the half
    spectrum's frequencies ``k``, read-only: every shift of one period asks again."""
    k = np.arange(period // 2 + 1)
    factors = np.stack([(2j * np.pi * k / period) ** order for order in orders])
    factors.setflags(write=False)
    return factors


@functools.lru_cache(maxsize=64)
def _interpolated_overlap(taper: Taper, positions: tuple, orders: tuple) -> np.ndarray:
    """``sum_x t(x) t(x - s)`` along a periodic taper's axis and its derivatives of each
    of ``orders`` (rows, orders slowest) at ``s = positions``: the interpolated
    autocorrelation of the samples, a series on ``|T|**2``. Cached and read-only:
    Newton's passes and the terms of one surface ask at the same shifts."""
    kernel = series_kernels(taper.period, positions, True, orders)
    profile = (kernel @ np.abs(taper._spectrum) ** 2).real
    profile.setflags(write=False)
    return profile


@functools.lru_cache(maxsize=64)
def _pixels(n: int, band: tuple[int, int]) -> np.ndarray:
    """The pixels of an axis of ``n`` outside ``band`` (read-only)."""
    first, last = band
    pixels = np.r_[0:first, last:n]
    pixels.setflags(write=False)
    return pixels


@functools.lru_cache(maxsize=64)
def _kernel(taper: Taper, band: tuple[int, int], positions: tuple, orders: tuple, sign: int):
    """Rows ``(order, position)`` (orders slowest), columns the pixels of ``band``: the
    derivative of ``1 - t(x - sign * s)`` with respect to ``s``, at ``s = position``.
    Cached and read-only: the terms of one surface are evaluated at the same shifts."""
    pixels, shifts = _pixels(taper.n, band), sign * np.asarray(positions, dtype=np.float64)
    if taper.period is None:
        parts = zip(orders, taper.complement_moved(pixels, shifts, orders), strict=True)
        kernel = np.concatenate([(-sign) ** o * part for o, part in parts])
    else:
        # The complement's rows made in place: 1 - v for order 0, and for the others
        # (-sign)**o times -v, which is -v or v (a product by +-1 is exact).
        values = taper.interpolant_moved(pixels, shifts, orders)
        for row, order in zip(values, orders, strict=True):
            if order == 0:
                np.subtract(1.0, row, out=row)
            elif (-sign) ** order == 1:
                np.negative(row, out=row)
        kernel = values.reshape(-1, pixels.size)
    kernel.setflags(write=False)
    return kernel


def _gathered(array: np.ndarray, pixels, *, first_axis: int = 0) -> np.ndarray:
    """``array`` at the outer product of ``pixels`` (one index array per axis from
    ``first_axis`` on), gathered one axis at a time and only along the axes whose
    band leaves pixels out (a view of ``array`` when none does): a volume's bands
    often cover whole axes, and gathering it at once costs several times a copy."""
    for axis, index in enumerate(pixels, start=first_axis):
        if index.size < array.shape[axis]:
            array = np.take(array, index, axis=axis)
    return array


def _weighted_power(data: np.ndarray, rows: np.ndarray, power: int, profiles) -> np.ndarray:
    """``data[rows] ** power`` times the outer product of ``profiles`` (one per axis),
    a new array made in blocks of rows that stay in cache (one pass over ``data``)."""
    out = np.empty((rows.size, *data.shape[1:]))
    shapes = [[-1 if a == axis else 1 for a in range(data.ndim)] for axis in range(data.ndim)]
    step = block_rows(out)
    for start in range(0, rows.size, step):
        block = out[start : start + step]
        np.power(data[rows[start : start + step]], power, out=block)
        block *= profiles[0][start : start + step].reshape(shapes[0])
        for axis in range(1, data.ndim):
            block *= profiles[axis].reshape(shapes[axis])
    return out


def _key(positions) -> tuple:
    return tuple(float(p) for p in np.ravel(positions))


def _constant_rows(positions, orders) -> np.ndarray:
    """The derivative table of a constant one: 1 in the order-0 rows (read-only)."""
    return _constant_table(len(positions), tuple(orders))


@functools.lru_cache(maxsize=16)
def _constant_table(count: int, orders: tuple) -> np.ndarray:
    table = np.concatenate([np.full(count, 1.0 if o == 0 else 0.0) for o in orders])
    table.setflags(write=False)
    return table


class TaperCorrelation(Term):
    """``scale * sum_x w(x) X(x)**power prod_a t_a(x_a - sign * s_a)`` for shifts ``s``
    within ``reach``: the taper of the other image shifted by ``sign * s`` over this one.

    ``w`` is this image's own taper (the same profiles). ``sign = +1`` gives
    ``corr(w X**power, t)(s)``, ``sign = -1`` gives ``corr(t, w X**power)(s)``.
    ``reach`` (one ``(low, high)`` pair per axis) bounds the shifts that will be
    asked for: only the taper's bands for those are read from ``X``.
    """

    def __init__(self, marginals: Marginals, tapers, *, sign: int, reach, scale: float = 1.0):
        self.tapers = list(tapers)
        self.sign = sign
        self.scale = scale
        self.reach = [(float(lo), float(hi)) for lo, hi in reach]
        ndim = len(self.tapers)
        self._edges = [
            t.band(*sorted((sign * lo, sign * hi)))
            for t, (lo, hi) in zip(self.tapers, reach, strict=True)
        ]
        self._pixels = [_pixels(t.n, e) for t, e in zip(self.tapers, self._edges, strict=True)]
        # Each sum is read on the bands of its axes alone; the full set of axes
        # needs the weighted image itself there.
        self.sums = {
            axes: _gathered(np.asarray(summed), [self._pixels[a] for a in axes])
            for axes, summed in marginals.sums.items()
        }
        profiles = [
            taper.samples()[band] for taper, band in zip(self.tapers, self._pixels, strict=True)
        ]
        self.sums[tuple(range(ndim))] = _weighted_power(
            _gathered(marginals.data, self._pixels[1:], first_axis=1),
            self._pixels[0],
            marginals.power,
            profiles,
        )

    @property
    def is_constant(self) -> bool:
        return False

    def tensor(self, positions, orders) -> np.ndarray:
        ndim = len(self.tapers)
        keys = [_key(p) for p in positions]
        for axis, key in enumerate(keys):
            lo, hi = self.reach[axis]
            if any(math.isnan(v) for v in key):  # np.min's NaN, which passed the check
                continue
            if min(key) < lo - 1e-9 or max(key) > hi + 1e-9:
                raise RuntimeError(f"shift {key} along axis {axis} is beyond the reach {lo, hi}")
        constants = [_constant_rows(p, o) for p, o in zip(positions, orders, strict=True)]
        kernels = [
            _kernel(taper, band, key, tuple(o), self.sign)
            for taper, band, key, o in zip(self.tapers, self._edges, keys, orders, strict=True)
        ]
        sums = self.sums
        if ndim == 2:  # images: the four sums written out (the loop below, without its overhead)
            (k0, k1), (c0, c1) = kernels, constants
            # Outer products by broadcasting (np.outer's products, without its checks).
            out = float(sums[()]) * (c0[:, None] * c1)
            out -= (k0 @ sums[(0,)])[:, None] * c1
            out -= c0[:, None] * (k1 @ sums[(1,)])
            out += k0 @ sums[(0, 1)] @ k1.T
            return out * self.scale
        out = np.zeros([c.size for c in constants])
        for axes, summed in sums.items():
            term = summed
            for position, axis in enumerate(axes):
                contracted = np.tensordot(kernels[axis], term, axes=([1], [position]))
                term = np.moveaxis(contracted, 0, position)
            # Axes not in the set contribute the constant one.
            term = np.reshape(
                term, [term.shape[axes.index(a)] if a in axes else 1 for a in range(ndim)]
            )
            for axis in range(ndim):
                if axis not in axes:
                    term = term * constants[axis].reshape(
                        [-1 if a == axis else 1 for a in range(ndim)]
                    )
            out += (-1) ** len(axes) * term
        return out * self.scale


@dataclass
class Marginals:
    """``w X**power`` summed over every proper subset of axes, ``w`` the separable
    taper: ``sums[S]`` keeps the axes ``S`` (its own weight applied along them)."""

    data: np.ndarray
    power: int
    sums: dict

    @classmethod
    def of(cls, data: np.ndarray, power: int, tapers) -> Marginals:
        ndim = data.ndim
        profiles = [t.samples() for t in tapers]
        raw = _single_axis_sums(data, power, profiles)
        # Smaller sets from larger ones (arrays of one dimension less each time).
        for size in range(ndim - 2, -1, -1):
            for axes in itertools.combinations(range(ndim), size):
                parent_axis = next(a for a in range(ndim) if a not in axes)
                parent = tuple(sorted((*axes, parent_axis)))
                position = parent.index(parent_axis)
                raw[axes] = np.tensordot(
                    raw[parent], profiles[parent_axis], axes=([position], [0])
                )
        sums = {}
        for axes, values in raw.items():
            values = np.array(values, dtype=np.float64)
            for position, axis in enumerate(axes):
                shape = [1] * len(axes)
                shape[position] = -1
                values = values * profiles[axis].reshape(shape)
            sums[axes] = values
        return cls(data, power, sums)

    @classmethod
    def from_spectrum(cls, data: np.ndarray, spectrum: np.ndarray, padded) -> Marginals:
        """:meth:`of` with ``power=1``, read from the ``rfftn`` spectrum of the tapered
        image zero-padded to ``padded``: a sum over axes is the zero frequency of
        those axes, so each sum is a small inverse transform of one slice."""
        ndim = data.ndim
        sums = {}
        for size in range(ndim):
            for axes in itertools.combinations(range(ndim), size):
                index = tuple(slice(None) if a in axes else 0 for a in range(ndim))
                values = spectrum[index]
                if not axes:
                    values = values.real
                elif ndim - 1 in axes:
                    values = np.fft.irfftn(
                        values, s=[padded[a] for a in axes], axes=tuple(range(len(axes)))
                    )
                else:
                    values = np.fft.ifftn(values).real
                sums[axes] = values[tuple(slice(0, data.shape[a]) for a in axes)]
        return cls(data, 1, sums)

    @property
    def total(self) -> float:
        """``sum w X**power``."""
        return float(self.sums[()])


def _single_axis_sums(data: np.ndarray, power: int, profiles) -> dict:
    """``sum_{x_a} t_a(x_a) X**power`` for each axis ``a``, keyed by the axes kept.

    One pass over the data in blocks of rows, each raised to ``power`` while it
    is in cache.
    """
    ndim = data.ndim
    first = np.zeros(data.shape[1:])
    others = {
        axis: np.empty([n for a, n in enumerate(data.shape) if a != axis])
        for axis in range(1, ndim)
    }
    rows = block_rows(data)
    for start in range(0, data.shape[0], rows):
        stop = start + rows
        block = data[start:stop].astype(np.float64, copy=False) ** power
        first += np.tensordot(profiles[0][start:stop], block, axes=([0], [0]))
        for axis, out in others.items():
            out[start:stop] = np.tensordot(block, profiles[axis], axes=([axis], [0]))
    raw = {tuple(range(1, ndim)): first}
    for axis, out in others.items():
        raw[tuple(a for a in range(ndim) if a != axis)] = out
    return raw


class TaperOverlap(Term):
    """``W(s) = sum_x t(x) t(x - s)``: the weight the two images share at shift ``s``,
    a product of one function per axis."""

    def __init__(self, tapers):
        self.tapers = list(tapers)

    @property
    def is_constant(self) -> bool:
        return False

    def tensor(self, positions, orders) -> np.ndarray:
        profiles = []
        for taper, p, o in zip(self.tapers, positions, orders, strict=True):
            if taper.period is not None:
                profiles.append(_interpolated_overlap(taper, _key(p), tuple(o)))
                continue
            weight = taper.samples()
            # sum_x t(x) (1 - e(x - s)), and its derivatives in s.
            everything = (taper.n, taper.n)  # no pixel is left out
            kernel = _kernel(taper, everything, _key(p), tuple(o), 1)
            profiles.append(weight.sum() * _constant_rows(p, o) - kernel @ weight)
        out = outer_product(profiles)
        return out if out.flags.writeable else out.copy()  # one axis: the cached profile
