"""Did the registration measure anything? The significance stage and its verdict.

After the search and the refinement, :func:`judge` asks whether the chi2 minimum the
pipeline found is a significant match and lies inside the search window
(:func:`~._significance.match_significance`). When it is not, the shift is not a
measurement: the result says so (``measured`` False, ``significance``), its error
is infinite, and a :class:`RegistrationWarning` tells the caller why.
"""

from __future__ import annotations

import numpy as np

from ._brightness import detrended, fits_tilt
from ._result import warn_registration
from ._significance import Significance, match_significance


def judge(engine, image, shift) -> Significance:
    """The significance of the pipeline's ``shift`` between the engine's reference and
    ``image`` (both prepared: filtered as the surface saw them, masked pixels zeroed;
    with a tilt fitted, each less its plane).

    When either has masked pixels, the test is told both images' valid pixels, so
    that it correlates and counts only those; else, with no tilt fitted, it reads the
    reference's share the engine made once (``ReferenceShare``).
    """
    reference = engine._reference
    masked = reference.valid is not None or image.valid is not None
    ref_data, mov_data = reference.data, image.data
    tilted = fits_tilt(engine.brightness)
    if tilted:
        # The fitted background is no common signal: each image without its plane.
        ref_data = detrended(ref_data, _valid(reference))
        mov_data = detrended(mov_data, _valid(image))
    return match_significance(
        ref_data,
        mov_data,
        max_shift=engine._limits,
        boundary=engine.boundary,
        shift=shift,
        valid=(_valid(reference), _valid(image)) if masked else None,
        # The share is of the reference as prepared: not of it less its plane.
        share=None if masked or tilted else engine._significance_share,
    )


def _valid(image) -> np.ndarray:
    """A prepared image's valid pixels: its own, or all but its zeroed margins."""
    if image.valid is not None:
        return image.valid
    valid = np.zeros(image.data.shape, dtype=bool)
    valid[tuple(slice(m, n - m) for n, m in zip(image.data.shape, image.margins, strict=True))] = (
        True
    )
    return valid


def unmeasured(significance: Significance, shift, covariance):
    """The covariance to report for ``shift``: ``covariance`` itself when the match is a
    measurement, else infinite, with a :class:`RegistrationWarning` saying why."""
    if significance.measured or not np.all(np.isfinite(covariance)):
        return covariance  # a measurement, or already unbounded (and warned about)
    where = np.array2string(np.asarray(shift), precision=3, separator=", ")
    if not significance.significant:
        reason = (
            f"the best match ({where}) is not significant (false-alarm probability "
            f"{significance.p_value:.2g}): the images share no detectable signal at any "
            "shift searched (pure noise, unrelated scenes, or a signal-to-noise far below 1)"
        )
    else:
        reason = (
            f"the best match ({where}) is on the max_shift edge of the search window, so "
            "the true one may lie beyond it: raise max_shift"
        )
    warn_registration(f"{reason}. The shift is not a measurement and its error is infinite.")
    return np.full_like(np.asarray(covariance, dtype=np.float64), np.inf)
