"""The spread of the shift across the filter's strengths: a witness of a shared bias.

The floor check's witness (:class:`~._pipeline_residual.Witness`) is the pipeline at
the other strength the check compared. When the answer reported is filtered strongly
(strength 0.9 or 1), that other strength is often a neighbour (0.9 against 1): the
two lean alike on the scene's content near Nyquist and share its bias. On an
undersampled, sharp scene (binned text, stars, a sharp solar limb) that bias is
systematic, every block of the residual is pulled the same way, and neither the
block sandwich nor a neighbour's difference sees it: the truth lay 4-6 of the
reported errors away (docs/how-it-works-errors.md, "The spread across strengths").

The unfiltered pipeline (strength 0) leans on that content the most. Where its
shift differs from a strongly filtered answer by more than the noise of the
difference can (the floor check's test, :meth:`~._pipeline_residual.Witness.apart`),
the interpolation model does not hold the scene, and the difference beyond the
noise bounds the reported answer's bias, as large seen from either end.
"""

from __future__ import annotations

import numpy as np

from ._pipeline_residual import Witness

__all__ = ["FAR_FROM", "spread_bound", "unfiltered_witness_needed"]

#: Answers reported at this filter strength or above take the unfiltered pipeline
#: as a second witness (below it, the floor check's witness is the full strength).
FAR_FROM = 0.5


def unfiltered_witness_needed(strength: float, witness=None, excess: float = 1.0) -> bool:
    """Whether an answer reported at ``strength`` takes the unfiltered pipeline as a
    witness of its bias: it is filtered strongly, the floor check's ``witness`` (a
    result with ``filter_strength``, or None) is filtered strongly too or absent, and
    the pipeline's residual shows a misfit beyond the noise given (``excess``, its
    chi2 per degree of freedom where that exceeds 1 beyond sampling:
    :func:`~._pipeline_residual.residual_excess`; 1 with the noise estimated).

    >>> unfiltered_witness_needed(1.0, None, excess=150.0)
    True
    >>> unfiltered_witness_needed(1.0, None, excess=1.0), unfiltered_witness_needed(0.3)
    (False, False)
    """
    if strength < FAR_FROM or not excess > 1.0:
        return False
    return witness is None or (witness.filter_strength or 0.0) >= FAR_FROM


def spread_bound(shift, covariance, unfiltered) -> np.ndarray:
    """The bias bound that the unfiltered pipeline's answer ``unfiltered`` (a result
    with ``shift`` and ``covariance``, or None) sets on ``shift`` of noise
    ``covariance``: Hausman's difference beyond its noise
    (:meth:`~._pipeline_residual.Witness.bias`) where the two are apart by the floor
    check's test, else zeros.

    >>> from types import SimpleNamespace
    >>> far = SimpleNamespace(shift=np.array([0.1, 0.0]), covariance=np.eye(2) * 4e-4)
    >>> spread_bound(np.zeros(2), np.eye(2) * 1e-4, far).round(5).tolist()
    [[0.0097, 0.0], [0.0, 0.0]]
    """
    zero = np.zeros_like(np.asarray(covariance, dtype=np.float64))
    if unfiltered is None or not np.all(np.isfinite(unfiltered.covariance)):
        return zero
    witness = Witness.of(shift, covariance, unfiltered.shift, unfiltered.covariance)
    if not witness.apart():
        return zero
    return witness.bias(independent=False)
