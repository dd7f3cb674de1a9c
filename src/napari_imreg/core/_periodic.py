"""Does an image wrap? The ``boundary="auto"`` decision (issue 13, item 5).

A periodic image (a Fourier-shifted synthetic scene, a simulation box) joins its
last row to its first as smoothly as any two neighbouring rows; a crop of a
larger scene does not: its first and last rows are as unrelated as any two rows
far apart. For each axis the test compares the mean squared difference across
the seam, ``q_seam``, with the same quantity between neighbouring rows inside
(``q_near``, one value per row pair) and between rows half the axis apart
(``q_far``), on log scales standardised by each set's own median and MAD:

    z_near = (log q_seam - median log q_near) / spread_near
    z_far  = (log q_seam - median log q_far) / spread_far
    separation = (median log q_far - median log q_near) / hypot(spreads)

The separation says whether the axis can tell the two cases apart at all (noise,
white textures and flat fields cannot). The rows are also averaged over blocks of
``b`` pixels along the other axes (``b`` = 1, 2, 4, ... up to the whole row),
which lowers the noise and brings out a jump of the scene's large scales. The
scores of the block sizes that separate the cases are averaged per axis. An image
is periodic only when every axis has a block size that separates the cases well
and, on average over those that separate them, its seam sits with the neighbours
(``z_near`` small) and well below the unrelated rows (``z_far`` negative); when one
axis at least does so with margins to spare; and when its border varies about as
much as the whole image (an object on a background has edges that join, but a
quiet border). A wrong "wrap" on a real crop costs far more than a wrong
"overlap" on a periodic image, so the thresholds ask for strong evidence
(docs/how-it-works.md, "Which boundary: auto").
"""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from ._options import Options
from ._prepare import bin_blocks

#: Axes shorter than this are not tested (the image is then taken as not periodic).
MIN_LENGTH = 16
#: Interior row pairs read per axis (evenly spaced), for the near and the far sets.
SAMPLED_ROWS = 64
#: Separation at which a block size counts (its seam enters the axis' means).
CONSIDERED = 2.0
#: Separation every axis needs at one block size at least to prove anything ...
INFORMATIVE = 2.5
#: ... and one axis of the image at least is convincing: a separation of
#: ``CONVINCING``, mean ``z_near`` at most ``CLEAR_NEAR`` and mean ``z_far`` at most
#: minus ``CLEAR_FAR``.
CONVINCING = 3.0
CLEAR_NEAR = 1.2
CLEAR_FAR = 2.8
#: A periodic axis: mean ``z_near`` at most this, and mean ``z_far`` at most minus
#: ``FAR_LIMIT``.
NEAR_LIMIT = 2.0
FAR_LIMIT = 2.0
#: A periodic image's border (its first and last rows on every axis, pooled) varies as
#: much as the image, within ``exp(-QUIET_BORDER)``: an object on a background has
#: edges that match, but a quiet border gives it away.
QUIET_BORDER = 1.5
#: A discontinuous axis (of a moving image): mean ``z_near`` above this and mean
#: ``z_far`` above minus ``FAR_LIMIT``.
ROUGH_LIMIT = 2.5
#: Rows longer than this on an axis, or of more than a quarter of its square in all
#: (volumes), are read in blocks from the start: on large images the finest block
#: sizes add nothing but time.
ROW_PIXELS = 128
#: Pixels the image's own variance is read from (evenly spaced), for the border test.
SAMPLED_PIXELS = 2**16
#: Floor of the log spreads (a set of identical values is not infinitely precise).
MIN_SPREAD = 0.05
_TINY = 1e-300


@dataclasses.dataclass(frozen=True)
class SeamScore:
    """The seam of one axis at one block size (see the module's docstring)."""

    block: int
    separation: float
    z_near: float
    z_far: float


@dataclasses.dataclass(frozen=True)
class AxisSeam:
    """The seam of one axis, over the block sizes that separate the two cases.

    ``separation`` is the largest of the block sizes; ``z_near`` and ``z_far`` are
    the means over those that separate the cases (NaN when none does).
    """

    separation: float
    z_near: float
    z_far: float

    @property
    def periodic(self) -> bool:
        """The seam is shown to join like neighbouring rows."""
        return (
            self.separation >= INFORMATIVE
            and self.z_near <= NEAR_LIMIT
            and self.z_far <= -FAR_LIMIT
        )

    @property
    def convincing(self) -> bool:
        """The seam is shown to join like neighbouring rows, with margins to spare."""
        return (
            self.separation >= CONVINCING
            and self.z_near <= CLEAR_NEAR
            and self.z_far <= -CLEAR_FAR
        )

    @property
    def discontinuous(self) -> bool:
        """The seam is shown to join like unrelated rows."""
        return self.z_near > ROUGH_LIMIT and self.z_far > -FAR_LIMIT


def seam_scores(image: np.ndarray, axis: int) -> list[SeamScore]:
    """The seam of ``axis`` scored at block sizes 1, 2, 4, ... along the other axes."""
    rows = np.moveaxis(np.asarray(image), axis, 0)
    n = rows.shape[0]
    pairs = np.unique(np.linspace(0, n - 2, min(SAMPLED_ROWS, n - 1)).round().astype(int))
    half = n // 2
    far = np.unique(np.linspace(0, n - 1 - half, min(SAMPLED_ROWS, n - half)).round().astype(int))
    # Only the rows read are kept: near pairs, far pairs and the two seam rows.
    index = np.concatenate([pairs, pairs + 1, far, far + half, [0, n - 1]])
    block = rows[index].astype(np.float64)
    cut = np.cumsum([len(pairs), len(pairs), len(far), len(far)])
    out = []
    size, longest = 1, max(rows.shape[1:], default=1)
    while block[0].size > ROW_PIXELS**2 / 4 or longest > size * ROW_PIXELS:
        block, size = _halve(block), size * 2  # large rows: start at coarser blocks
    while True:
        flat = block.reshape(len(index), -1)
        lower, upper, start, end, edges = np.split(flat, cut)
        near = _mean_square(upper - lower)
        seam = float(np.mean((edges[0] - edges[1]) ** 2))
        out.append(SeamScore(size, *_compare(near, _mean_square(end - start), seam)))
        if size >= longest:
            return out
        block = _halve(block)
        size *= 2


def axis_seam(image: np.ndarray, axis: int) -> AxisSeam:
    """The scores of :func:`seam_scores` summed up for ``axis``."""
    scores = seam_scores(image, axis)
    counted = [s for s in scores if s.separation >= CONSIDERED]
    separation = max(s.separation for s in scores)
    if not counted:
        return AxisSeam(separation, np.nan, np.nan)
    return AxisSeam(
        separation=separation,
        z_near=float(np.mean([s.z_near for s in counted])),
        z_far=float(np.mean([s.z_far for s in counted])),
    )


def is_periodic(image: np.ndarray) -> bool:
    """Whether every axis of ``image`` is shown to wrap (see the module's docstring).

    False for any axis shorter than ``MIN_LENGTH``, for non-finite pixels, for
    flat, noise-only or white images (no block size separates the cases) and for
    any seam that joins like unrelated rows.
    """
    image = np.asarray(image)
    if min(image.shape) < MIN_LENGTH:
        return False
    # The seams first: a real crop fails on its first axis, having read a few rows.
    seams = []
    for axis in range(image.ndim):
        seams.append(axis_seam(image, axis))
        if not seams[-1].periodic:
            return False
    if not any(seam.convincing for seam in seams):
        return False
    return _finite(image) and not _quiet_border(image)


def is_discontinuous(image: np.ndarray) -> bool:
    """Whether some seam of ``image`` is shown not to wrap. Non-finite pixels and
    axes shorter than ``MIN_LENGTH`` count as discontinuous; images too noisy to
    tell do not."""
    image = np.asarray(image)
    if min(image.shape) < MIN_LENGTH or not _finite(image):
        return True
    return any(axis_seam(image, axis).discontinuous for axis in range(image.ndim))


def _finite(image: np.ndarray) -> bool:
    """No NaN or infinite pixel (one sum, rather than a mask of the image)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.sum(image, dtype=np.float64)))


def _mean_square(differences: np.ndarray) -> np.ndarray:
    return np.mean(differences * differences, axis=1)


def _halve(block: np.ndarray) -> np.ndarray:
    """Means of pairs of pixels along every axis but the first (an odd last pixel is
    dropped; an axis of one pixel stays)."""
    return bin_blocks(block, (1, *(2 if n >= 2 else 1 for n in block.shape[1:])))


def _log_location(values: np.ndarray) -> tuple[float, float]:
    """Median and MAD-based spread of ``log(values)``."""
    logs = np.log(np.maximum(values, _TINY))
    median = _median(logs)
    spread = 1.4826 * _median(np.abs(logs - median))
    return median, max(spread, MIN_SPREAD)


def _median(values: np.ndarray) -> float:
    """The median of a short 1-D array (np.median's overhead is most of its time here)."""
    ordered = np.sort(values)
    n = len(ordered)
    return 0.5 * float(ordered[(n - 1) // 2] + ordered[n // 2])


def _compare(near: np.ndarray, far: np.ndarray, seam: float) -> tuple[float, float, float]:
    """Separation of the near and far sets, and the seam's score against each."""
    near_mid, near_spread = _log_location(near)
    far_mid, far_spread = _log_location(far)
    log_seam = float(np.log(max(seam, _TINY)))
    return (
        (far_mid - near_mid) / float(np.hypot(near_spread, far_spread)),
        (log_seam - near_mid) / near_spread,
        (log_seam - far_mid) / far_spread,
    )


def _quiet_border(image: np.ndarray) -> bool:
    """Whether the pixels on the image's border vary far less than the image (or the
    image is flat), as they are or averaged in blocks of 4 (which lowers the noise
    that can hide a quiet background)."""
    binned = image[None].astype(np.float64)
    for _ in range(2):
        binned = _halve(binned)
    return any(_border_ratio(candidate) < -QUIET_BORDER for candidate in (image, binned[0]))


def _border_ratio(image: np.ndarray) -> float:
    """log(variance of the border pixels / variance of the image); -inf if flat."""
    border = [
        np.take(image, index, axis=axis).ravel() for axis in range(image.ndim) for index in (0, -1)
    ]
    # The image's variance from at most SAMPLED_PIXELS evenly spaced pixels.
    sample = image.ravel()[:: max(1, image.size // SAMPLED_PIXELS)]
    inside = float(np.var(sample, dtype=np.float64))
    edge = float(np.var(np.concatenate(border), dtype=np.float64))
    if not (inside > 0 and edge > 0):
        return -np.inf
    return float(np.log(edge / inside))


def stack_options(options: Options, frames, reference, *, masked: bool = False) -> Options:
    """``options`` with ``boundary="auto"`` decided once for a stack, on its reference.

    ``frames`` has the frames first; ``reference`` is a frame index, an image, or
    ``"mean"`` or ``"previous"``, which are decided on the first frame (the mean of
    periodic frames is periodic; that of crops is not). Every frame then takes one
    model, so the drift is measured the same way along the stack. A masked stack
    takes the overlap model, as a masked pair does.
    """
    if options.boundary != "auto":
        return options
    if masked:
        return dataclasses.replace(options, boundary="overlap")
    if isinstance(reference, str):
        frame = frames[0]
    elif isinstance(reference, numbers.Integral):
        frame = frames[int(reference)]
    else:
        frame = reference
    periodic = is_periodic(np.asarray(frame))
    return dataclasses.replace(options, boundary="wrap" if periodic else "overlap")
