"""A smooth gain field between the images (issue 13): vignetting or an uncorrected
illumination field in one image, or illumination that differs between frames.

The brightness fit of the chi2 stage holds one gain, an offset and (escalated by
:mod:`._background`) a tilt: ``R ~ g M' + c (+ t . x)``. A gain that varies smoothly
over the image, ``R ~ M' (g + p(x)) + c``, is none of these: ``M' p(x)`` is the
moving image's structure times a smooth field, and left in the residual it pulls
the shift (a vignetted clock, whose mean is 6 times its spread, was 1.35 px off at
7.4 sigma). Here ``p`` is a polynomial of degree two in the reference's coordinates,
normalised to ``[-1, 1]`` across the image (:func:`field_terms`).

* **The test.** The residual at the shift found is cut into blocks as the tilt's
  test cuts it (:class:`~._background.ResidualBlocks`), and the block medians are
  regressed on the tilt test's columns (the aligned moving image, its gradients,
  the coordinates) and on the block means of ``M' u`` for each term ``u`` of the
  field. The field is significant when the F test of those slopes, with the
  sandwich covariance, has a p-value below :data:`~._background.ALPHA`. The
  gradients' columns keep a shift error from reading as a field: on a smooth
  scene ``grad M'`` and ``M' x`` can be alike (a Gaussian's gradient *is* ``-M' x /
  sigma**2``), and what they share goes to the shift, not to the field.
* **The fit.** At that shift, the pixels (on the test's lattice) are fitted by
  least squares in either image's terms: ``R ~ c + g M' + d . grad M' + sum_u a_u
  M' u`` (a field ``1 + p`` in the reference, ``p = sum_u (a_u / g) u``) or ``M' ~
  c + h R + d . grad R + sum_u b_u R u`` (a field in the moving image, seen at its
  place in the reference: ``1 / (1 + p)`` in the reference's terms, no polynomial,
  ``p = sum_u (b_u / h) u``), whichever leaves the smaller misfit in the
  reference's units (the second's times ``g**2``; each holds both images' noise
  alike). No tilt is fitted here: on a bright scene ``M' u`` is nearly ``u``, and
  the field's linear terms take what an additive ramp leaves (the tilted
  registration, if it was run, fits the tilt again).
* **The correction.** The moving image is multiplied by the factor that flattens
  it (``1 + p`` or ``1 / (1 + p)``) read at its pixels' places in the reference,
  ``x = y + shift``, and registered again; its noise map likewise (a scalar noise
  by the factor's root mean square: a field of a few tens of percent leaves the
  noise nearly uniform). The fields are kept in the reference's coordinates and
  placed again at each new shift (one placed at a first shift far off leaves a
  linear gain error that pulls the next); the test is asked again of the new
  residual, at most :data:`ROUNDS` fields are fitted, and the pair is registered
  once more while the shift moves the field by over a tenth of its error.
* **The error.** The field's coefficients are profiled out of the shift's
  covariance as the chi2 stage profiles the gain: with ``J`` the gradients of the
  aligned image (the shift's columns) and ``N`` the nuisances, the shift's Fisher
  matrix is ``J^T (1 - P_N) J``. The registration's covariance, made without the
  field's terms in ``N``, is carried to the one with them by
  ``L = F_field^(-1/2) F^(1/2)``: ``C -> L C L^T`` (:func:`profiled_covariance`).

A pair whose test does not fire is returned as registered: exactly today's answer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ._background import ALPHA, ResidualBlocks, slopes_p_value
from ._filter import gradients

__all__ = [
    "ROUNDS",
    "FieldStep",
    "field_terms",
    "fitted_field",
    "flattened",
    "gain_p_value",
    "profiled_covariance",
]

#: The most fields fitted in turn. Each is a registration (and one more when the
#: last moved the shift the field was placed at); the second takes what the
#: polynomial left of a field the first read from the other image.
ROUNDS = 3


def field_terms(coordinates, shape) -> list[np.ndarray]:
    """The field's terms at ``coordinates`` (one array per axis, broadcastable, the
    reference's pixel indices): each normalised coordinate ``u_i = (x_i - centre_i)
    / (n_i / 2)`` and each product ``u_i u_j`` (``i <= j``)."""
    unit = [
        (np.asarray(x, dtype=np.float64) - (n - 1) / 2.0) / (n / 2.0)
        for x, n in zip(coordinates, shape, strict=True)
    ]
    ndim = len(unit)
    return unit + [unit[i] * unit[j] for i in range(ndim) for j in range(i, ndim)]


def _lattice_columns(blocks: ResidualBlocks, shape, *, tilt: bool = True) -> tuple:
    """The regression's columns on the lattice: the shift's (the gradients of the
    aligned image), the nuisances' (the aligned image, and with ``tilt`` the
    coordinates) and the field's (the aligned image times each term)."""
    aligned = blocks.aligned
    grid = np.meshgrid(*blocks.lattice, indexing="ij", sparse=True)
    field = [aligned * term for term in field_terms(grid, shape)]
    nuisances = [aligned, *blocks.coordinates()] if tilt else [aligned]
    return gradients(aligned), nuisances, field


def gain_p_value(blocks: ResidualBlocks, shape) -> float:
    """The p-value of "the residual in ``blocks`` holds no gain field" (the module
    docstring's test); 1.0 when there are too few blocks to test, or when the
    aligned moving image is constant (its field's columns are then the coordinates'
    own, and a field multiplies nothing)."""
    valid = blocks.aligned[blocks.valid]
    if valid.size == 0 or np.ptp(valid) == 0:
        return 1.0
    slopes, nuisances, field = _lattice_columns(blocks, shape)
    columns = [blocks.means(c) for c in (*nuisances, *slopes, *field)]
    return slopes_p_value(np.array(columns).T, blocks.medians, len(field))


def _pixel_design(blocks: ResidualBlocks, columns) -> np.ndarray:
    """``columns`` (with an intercept) at the lattice's valid pixels."""
    valid = blocks.valid
    ones = np.ones(np.count_nonzero(valid))
    return np.column_stack([ones, *(np.broadcast_to(c, valid.shape)[valid] for c in columns)])


@dataclass(frozen=True)
class FieldStep:
    """One round's field, in the reference's coordinates: ``1 + p(x)`` for a field in
    the reference, or ``1 / (1 + p(x))`` (``inverse``) for one in the moving image,
    as seen at its place in the reference."""

    coefficients: np.ndarray
    inverse: bool

    def on_moving(self, shape, shift) -> np.ndarray:
        """The factor that flattens the moving image, at each of its pixels ``y``
        (the field read at ``y + shift``)."""
        grid = np.meshgrid(
            *(np.arange(n) + s for n, s in zip(shape, shift, strict=True)),
            indexing="ij",
            sparse=True,
        )
        terms = field_terms(grid, shape)
        field = 1.0 + sum(c * u for c, u in zip(self.coefficients, terms, strict=True))
        return 1.0 / field if self.inverse else field

    def halved(self) -> FieldStep:
        return FieldStep(self.coefficients / 2.0, self.inverse)


def _least_squares(design, target):
    solution, residual = np.linalg.lstsq(design, target, rcond=None)[:2]
    misfit = (
        float(residual[0]) if residual.size else float(np.sum((target - design @ solution) ** 2))
    )
    return solution, misfit


def fitted_field(blocks: ResidualBlocks, ref_on_lattice: np.ndarray, shape) -> FieldStep | None:
    """The field (module docstring, "The fit"), in whichever image it fits the better:
    ``R ~ c + g M' + d . grad M' + sum_u a_u M' u`` (in the reference: ``p = a / g``),
    or ``M' ~ c + h R + d . grad R + sum_u b_u R u`` (in the moving image: ``p = b /
    h``), by their misfits in the reference's units (the second's times ``g**2``: the
    noise of either is then the same). None when a fitted gain is not positive."""
    slopes, nuisances, field = _lattice_columns(blocks, shape, tilt=False)
    valid = blocks.valid
    design = _pixel_design(blocks, [*nuisances, *slopes, *field])
    forward, forward_misfit = _least_squares(design, ref_on_lattice[valid])
    gain = forward[1]
    if not gain > 0:
        return None
    grid = np.meshgrid(*blocks.lattice, indexing="ij", sparse=True)
    reverse_columns = [
        ref_on_lattice,
        *gradients(ref_on_lattice),
        *(ref_on_lattice * term for term in field_terms(grid, shape)),
    ]
    reverse, reverse_misfit = _least_squares(
        _pixel_design(blocks, reverse_columns), blocks.aligned[valid]
    )
    count = len(field)
    if reverse[1] > 0 and gain**2 * reverse_misfit < forward_misfit:
        return FieldStep(reverse[-count:] / reverse[1], inverse=True)
    return FieldStep(forward[-count:] / gain, inverse=False)


def _placed(steps, shape, shift) -> np.ndarray:
    """The factor of every round's field at the moving image's pixels, for a moving
    image at ``shift``."""
    field = np.ones(shape)
    for step in steps:
        field = field * step.on_moving(shape, shift)
    return field


def _positive_step(step: FieldStep, field, shape, shift):
    """``step``, or the largest of its halves, quarters... whose factor keeps
    ``field`` positive and finite everywhere (a field fitted at a shift still far off
    can darken a corner to nothing: the step towards it is then shortened, and the
    next round fits the rest at the better shift); None when none does."""
    for _ in range(8):
        with np.errstate(divide="ignore"):
            factor = field * step.on_moving(shape, shift)
        if np.all(np.isfinite(factor)) and np.min(factor) > 0:
            return step
        step = step.halved()
    return None


def _settled(placed, result) -> bool:
    """Whether the field placed for the moving image at ``placed`` is where
    ``result`` puts it: within a tenth of its error on every axis (a field misplaced
    by ``d`` biases the shift by less than ``d``)."""
    return bool(np.all(np.abs(np.asarray(result.shift) - placed) <= 0.1 * result.error))


def _fisher(slopes, nuisances) -> np.ndarray:
    """``J^T (1 - P_N) J`` for the shift's columns ``J`` and the nuisances ``N``."""
    projected = slopes - nuisances @ np.linalg.lstsq(nuisances, slopes, rcond=None)[0]
    return projected.T @ projected


def _root(matrix: np.ndarray, power: float) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.maximum(values, 1e-300) ** power) @ vectors.T


def profiled_covariance(covariance, blocks: ResidualBlocks, shape, *, tilt: bool) -> np.ndarray:
    """``covariance`` with the field's coefficients profiled out as well
    (:math:`L C L^T`, module docstring, "The error"); ``tilt``: whether the
    registration fitted a tilt (the coordinates are then nuisances too)."""
    slopes, nuisances, field = _lattice_columns(blocks, shape, tilt=tilt)
    valid = blocks.valid
    jacobian = np.column_stack([s[valid] for s in slopes])
    base = _pixel_design(blocks, nuisances)
    fisher = _fisher(jacobian, base)
    fisher_field = _fisher(jacobian, np.column_stack([base, _pixel_design(blocks, field)[:, 1:]]))
    carry = _root(fisher_field, -0.5) @ _root(fisher, 0.5)
    return carry @ covariance @ carry.T


def _with_covariance(result, covariance):
    error = np.sqrt(np.diag(covariance))
    return dataclasses.replace(result, covariance=covariance, error=error)


def flattened(result, ref, mov, moving_error, invalid, *, wrap: bool, register, blocks=None):
    """``result``, or the pair registered again with the moving image flattened by
    the gain field its residual holds (the module docstring), until the test no
    longer fires or :data:`ROUNDS` corrections are made.

    Parameters
    ----------
    result : RegistrationResult
        The registration with the default brightness fit (or the tilt).
    ref, mov : numpy.ndarray
        The images as registered (the core's units).
    moving_error : float, numpy.ndarray or None
        The moving image's noise as given.
    invalid : pair of numpy.ndarray of bool
        The pixels of each image left out.
    wrap : bool
        Whether the images are periodic.
    register : callable
        ``register(moving, moving_error) -> RegistrationResult``: the same
        registration of another moving image.
    blocks : ResidualBlocks, optional
        The residual's blocks at ``result`` (``ResidualBlocks(ref, mov, invalid,
        result.shift, result.scale or 1, wrap)``), when made already (the tilt test's).

    Returns
    -------
    RegistrationResult
        ``result`` itself when its residual holds no field; else the last
        registration, its covariance with the field profiled out.
    """
    shape = ref.shape
    steps, placed, original = [], None, result
    for _ in range(ROUNDS + 1):
        verdict = result.significance
        if not np.all(np.isfinite(result.shift)) or (
            verdict is not None and not (verdict.significant and not verdict.on_boundary)
        ):
            # No match, or one that may lie beyond the window: no field to read; and
            # a flattened pair that lost its match was not helped by the field.
            return original
        scale = 1.0 if result.scale is None else result.scale
        field = _placed(steps, shape, result.shift)
        if blocks is None or steps:  # the first round's blocks are the result's own
            blocks = ResidualBlocks(ref, mov * field, invalid, result.shift, scale, wrap)
        if len(steps) < ROUNDS and gain_p_value(blocks, shape) < ALPHA:
            at = np.ix_(*blocks.lattice)
            step = fitted_field(blocks, ref[at], shape)
            if step is not None:
                step = _positive_step(step, field, shape, result.shift)
            if step is None:
                break
            steps.append(step)
            field = _placed(steps, shape, result.shift)
        elif placed is None or _settled(placed, result):
            break
        placed = np.asarray(result.shift)
        error = moving_error
        if error is not None:
            error = error * (field if np.ndim(error) else np.sqrt(np.mean(field**2)))
        result = register(mov * field, error)
    if placed is None or result.covariance is None or not np.all(np.isfinite(result.covariance)):
        return result
    scale = 1.0 if result.scale is None else result.scale
    field = _placed(steps, shape, placed)
    blocks = ResidualBlocks(ref, mov * field, invalid, result.shift, scale, wrap)
    tilted = result.brightness == "scale+offset+tilt"
    return _with_covariance(
        result, profiled_covariance(result.covariance, blocks, shape, tilt=tilted)
    )
