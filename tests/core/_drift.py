"""A stack whose truth is known: a crop window of one scene moved by a random drift."""

from __future__ import annotations

import numpy as np

from napari_imreg.core import fourier_shift, make_extended


def drifting_stack(frames: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``frames`` n x n crops of one scene moved by a sub-pixel random walk (a Fourier
    shift of the scene, so the frames do not wrap and take the overlap mode), with
    noise; and the drift of each frame from the first, ``(frames, 2)``."""
    rng = np.random.default_rng(seed)
    drift = np.cumsum(rng.normal(0.0, 0.6, (frames, 2)), axis=0)
    drift -= drift[0]
    margin = int(np.ceil(np.abs(drift).max())) + n // 4
    scene = make_extended((n + 2 * margin,) * 2, seed=seed)
    window = (slice(margin, margin + n),) * 2
    stack = np.stack([fourier_shift(scene, -d)[window] for d in drift])
    return stack + rng.normal(0.0, 0.05, stack.shape), drift
