"""The moving image as a cubic B-spline (TurboReg's model), for the image-space stage.

The spline's coefficients are evaluated at ``x - shift`` axis after axis (four taps
each), with their derivatives; :func:`noise_gain` gives how much the interpolation
shrinks white noise at a sub-pixel fraction, which the stage's fit must discount.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage

from ._rows import block_rows


def _beta3(x: np.ndarray) -> np.ndarray:
    """The cubic B-spline."""
    a = np.abs(x)
    return np.where(a < 1, 2 / 3 - a**2 + a**3 / 2, np.where(a < 2, (2 - a) ** 3 / 6, 0.0))


def _beta3_derivative(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    inner = -2 * a + 1.5 * a**2
    outer = -((2 - a) ** 2) / 2
    return np.sign(x) * np.where(a < 1, inner, np.where(a < 2, outer, 0.0))


def _beta3_second(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    return np.where(a < 1, -2 + 3 * a, np.where(a < 2, 2 - a, 0.0))


def _shift_axis(values, axis, shift, *, derivative, wrap):
    """Evaluate spline coefficients along one axis at ``i - shift`` (4 taps).

    Outside the image (``wrap`` False) the mirror-extended coefficients are used;
    the image-space stage gives those pixels zero weight anyway.
    """
    n = values.shape[axis]
    whole = int(np.floor(-shift))
    frac = -shift - whole
    kernel = (_beta3, _beta3_derivative, _beta3_second)[int(derivative)]
    # Pad once, then every tap is a slice (a view), not a gather.
    low = max(0, -(whole - 1))
    high = max(0, whole + 2)
    pad = [(0, 0)] * values.ndim
    pad[axis] = (low, high)
    # numpy's "reflect" is the whole-sample mirror that spline_filter(mode="mirror") assumes.
    padded = np.pad(values, pad, mode="wrap" if wrap else "reflect") if low or high else values
    out = np.zeros_like(values)
    for tap in (-1, 0, 1, 2):
        start = low + whole + tap
        index = [slice(None)] * values.ndim
        index[axis] = slice(start, start + n)
        out += float(kernel(np.asarray(frac - tap))) * padded[tuple(index)]
    return out


def _keys(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel (``a = -1/2``): interpolating, four taps, no prefilter."""
    a = np.abs(x)
    inner = 1.5 * a**3 - 2.5 * a**2 + 1
    outer = -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2
    return np.where(a < 1, inner, np.where(a < 2, outer, 0.0))


def _evaluate(
    coefficients, shift, orders, *, wrap, kernels=(_beta3, _beta3_derivative, _beta3_second)
):
    """The spline's derivatives of the given orders (one tuple per axis) at ``x - shift``.

    Evaluation is separable, axis after axis; results that share their leading
    orders share those passes (the value, the gradient and the curvatures of a
    2-D image take 7 passes instead of 12). The coefficients are padded once on
    every axis, so each pass is four slices of its input.
    """
    padded, taps = _padded(coefficients, shift, wrap=wrap)
    # A loop, not a recursive closure: a closure that calls itself is a reference
    # cycle, which would keep every pass (each the image's size) alive until the
    # garbage collector's next round rather than until the return.
    passes = {(): padded}
    for order in orders:
        for axis, kernel in enumerate(order):
            key = tuple(order[: axis + 1])
            if key not in passes:
                passes[key] = _taps(passes[key[:-1]], axis, *taps[axis], kernels[kernel])
    return {order: passes[tuple(order)] for order in orders}


def _padded(coefficients, shift, *, wrap):
    """``coefficients`` padded on every axis as far as the taps at ``x - shift`` reach,
    and each axis' ``(first, length, fraction)``: the padded index of the first
    output's first tap, the output's length and the fraction of a pixel."""
    wholes = [int(np.floor(-s)) for s in shift]
    lows = [max(0, 1 - w) for w in wholes]
    highs = [max(0, w + 2) for w in wholes]
    padded = np.pad(
        coefficients, list(zip(lows, highs, strict=True)), mode="wrap" if wrap else "reflect"
    )
    taps = [
        (low + whole - 1, n, -s - whole)
        for low, whole, n, s in zip(lows, wholes, coefficients.shape, shift, strict=True)
    ]
    return padded, taps


def _taps(values, axis, first, n, fraction, kernel):
    """The four taps of ``kernel`` at ``fraction`` along ``axis``: ``n`` outputs, the
    first reading ``values`` from index ``first`` on."""
    weights = kernel(fraction - np.arange(-1.0, 3.0)).tolist()  # keep the dtype
    out = scratch = None
    for tap, weight in enumerate(weights):
        index = [slice(None)] * values.ndim
        index[axis] = slice(first + tap, first + tap + n)
        if out is None:
            out = values[tuple(index)] * weight
            scratch = np.empty_like(out)
        else:
            out += np.multiply(values[tuple(index)], weight, out=scratch)
    return out


@functools.cache
def _noise_gain_table(samples: int = 257, length: int = 64):
    """Variance gain of cubic-spline interpolation of white noise, against the fraction.

    Interpolating white noise of unit variance at a fraction ``f`` of a pixel gives
    variance ``k(f) = sum_j h_f[j]^2`` (1 at ``f = 0``, about 0.6 at ``f = 1/2``
    for the interpolating cubic spline), with ``h_f`` the cardinal spline's
    weights. Tabulated from the impulse response; a residual of an interpolated
    noisy image therefore has less variance between pixels than on them, and a
    least-squares fit that ignored it would be pulled to half-pixel shifts.
    """
    fractions = np.linspace(0.0, 1.0, samples)
    impulse = np.zeros(length)
    impulse[length // 2] = 1.0
    coefficients = ndimage.spline_filter1d(impulse, order=3, mode="grid-wrap")
    gains = np.array(
        [
            np.sum(_shift_axis(coefficients, 0, f, derivative=False, wrap=True) ** 2)
            for f in fractions
        ]
    )
    return fractions, gains


def noise_gain(shift):
    """``K(s) = prod k(frac(s_axis))`` and its gradient (see :func:`_noise_gain_table`)."""
    fractions, gains = _noise_gain_table()
    step = fractions[1] - fractions[0]
    frac = np.mod(shift, 1.0)
    k = np.interp(frac, fractions, gains)
    dk = (
        np.interp(frac + step, fractions, gains, period=1.0)
        - np.interp(frac - step, fractions, gains, period=1.0)
    ) / (2 * step)
    total = float(np.prod(k))
    gradient = np.array([total / k[i] * dk[i] for i in range(len(k))])
    return total, gradient


def _gradient_orders(ndim):
    return [tuple(int(axis == k) for axis in range(ndim)) for k in range(ndim)]


def spline_model(coefficients, shift, *, wrap):
    """``moving(x - shift)`` and its derivatives along each axis, from the coefficients."""
    ndim = coefficients.ndim
    zero = (0,) * ndim
    gradient_orders = _gradient_orders(ndim)
    values = _evaluate(coefficients, shift, [zero, *gradient_orders], wrap=wrap)
    return values[zero], [values[o] for o in gradient_orders]


def tap_weights(phase: float) -> list[float]:
    """The cubic B-spline's weights on the coefficients at ``x - 2 .. x + 1`` for its
    value at ``x - phase`` (``0 <= phase < 1``)."""
    return [float(w) for w in _beta3(-phase - np.arange(-2.0, 2.0))]


def keys_weights(phase: float) -> np.ndarray:
    """Keys' cubic weights on the samples at ``x - 2 .. x + 1`` for its value at
    ``x - phase`` (``0 <= phase < 1``)."""
    return _keys(-phase - np.arange(-2.0, 2.0))


def keys_shift(image, shift, *, wrap):
    """``image(x - shift)`` by Keys' cubic convolution, one pass per axis in the
    image's precision: a local cubic (its error a few times the spline's at sharp
    features) without the spline's prefilter, whose recursive passes cost most.
    A block of rows at a time: every pass of a block reads it from cache."""
    padded, taps = _padded(image, shift, wrap=wrap)
    first, n, fraction = taps[0]
    out = None
    step = block_rows(image)
    for start in range(0, n, step):
        rows = min(step, n - start)
        block = _taps(padded, 0, first + start, rows, fraction, _keys)
        for axis in range(1, image.ndim):
            block = _taps(block, axis, *taps[axis], _keys)
        if out is None:
            out = np.empty(image.shape, dtype=block.dtype)
        out[start : start + rows] = block
    return out


def spline_shift(image, shift, *, wrap):
    """``image(x - shift)`` by the cubic B-spline: its coefficients, then one pass per
    axis (in the image's precision)."""
    coefficients = ndimage.spline_filter(
        image, order=3, output=image.dtype, mode="grid-wrap" if wrap else "mirror"
    )
    zero = (0,) * image.ndim
    return _evaluate(coefficients, shift, [zero], wrap=wrap)[zero]


def spline_jet(coefficients, shift, *, wrap):
    """:func:`spline_model`'s value and gradients, and the second derivatives
    ``d2 moving / dx_k dx_l`` at ``x - shift`` keyed ``(k, l)``, k <= l, in one
    evaluation (they share their passes)."""
    ndim = coefficients.ndim
    zero = (0,) * ndim
    gradient_orders = _gradient_orders(ndim)
    keys = [(k, m) for k in range(ndim) for m in range(k, ndim)]
    orders = [tuple((axis == k) + (axis == m) for axis in range(ndim)) for k, m in keys]
    values = _evaluate(coefficients, shift, [zero, *gradient_orders, *orders], wrap=wrap)
    curvatures = {key: values[order] for key, order in zip(keys, orders, strict=True)}
    return values[zero], [values[o] for o in gradient_orders], curvatures
