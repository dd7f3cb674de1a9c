"""A star field rendered at full resolution, for exactly shifted pairs (make_binned_pair)."""

from __future__ import annotations

import numpy as np
import scipy.special


def star_field(
    side: int, stars: int, sigma: float, rng, *, sky: float = 10.0, full_well=None
) -> np.ndarray:
    """A ``side``² sky of ``stars`` Gaussian stars (``sigma`` full-resolution pixels),
    each integrated over its pixels (erf), on a flat ``sky``.

    Fluxes follow a Euclidean power law (``dN/dF ~ F^-2.5``) from a faintest star
    peaking at half the sky up to a thousand times brighter. With ``full_well``, the
    scene is clipped there (saturation: a property of the scene, so a crop pair cut
    from it keeps its exact shift).
    """
    rng = np.random.default_rng(rng)
    faintest = 0.5 * sky * 2.0 * np.pi * sigma**2
    fluxes = np.minimum(faintest * rng.random(stars) ** (-1.0 / 1.5), 1000.0 * faintest)
    centres = rng.uniform(0.0, side, (stars, 2))
    edges = np.arange(side + 1.0)
    image = np.full((side, side), float(sky))
    for (y, x), flux in zip(centres, fluxes, strict=True):
        rows = np.diff(scipy.special.erf((edges - y) / (np.sqrt(2.0) * sigma))) / 2.0
        columns = np.diff(scipy.special.erf((edges - x) / (np.sqrt(2.0) * sigma))) / 2.0
        image += flux * np.outer(rows, columns)
    return image if full_well is None else np.minimum(image, full_well)
