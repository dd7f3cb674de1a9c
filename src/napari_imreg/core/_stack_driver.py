"""The one stack driver: frames registered one at a time, against one reference or
each onto the frame before it.

:func:`register_stack`'s dask tasks and :func:`iter_register_stack` both run these
generators, so a stack is registered the same way whichever entry point is used.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from ._options import Options
from ._register import Registrar
from ._result import RegistrationResult


def row_columns(ndim: int) -> int:
    """Columns of the per-frame table: shift, error, chi2, dof, noise."""
    return 2 * ndim + 3


def table(results: Iterable[RegistrationResult | None], count: int, ndim: int) -> np.ndarray:
    """The per-frame table of ``count`` results; a None result (the reference frame
    itself) leaves its row at 0."""
    out = np.zeros((count, row_columns(ndim)))
    for row, result in enumerate(results):
        if result is None:
            continue
        out[row, :ndim] = result.shift
        out[row, ndim : 2 * ndim] = result.error if result.error is not None else np.nan
        out[row, 2 * ndim] = np.nan if result.chi2_min is None else result.chi2_min
        out[row, 2 * ndim + 1] = np.nan if result.dof is None else result.dof
        out[row, 2 * ndim + 2] = np.nan if result.noise is None else result.noise
    return out


def against_one(
    reference: np.ndarray, reference_error, frames: Iterable, options: Options
) -> Iterator[RegistrationResult | None]:
    """Register each ``(frame, error)`` of ``frames`` onto ``reference``, prepared once;
    an item None (the reference frame itself) yields None."""
    registrar = Registrar.from_options(reference, options, reference_error=reference_error)
    for item in frames:
        if item is None:
            yield None
            continue
        frame, error = item
        yield registrar.register(frame, error=error, delta_chi2_map=False)


def onto_previous(pairs: Iterable, options: Options) -> Iterator[RegistrationResult]:
    """Register each frame of ``(previous, frame, previous_error, error)`` onto its
    predecessor: the steps of the drift."""
    for previous, frame, previous_error, error in pairs:
        registrar = Registrar.from_options(previous, options, reference_error=previous_error)
        yield registrar.register(frame, error=error, delta_chi2_map=False)
