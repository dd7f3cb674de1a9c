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
from ._result import RegistrationResult, warn_registration


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


def unmeasured(ndim: int, boundary: str) -> RegistrationResult:
    """The result of a frame that could not be measured: NaN shift, infinite error."""
    return RegistrationResult(
        shift=np.full(ndim, np.nan),
        error=np.full(ndim, np.inf),
        covariance=np.diag(np.full(ndim, np.inf)),
        boundary=boundary,
        method="unmeasured",
    )


def _has_valid_pixel(image) -> bool:
    return bool(np.isfinite(image).any())


def _warn_unmeasured(index: int, why: str) -> None:
    warn_registration(
        f"frame {index} was not measured: {why}. Its shift is NaN and its error infinite; "
        "the other frames are kept."
    )


def against_one(
    reference: np.ndarray, reference_error, frames: Iterable, options: Options
) -> Iterator[RegistrationResult | None]:
    """Register each ``(index, frame, error)`` of ``frames`` onto ``reference``, prepared
    once; an item None (the reference frame itself) yields None.

    A frame with no finite pixel gives :func:`unmeasured` and a warning naming it,
    rather than an error that would lose every other frame's result.
    """
    registrar = Registrar.from_options(reference, options, reference_error=reference_error)
    for item in frames:
        if item is None:
            yield None
            continue
        index, frame, error = item
        try:
            yield registrar.register(frame, error=error, delta_chi2_map=False)
        except ValueError:
            # Checked only on failure, so the frames that register pay nothing for it.
            if _has_valid_pixel(frame):
                raise
            _warn_unmeasured(index, "it has no valid pixel (all NaN or infinite)")
            yield unmeasured(np.ndim(frame), options.boundary)


def onto_previous(pairs: Iterable, options: Options) -> Iterator[RegistrationResult]:
    """Register each frame of ``(index, previous, frame, previous_error, error)`` onto its
    predecessor: the steps of the drift.

    A step that touches a frame with no finite pixel gives :func:`unmeasured` (the
    drift from there on is unknown), with a warning naming the frame.
    """
    for index, previous, frame, previous_error, error in pairs:
        if not _has_valid_pixel(previous):
            # Reported as the moving frame of the step before, unless it is the first.
            if index == 1:
                _warn_unmeasured(0, "it has no valid pixel (all NaN or infinite)")
            yield unmeasured(np.ndim(frame), options.boundary)
            continue
        registrar = Registrar.from_options(previous, options, reference_error=previous_error)
        try:
            yield registrar.register(frame, error=error, delta_chi2_map=False)
        except ValueError:
            if _has_valid_pixel(frame):
                raise
            _warn_unmeasured(index, "it has no valid pixel (all NaN or infinite)")
            yield unmeasured(np.ndim(frame), options.boundary)
