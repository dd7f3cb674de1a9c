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
  least squares with the same columns: ``R ~ c + g M' + d . grad M' + t . x +
  sum_u a_u M' u``. The gain field is ``1 + p(x) / g`` with ``p = sum_u a_u u``.
* **The correction.** The moving image is multiplied by the field read at its
  pixels' places in the reference, ``x = y + shift``, and registered again; its
  noise map likewise (a scalar noise by the field's root mean square: a field of
  a few tens of percent leaves the noise nearly uniform). The test is asked again
  of the new residual: a field in the moving image, ``1 / f`` in the reference's
  terms, is no polynomial, and a second round takes what the first left.
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

import numpy as np

from ._background import ALPHA, ResidualBlocks, slopes_p_value
from ._filter import gradients

__all__ = ["ROUNDS", "field_terms", "flattened", "gain_p_value"]

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


def fitted_field(blocks: ResidualBlocks, ref_on_lattice: np.ndarray, shape, *, tilt: bool):
    """The field's coefficients ``a_u / g`` (module docstring, "The fit"), or None
    when the fitted gain is not positive. ``tilt``: whether the registration fits a
    tilt (its columns join the fit; without one, the field's linear terms take what
    an additive ramp leaves, as a bright scene's ``M' u`` is nearly ``u``)."""
    slopes, nuisances, field = _lattice_columns(blocks, shape, tilt=tilt)
    design = _pixel_design(blocks, [*nuisances, *slopes, *field])
    target = ref_on_lattice[blocks.valid]
    solution = np.linalg.lstsq(design, target, rcond=None)[0]
    gain = solution[1]
    if not gain > 0:
        return None
    return solution[-len(field) :] / gain


def field_on_moving(coefficients, shape, shift) -> np.ndarray:
    """The gain field ``1 + sum_u c_u u(y + shift)`` at each moving pixel ``y``."""
    grid = np.meshgrid(
        *(np.arange(n) + s for n, s in zip(shape, shift, strict=True)), indexing="ij", sparse=True
    )
    terms = field_terms(grid, shape)
    return 1.0 + sum(c * u for c, u in zip(coefficients, terms, strict=True))


def _placed(steps, shape, shift) -> np.ndarray:
    """The field of every round's coefficients (each a factor, in the reference's
    coordinates) at the moving image's pixels, for a moving image at ``shift``."""
    field = np.ones(shape)
    for coefficients in steps:
        field = field * field_on_moving(coefficients, shape, shift)
    return field


def _positive_step(coefficients, field, shape, shift):
    """``coefficients``, or the largest of their halves, quarters... whose factor
    keeps ``field`` positive everywhere (a field fitted at a shift still far off can
    darken a corner to nothing: the step towards it is then shortened, and the next
    round fits the rest at the better shift); None when none does."""
    for _ in range(8):
        if np.min(field * field_on_moving(coefficients, shape, shift)) > 0:
            return coefficients
        coefficients = coefficients / 2.0
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
    (:math:`L C L^T`, module docstring, "The error"); ``tilt`` as for
    :func:`fitted_field`."""
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


def flattened(result, ref, mov, moving_error, invalid, *, wrap: bool, register):
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

    Returns
    -------
    RegistrationResult
        ``result`` itself when its residual holds no field; else the last
        registration, its covariance with the field profiled out.
    """
    shape = ref.shape
    steps, placed = [], None
    for _ in range(ROUNDS + 1):
        if not np.all(np.isfinite(result.shift)):
            break
        scale = 1.0 if result.scale is None else result.scale
        field = _placed(steps, shape, result.shift)
        blocks = ResidualBlocks(ref, mov * field, invalid, result.shift, scale, wrap)
        if len(steps) < ROUNDS and gain_p_value(blocks, shape) < ALPHA:
            at = np.ix_(*blocks.lattice)
            coefficients = fitted_field(blocks, ref[at], shape, tilt=False)
            if coefficients is not None:
                coefficients = _positive_step(coefficients, field, shape, result.shift)
            if coefficients is None:
                break
            steps.append(coefficients)
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
