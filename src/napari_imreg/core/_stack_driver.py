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


def _has_valid_pixel(image, mask=None) -> bool:
    valid = np.isfinite(image)
    if mask is not None:
        valid &= ~np.asarray(mask)
    return bool(valid.any())


_NO_PIXEL = "it has no valid pixel (all NaN, infinite or masked)"


def _warn_unmeasured(index: int, why: str) -> None:
    warn_registration(
        f"frame {index} was not measured: {why}. Its shift is NaN and its error infinite; "
        "the other frames are kept."
    )


def against_one(
    reference: np.ndarray,
    reference_error,
    frames: Iterable,
    options: Options,
    *,
    reference_mask=None,
) -> Iterator[RegistrationResult | None]:
    """Register each ``(index, frame, error, mask)`` of ``frames`` onto ``reference``
    (its pixels where ``reference_mask`` is True ignored), prepared once; an item None
    (the reference frame itself) yields None.

    A frame with no valid pixel (all NaN, infinite or masked) gives :func:`unmeasured`
    and a warning naming it, rather than an error that would lose every other frame's
    result.
    """
    registrar = Registrar.from_options(
        reference, options, reference_error=reference_error, reference_mask=reference_mask
    )
    for item in frames:
        if item is None:
            yield None
            continue
        index, frame, error, mask = item
        try:
            yield registrar.register(frame, error=error, mask=mask, delta_chi2_map=False)
        except ValueError:
            # Checked only on failure, so the frames that register pay nothing for it.
            if _has_valid_pixel(frame, mask):
                raise
            _warn_unmeasured(index, _NO_PIXEL)
            yield unmeasured(np.ndim(frame), options.boundary)


def onto_previous(pairs: Iterable, options: Options) -> Iterator[RegistrationResult]:
    """Register each frame of ``(index, previous, frame, previous_error, error,
    previous_mask, mask)`` onto its predecessor: the steps of the drift.

    A step that touches a frame with no valid pixel gives :func:`unmeasured` (the
    drift from there on is unknown), with a warning naming the frame.
    """
    for index, previous, frame, previous_error, error, previous_mask, mask in pairs:
        if not _has_valid_pixel(previous, previous_mask):
            # Reported as the moving frame of the step before, unless it is the first.
            if index == 1:
                _warn_unmeasured(0, _NO_PIXEL)
            yield unmeasured(np.ndim(frame), options.boundary)
            continue
        registrar = Registrar.from_options(
            previous, options, reference_error=previous_error, reference_mask=previous_mask
        )
        try:
            yield registrar.register(frame, error=error, mask=mask, delta_chi2_map=False)
        except ValueError:
            if _has_valid_pixel(frame, mask):
                raise
            _warn_unmeasured(index, _NO_PIXEL)
            yield unmeasured(np.ndim(frame), options.boundary)
