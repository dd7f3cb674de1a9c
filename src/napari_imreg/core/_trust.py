"""Did the registration measure anything? The significance stage and its verdict.

After the search and the refinement, :func:`judge` asks whether the chi2 minimum the
pipeline found is a significant match, lies inside the search window, and beats the
rival minima elsewhere in the window beyond the noise
(:func:`~._significance.match_significance`, :mod:`._ambiguity`). When it is not
significant or is on the edge, the shift is not a measurement: the result says so
(``measured`` False, ``significance``), its error is infinite, and a
:class:`RegistrationWarning` tells the caller why.

When it is significant but rivalled (another minimum of the window, beyond its own
whole-pixel peak, that the noise cannot rule out: :mod:`._ambiguity`), the shift is
one of a few candidates, not a single measurement. It is flagged all the same
(``measured`` False, a warning that names the rivals), and :func:`widened` adds
``d d^T`` to its covariance for each rival ``d`` away, rather than making it
infinite: the truth is one of the candidates (the match is significant), so an
error that reaches every one of them is honest, and it keeps what the data do say
(where the candidates are) for a script that weighs frames by their errors. It is
flagged as well as widened because a two-peaked answer is not the Gaussian an
error bar describes. A lattice's aliases are rivals too: the shift is known only
modulo the period, and the result says so. So is a lower minimum beyond ``max_shift``
(the rival test looks out to half the image): the truth may lie there, and the
warning says to raise ``max_shift``.
"""

from __future__ import annotations

import numpy as np

from ._axis_messages import AXES
from ._brightness import detrended, fits_tilt
from ._filter import smooth_to_edges
from ._pipeline_residual import covariance_envelope
from ._result import AxisWarning, warn_registration
from ._significance import Significance, match_significance


def judge(engine, image, shift, *, rivals: bool = True) -> Significance:
    """The significance of the pipeline's ``shift`` between the engine's reference and
    ``image`` (both prepared: filtered as the surface saw them, masked pixels zeroed;
    with a tilt fitted, each less its plane); with ``rivals`` False, without the
    rival test (:func:`~._significance.match_significance`).

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

    def complete():
        # The prepared images with the margins that the filter zeroed filtered too (the
        # edges extended), for the rival test's sub-pixel shifts (:mod:`._ambiguity`);
        # the reference's made once per engine.
        moving = smooth_to_edges(image.source, engine._kernels, subtract=image.mean)
        return completed_reference(engine), moving

    return match_significance(
        ref_data,
        mov_data,
        max_shift=engine.max_shift,
        searched=engine._limits,
        boundary=engine.boundary,
        shift=shift,
        valid=(_valid(reference), _valid(image)) if masked else None,
        # The share is of the reference as prepared: not of it less its plane.
        share=None if masked or tilted else engine._significance_share,
        margins=np.maximum(reference.margins, image.margins),
        rivals=rivals,
        complete=complete if engine._smooth and not (masked or tilted) else None,
    )


def completed_reference(engine) -> np.ndarray:
    """The engine's reference as prepared, with the margins that the filter zeroed
    filtered too (the edges extended; the rival test's, see :func:`judge`), read-only:
    made once and kept on the engine unless it is a one-off (a stack's frames all ask)."""
    completed = engine._completed_reference
    if completed is None:
        reference = engine._reference
        completed = smooth_to_edges(reference.source, engine._kernels, subtract=reference.mean)
        completed.setflags(write=False)
        if engine.keep_reference_spectra:
            engine._completed_reference = completed
    return completed


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
    measurement, widened to reach its rivals when it is rivalled, else infinite, with a
    :class:`RegistrationWarning` saying why."""
    if significance.measured or not np.all(np.isfinite(covariance)):
        return covariance  # a measurement, or already unbounded (and warned about)
    where = np.array2string(np.asarray(shift), precision=3, separator=", ")
    if significance.significant and not significance.on_boundary:
        _warn_rivalled(significance, where)
        return covariance  # widened to reach the rivals by :func:`widened`
    if not significance.significant:
        reason = (
            f"the best match ({where}) is not significant (false-alarm probability "
            f"{significance.p_value:.2g}): the images share no detectable signal at any "
            "shift searched (pure noise, unrelated scenes, or a signal-to-noise far below 1)"
        )
    else:
        reason = (
            f"the best match ({where}) is on the max_shift edge of the search window "
            "(beyond it, or not bracketed inside it), so the true one may lie beyond it: "
            "raise max_shift"
        )
    warn_registration(f"{reason}. The shift is not a measurement and its error is infinite.")
    return np.full_like(np.asarray(covariance, dtype=np.float64), np.inf)


def _warn_rivalled(significance: Significance, where: str) -> None:
    rivals = np.array2string(np.asarray(significance.rivals), precision=2, separator=", ")
    beyond = (
        " Some lie beyond max_shift, so the true shift may lie outside the window searched: "
        "raise max_shift."
        if significance.rival_beyond
        else ""
    )
    warn_registration(
        f"the best match ({where}) is not significantly better than the other minima "
        f"at {rivals} (by {significance.rival_z:.2g} sigma of the noise): the shift is one "
        f"of these, not a single measurement. Its error is widened to reach them.{beyond}"
    )


def widened(significance: Significance, shift, covariance) -> np.ndarray:
    """``covariance`` plus ``d d^T`` for each rival minimum ``d`` away, so that the
    error reaches every minimum the noise cannot rule out; and no axis's variance
    below the width the rival test measured along the judged minimum's shoulders
    (``rival_spread``: a broad or ridged minimum whose curvature says less)."""
    if not np.all(np.isfinite(covariance)):
        return covariance
    covariance = np.asarray(covariance, dtype=np.float64)
    if significance.rival_spread is not None:
        covariance = covariance_envelope(covariance, significance.rival_spread)
    if not significance.ambiguous:
        return covariance
    away = np.asarray(significance.rivals) - np.asarray(shift, dtype=np.float64)
    return covariance + away.T @ away


def within_window(significance: Significance, limits, shift, covariance) -> np.ndarray:
    """``covariance``, or infinite with a :class:`RegistrationWarning` where an axis's
    1-sigma error exceeds the search window's half-width ``limits`` on that axis:
    the data do not hold the shift inside the window searched, and the quadratic
    model of chi2 behind every axis's error does not hold over that range (a 4-row
    pair: 3.3 px along its rows, and its columns' 0.05 px came out 0.27 px off).
    A match already not measured keeps its covariance: a rivalled one's is widened
    to reach its rivals on purpose, however far they lie."""
    if not (significance.measured and np.all(np.isfinite(covariance))):
        return covariance
    sigma = np.sqrt(np.diag(covariance))
    wide = sigma > np.asarray(limits, dtype=np.float64)
    if not np.any(wide):
        return covariance
    where = np.array2string(np.asarray(shift), precision=3, separator=", ")
    warn_registration(
        AxisWarning(
            f"the best match ({where}) is not held by the images along {AXES}: its "
            "error there exceeds max_shift, so the shift is not a measurement and its "
            "error is infinite.",
            np.flatnonzero(wide),
        )
    )
    return np.full_like(np.asarray(covariance, dtype=np.float64), np.inf)
