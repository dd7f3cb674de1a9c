"""Two interpolants of one pair: when the spline's better fit says the Fourier answer is biased.

The pipeline shifts the moving image by its Fourier series; the residual stage fits
the same pair again with a cubic B-spline (:mod:`._image_fit`). On a scene that is
sampled below its content (text, a sharp limb, stars, binned), the Fourier series
folds the content beyond Nyquist back in with the wrong phase, and the answer leans
by a bias that depends on the sub-pixel phase of the shift. Filtering does not take
it out: the folded content lies at every frequency, and the two filter strengths the
floor check compares lean alike (docs/how-it-works-errors.md, "A sixth set").

The spline folds that content differently, so the two interpolants disagree by the
difference of their biases. Where the spline's residual is lower than the Fourier
model's by more than the comparison's noise (the margin of
:func:`~._image_fit.fit_image_shift`), and the noise given leaves a misfit to
measure (``excess > 1``), the pair itself says that the Fourier model does not hold
the scene. Each model's bias grows as the square root of its misfit beyond the noise
(the assumption the reverse case's bound makes, ``_image_fit._fourier_terms``): with
the two biases of either sign, the Fourier answer's share of their difference ``D``
is ``sqrt(m_f) / (sqrt(m_f) + sqrt(m_s))``, ``m`` the misfits, and that share of
``D`` beyond its random part (the block sandwich of the two estimates' influences'
difference) is a bias the error must hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["InterpolantFits"]


@dataclass(frozen=True)
class InterpolantFits:
    """The two interpolants' chi2 on one pair, on the same pixels and weights.

    ``fourier_chi2``: the Fourier model's at the pipeline's shift; ``spline_chi2``: the
    spline's at its own minimum, its interpolated noise brought to the Fourier's
    footing; ``margin``: the noise of their difference, times three (either must beat
    the other by it); ``dof``: the pixels compared less the fitted parameters;
    ``noise_given``: whether the chi2 are in units of a noise the caller gave.
    """

    fourier_chi2: float
    spline_chi2: float
    margin: float
    dof: float
    noise_given: bool

    def spline_fits_better(self) -> bool:
        """Whether the spline's residual is lower than the Fourier model's by more
        than the margin."""
        return self.fourier_chi2 - self.spline_chi2 > self.margin

    def fourier_share(self) -> float:
        """The Fourier answer's share of the two answers' difference, with each bias
        the square root of its model's misfit beyond the noise, the two of either sign.

        >>> InterpolantFits(116.0, 101.0, 10.0, 100.0, True).fourier_share()
        0.8
        """
        fourier = np.sqrt(max(self.fourier_chi2 - self.dof, 0.0))
        spline = np.sqrt(max(self.spline_chi2 - self.dof, 0.0))
        return float(fourier / (fourier + spline)) if fourier > 0.0 else 0.0

    def shows_bias(self, excess: float) -> bool:
        """Whether the pair shows the Fourier answer biased: the noise given, the
        residual beyond it (``excess``, :func:`~._pipeline_residual.residual_excess`,
        above 1) and the spline's fit the better."""
        return self.noise_given and excess > 1.0 and self.spline_fits_better()

    def fourier_bias(self, difference, random) -> np.ndarray:
        """The bias bound the spline's better fit puts on the Fourier answer.

        Parameters
        ----------
        difference : numpy.ndarray
            The spline's shift less the Fourier (pipeline) answer's, per axis.
        random : numpy.ndarray
            The covariance of that difference's random part.

        Returns
        -------
        numpy.ndarray
            A diagonal covariance (px²): per axis, the Fourier answer's share
            (:meth:`fourier_share`) of the squared difference beyond its random
            variance, never below zero.
        """
        beyond = np.maximum(np.asarray(difference) ** 2 - np.diag(random), 0.0)
        return np.diag(beyond * self.fourier_share() ** 2)
