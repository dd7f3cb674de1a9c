"""The template of ``reference="mean"``: the mean of the frames moved onto one another.

The plain mean of drifting frames is the scene blurred by the drift. A frame
registered onto it is compared with a blurred copy of itself, and the blur's
asymmetry biases the shift (on real 64² scenes drifting by up to 2 px, 12 frames at
SNR 30: 0.008-0.054 px rms against 0.001-0.007 px onto the first frame). So each
frame is first registered onto the plain mean, moved onto it by that shift, and the
mean of the moved frames is the template every frame is then registered onto: as
sharp as one frame, as quiet as the mean, and in the plain mean's place.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._filters import fill_invalid
from ._fourier import fourier_shift


class AlignedMean:
    """The running mean of frames moved by their shifts, over the pixels each covers."""

    def __init__(self, shape, *, wrap: bool):
        self._total = np.zeros(shape)
        self._count = np.zeros(shape)
        self._wrap = wrap

    def add(self, frame, shift, mask=None) -> None:
        """Add ``frame`` moved by ``shift`` (its registration onto the plain mean);
        frames with no finite shift are left out. ``mask``: True marks pixels to ignore."""
        self.add_moved(moved_frame(frame, shift, mask, wrap=self._wrap))

    def add_moved(self, moved: tuple[np.ndarray, np.ndarray] | None) -> None:
        """Add a frame moved by :func:`moved_frame` (elsewhere: in a worker process)."""
        if moved is None:
            return
        values, covered = moved
        self._total += values
        self._count += covered

    def mean(self) -> np.ndarray | None:
        """The template (NaN where no frame covers the pixel), or None when no frame
        was added."""
        if not self._count.any():
            return None
        covered = self._count > 0
        return np.where(covered, self._total / np.maximum(self._count, 1.0), np.nan)


def moved_frame(frame, shift, mask=None, *, wrap: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """``frame`` moved by ``shift`` (0 where it is not covered) and the pixels it
    covers, as :class:`AlignedMean` adds them; None for a frame left out (no finite
    shift, or no valid pixel). ``mask``: True marks pixels to ignore."""
    shift = np.asarray(shift, dtype=np.float64)
    if not np.all(np.isfinite(shift)):
        return None
    frame = np.asarray(frame, dtype=np.float64)
    valid = np.isfinite(frame)
    if mask is not None:
        valid &= ~np.asarray(mask, dtype=bool)
    if not valid.any():
        return None
    # Holes are filled smoothly, so the interpolation does not ring from a jump;
    # the pixels it reaches from a hole are left out below.
    filled = fill_invalid(frame, valid)
    if wrap:
        moved = fourier_shift(filled, shift)
        covered = np.roll(valid, tuple(np.round(shift).astype(int)), range(frame.ndim))
    else:
        moved = ndimage.shift(filled, shift, order=3, mode="nearest")
        # Pixels moved in from outside the frame are not covered.
        covered = ndimage.shift(valid.astype(np.float64), shift, order=1, cval=0.0) > 0.999
    if not valid.all():
        # The cubic spline (or the Fourier shift's nearest lobes) reaches 2 pixels.
        covered = ndimage.binary_erosion(covered, iterations=2, border_value=1)
    return np.where(covered, moved, 0.0), covered
