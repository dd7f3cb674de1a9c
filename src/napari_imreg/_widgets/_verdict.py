"""What a registration result says about itself, in the widgets' words: a measurement, a
flagged one (the core's ``measured`` is False but its shift and error are finite: a match
with rivals, whose error is widened to reach them), or none at all (an infinite error: a
constant image, no significant match, a match on the search edge).

The pair and stack widgets read it the same way: a result that is not a measurement
moves nothing (no registered copy, no translate; a stack's frame is left blank in its
copy), and a flagged one is applied and marked as flagged, in the same words: the copy
it moved is named by :func:`registered_name`, and the report says :data:`FLAGGED`.
Nothing here computes a number: the reasons are read off the result's own fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Kind = Literal["measured", "flagged", "not measured"]
#: What a flagged answer is, in the reports of both widgets.
FLAGGED = "flagged, not a single measurement"


@dataclass(frozen=True)
class Verdict:
    """How far a result can be trusted, and why not, in words for the user.

    Attributes
    ----------
    kind : {"measured", "flagged", "not measured"}
        "not measured": its shift or error is not finite, so nothing may be moved by it.
        "flagged": finite, but the core does not count it as a measurement.
    reason : str or None
        Why it is flagged or not measured; None for a measurement.
    """

    kind: Kind
    reason: str | None = None

    @property
    def moves(self) -> bool:
        """Whether the shift may move a layer (a measurement, or a flagged one)."""
        return self.kind != "not measured"


def registered_name(name: str, *, flagged: bool) -> str:
    """The name of the registered copy of the layer ``name``, marked "(flagged)" when a
    flagged shift moved it (the pair's, or any frame's of a stack)."""
    return f"{name} registered" + (" (flagged)" if flagged else "")


def verdict_of(result: Any) -> Verdict:
    """The :class:`Verdict` of a core result (``measured``, ``shift``, ``error`` and, for the
    chi2 method, its ``significance``)."""
    finite = np.all(np.isfinite(result.shift)) and (
        result.error is None or np.all(np.isfinite(result.error))
    )
    if getattr(result, "measured", True) and finite:
        return Verdict("measured")
    return Verdict("flagged" if finite else "not measured", _reason(result))


def _reason(result: Any) -> str:
    """Why a result is not a measurement, from its significance test."""
    test = getattr(result, "significance", None)
    if test is None:
        if not np.all(np.isfinite(result.shift)):
            return "no shift could be measured (the core's warning says why)"
        return "an image is constant: it has no structure to register"
    if not test.significant:
        return (
            f"no significant match (false-alarm probability {test.p_value:.2g}): the images "
            "share no detectable signal (pure noise, unrelated scenes, or far too noisy)"
        )
    if test.on_boundary:
        return "the best match is on the edge of the search window: raise max shift"
    if test.ambiguous:
        beyond = "; some lie beyond max shift" if test.rival_beyond else ""
        count = len(test.rivals)
        return (
            f"{count} other match{'es' if count > 1 else ''} fit as well within the noise "
            f"(a repeating pattern?): the error is widened to reach them{beyond}"
        )
    return "its error exceeds the search window: the images do not hold the shift"
