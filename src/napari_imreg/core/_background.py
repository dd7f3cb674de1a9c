"""Whether two registered images' backgrounds differ by a tilt: the test that escalates
the default brightness fit to ``"scale+offset+tilt"`` (issue 14).

A ramp that one image has and the other has not is no gain and no offset: the
default fit leaves it in the residual ``R - g M' - c``, where it pulls the shift
(the ramp correlates with the scene's gradients). The test asks the residual at the
shift found whether it holds a plane:

* the residual is cut into blocks, about ``sqrt(n)`` per axis of ``n`` pixels, and
  each block is summarised by its median (a hot pixel or a streak the outlier stage
  clipped does not move it) and by the mean of the aligned moving image there;
* the block medians are regressed on ``(1, moving, d moving / d x_1 .. d x_ndim,
  x_1 .. x_ndim)``: the moving image's column takes up what a better gain or a
  brightness-dependent noise leaves (without it, real scenes whose brightness has a
  large-scale trend look tilted), and its gradients what a shift slightly off
  leaves, ``-g grad(M') . delta`` (without them, on a smooth scene, whose gradient
  field is itself nearly a plane, the shift's own error looks tilted);
* the slopes' covariance is the sandwich (heteroscedasticity-consistent, HC3) one
  over the blocks: a block holding sharp structure carries more misfit than a flat one,
  and the misfit of neighbouring pixels is correlated, which the block medians
  average over (the blocks are longer than the residual's correlation);
* the slopes' Wald statistic over ``ndim`` is an F statistic with ``(ndim, K - p)``
  degrees of freedom (``K`` blocks, ``p = 2 ndim + 2`` columns); the tilt is
  significant when its p-value is below :data:`ALPHA`.

No constant is fitted to images: ``ALPHA`` is the false-alarm rate the test is
built for. On the real scenes of ``benchmarks/real_accuracy.py`` (SNR 3-100,
Gaussian and Poisson noise) it fired on 2 of 152 clean pairs, and on 21-24 of 24
pairs given a ramp of 0.03-1 scene std across the image (docs/robustness.md).
"""

from __future__ import annotations

import numpy as np
import scipy.special

from ._filter import gradients
from ._outliers import folded, reached
from ._sampling import SAMPLE
from ._spline_model import _keys, keys_shift

__all__ = ["ALPHA", "ResidualBlocks", "slopes_p_value", "tilt_p_value"]

#: The false-alarm probability of the test: a clean pair is re-registered with the
#: tilt (a cost in time, not in accuracy) this often.
ALPHA = 1e-3


def _blocks(values: np.ndarray, per_axis) -> np.ndarray:
    """``values`` cut into ``per_axis`` equal blocks along each axis (the remainder of
    each axis, split between its ends, left out): ``(K, pixels per block)``."""
    index = []
    for n, k in zip(values.shape, per_axis, strict=True):
        side = n // k
        start = (n - side * k) // 2
        index.append(slice(start, start + side * k))
    trimmed = values[tuple(index)]
    shape = []
    for n, k in zip(trimmed.shape, per_axis, strict=True):
        shape += [k, n // k]
    ndim = values.ndim
    split = trimmed.reshape(shape)
    order = [2 * a for a in range(ndim)] + [2 * a + 1 for a in range(ndim)]
    return split.transpose(order).reshape(int(np.prod(per_axis)), -1)


def _medians(rows: np.ndarray) -> np.ndarray:
    """The median of each row's finite values (``np.nanmedian``'s answer, from one sort
    of the rows: NaN sorts last)."""
    ordered = np.sort(rows, axis=1)
    count = np.count_nonzero(np.isfinite(rows), axis=1)
    index = np.arange(len(rows))
    return 0.5 * (ordered[index, (count - 1) // 2] + ordered[index, count // 2])


def _keys_on_lattice(image: np.ndarray, shift, lattice, *, wrap: bool) -> np.ndarray:
    """``image(x - shift)`` by Keys' cubic convolution (as :func:`keys_shift`) at the
    points ``x`` of ``lattice`` (one array of indices per axis), axis after axis:
    the cost goes with the lattice, not with the image. Outside the image the
    image is mirrored (whole-sample), or periodic with ``wrap``."""
    out = image
    for axis, (points, s) in enumerate(zip(lattice, shift, strict=True)):
        n = image.shape[axis]
        source = points - s
        base = np.floor(source).astype(int)
        phase = float(source[0] - base[0]) if points.size else 0.0
        weights = _keys(phase - np.arange(-1.0, 3.0))
        total = 0.0
        for tap, weight in zip((-1, 0, 1, 2), weights, strict=True):
            taken = np.take(out, folded(base + tap, n, wrap=wrap), axis=axis)
            total = total + float(weight) * taken
        out = total
    return out


def tilt_p_value(ref, mov, invalid, shift, scale: float, wrap: bool) -> float:
    """The p-value of "the residual at ``shift`` holds no plane" (see the module
    docstring): small when the images' backgrounds differ by a tilt.

    Parameters
    ----------
    ref, mov : numpy.ndarray
        The images as registered (the core's units).
    invalid : pair of numpy.ndarray of bool
        The pixels of each image that are left out (masked or not finite).
    shift : array_like
        The shift found (registers ``mov`` onto ``ref``).
    scale : float
        The fitted gain (``ref ~ scale * mov + offset``; the offset is the
        regression's intercept).
    wrap : bool
        Whether the images are periodic.

    Returns
    -------
    float
        The p-value; 1.0 when there are too few blocks to test (an axis too short,
        or too much of the overlap masked).

    Notes
    -----
    Images over :data:`SAMPLE` pixels are read on a lattice of every ``k``-th pixel
    per axis, ``k`` the smallest that keeps it within ``SAMPLE`` pixels: the blocks
    are the same, each summarised from fewer of its pixels.
    """
    return ResidualBlocks(ref, mov, invalid, shift, scale, wrap).tilt_p_value()


class ResidualBlocks:
    """The residual ``ref - scale * mov(x - shift)`` at a shift, cut into blocks of
    about ``sqrt(n)`` per axis and summarised by each block's median, on the lattice
    of :func:`tilt_p_value`'s Notes; and the block means of what a regression of the
    medians takes as its columns (see the module docstring).

    Attributes
    ----------
    lattice : list of numpy.ndarray
        The reference pixels read along each axis.
    aligned : numpy.ndarray
        The moving image at ``shift`` on the lattice (Keys' cubic convolution).
    medians : numpy.ndarray
        The median of each block holding at least half its pixels valid.
    """

    def __init__(self, ref, mov, invalid, shift, scale: float, wrap: bool):
        shift = np.asarray(shift, dtype=np.float64)
        ndim = ref.ndim
        stride = max(1, int(np.ceil((ref.size / SAMPLE) ** (1.0 / ndim) - 1e-9)))
        self.lattice = [np.arange((n % stride) // 2, n, stride) for n in ref.shape]
        at = np.ix_(*self.lattice)
        ref_invalid, mov_invalid = invalid
        self.valid = (~ref_invalid & reached(mov_invalid, shift, wrap=wrap))[at]
        # Pixels left out take any finite value: no valid residual reads them.
        moving = np.where(mov_invalid, 0.0, mov) if mov_invalid.any() else mov
        if stride == 1:
            self.aligned = keys_shift(moving, shift, wrap=wrap)
        else:
            self.aligned = _keys_on_lattice(moving, shift, self.lattice, wrap=wrap)
        self.residual = np.where(self.valid, ref[at] - scale * self.aligned, np.nan)
        self._per_axis = [
            max(1, min(len(points), round(float(np.sqrt(n)))))
            for n, points in zip(ref.shape, self.lattice, strict=True)
        ]
        cut = _blocks(self.residual, self._per_axis)
        self._enough = np.count_nonzero(np.isfinite(cut), axis=1) * 2 >= cut.shape[1]
        self.medians = _medians(cut[self._enough])
        self._where = _blocks(self.valid, self._per_axis)[self._enough]
        self._count = self._where.sum(axis=1)

    def tilt_p_value(self) -> float:
        """:func:`tilt_p_value` of the residual these blocks cut."""
        columns = self.shift_columns() + [self.means(c) for c in self.coordinates()]
        return slopes_p_value(np.array(columns).T, self.medians, len(self.lattice))

    def means(self, values: np.ndarray) -> np.ndarray:
        """The mean of ``values`` (on the lattice) over each block's valid pixels."""
        cut = _blocks(values, self._per_axis)[self._enough]
        return np.sum(cut * self._where, axis=1) / self._count

    def coordinates(self) -> list[np.ndarray]:
        """Each axis's pixel coordinate on the lattice (broadcast to its shape)."""
        ndim = len(self.lattice)
        return [
            np.broadcast_to(
                points.astype(np.float64).reshape([-1 if a == axis else 1 for a in range(ndim)]),
                self.valid.shape,
            )
            for axis, points in enumerate(self.lattice)
        ]

    def shift_columns(self) -> list[np.ndarray]:
        """The block means of the aligned image and of its gradients: what a better
        gain and a shift slightly off leave, ``-g grad(M') . delta`` (without them, the
        residual of a slightly wrong shift on a smooth scene, a gradient field, reads
        as a tilt)."""
        return [self.means(self.aligned)] + [self.means(g) for g in gradients(self.aligned)]


def slopes_p_value(regressors: np.ndarray, medians: np.ndarray, tested: int) -> float:
    """The F test's p-value that the last ``tested`` of ``regressors`` (with an
    intercept) have no slope in ``medians``, with the sandwich covariance."""
    blocks, columns = regressors.shape[0], regressors.shape[1] + 1
    # As many blocks left over as the slopes tested, at least, for the F distribution.
    if blocks - columns < max(tested, 2) or not np.all(np.isfinite(regressors)):
        return 1.0
    design = np.column_stack([np.ones(blocks), regressors - regressors.mean(axis=0)])
    bread = np.linalg.pinv(design.T @ design)
    coefficients = bread @ design.T @ medians
    misfit = medians - design @ coefficients
    # HC3: each block's misfit scaled by its leverage. A few blocks of steep gradient
    # pull the fit towards themselves and leave little misfit; unscaled (HC0/HC1), the
    # slopes' variance comes out too small and the test fires too often.
    leverage = np.einsum("ij,jk,ik->i", design, bread, design)
    scaled = misfit / np.maximum(1.0 - leverage, 1e-12)
    meat = (design * scaled[:, None] ** 2).T @ design
    covariance = (bread @ meat @ bread)[-tested:, -tested:]
    slopes = coefficients[-tested:]
    try:
        wald = float(slopes @ np.linalg.solve(covariance, slopes))
    except np.linalg.LinAlgError:
        return 1.0
    if not np.isfinite(wald):
        return 1.0
    return float(scipy.special.fdtrc(tested, blocks - columns, wald / tested))
