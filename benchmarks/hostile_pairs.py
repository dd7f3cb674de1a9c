"""Real image pairs with a known shift and the things real pairs differ by besides it.

A pair is two crop windows of one of scikit-image's bundled scenes that differ by a
whole number of full-resolution pixels, each binned ``BIN`` x ``BIN``: the true shift
is that number over ``BIN``, exactly, with no interpolation anywhere. Gaussian noise of
``NOISE`` times the binned scene's standard deviation goes into both images. Then one
of the hostile cases of tracker issue 14 is applied by known amounts: a gain, a gain
and an offset, a background gradient, hot pixels, cosmic-ray streaks, saturation;
:func:`make_stack` makes time-lapses that drift while they fade or while their
background drifts.

The shift convention is the package's: ``shift`` is the translation that registers
the moving image onto the reference, ``moving(y) = reference(y + shift)``.

Used by ``tests/core/test_robust.py`` and ``benchmarks/robustness.py``; run it to
print one pair per case::

    python benchmarks/hostile_pairs.py
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import skimage.data

#: The scenes, all bundled with scikit-image (no download). Colour ones give one channel.
SCENES = (
    "astronaut",
    "brick",
    "camera",
    "cat",
    "cell",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "horse",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "page",
    "retina",
    "rocket",
    "text",
)
#: Full-resolution pixels per binned pixel: true shifts are multiples of 1 / BIN.
BIN = 4
#: The noise added to each image, as a fraction of the binned scene's std (as the issue).
NOISE = 0.03
#: The largest true shift per axis, in binned pixels.
MAX_SHIFT = 3.0
#: The cases of issue 14, in the order of its table.
CASES = (
    "clean",
    "gain 0.3",
    "gain 3",
    "gain 10 + offset",
    "gradient",
    "hot pixels",
    "streaks",
    "hot pixels + streaks",
    "saturation",
)


@dataclass(frozen=True)
class Pair:
    """A reference, a moving image and the shift that registers one onto the other."""

    reference: np.ndarray
    moving: np.ndarray
    shift: np.ndarray
    scene: str
    case: str
    noise: float  # the 1-sigma noise added to each image, before any gain


@cache
def scene(name: str) -> np.ndarray:
    """A bundled scene as float64; colour scenes give their green channel (read only)."""
    image = np.asarray(getattr(skimage.data, name)(), dtype=np.float64)
    if image.ndim == 3:
        image = image[..., 1]
    image.setflags(write=False)
    return image


def binned(image: np.ndarray, factor: int = BIN) -> np.ndarray:
    """Means of ``factor`` x ``factor`` blocks (the shape must divide)."""
    ny, nx = image.shape[0] // factor, image.shape[1] // factor
    return image[: ny * factor, : nx * factor].reshape(ny, factor, nx, factor).mean(axis=(1, 3))


def crop_pair(name: str, shift_full, *, size: int = 96, rng) -> tuple[np.ndarray, np.ndarray]:
    """Two binned crops of ``name``, ``size`` binned pixels square (smaller if the scene
    is), whose windows differ by ``shift_full`` full-resolution pixels: the moving
    window starts ``shift_full`` further along, so ``moving(y) = reference(y + s)``
    with ``s = shift_full / BIN``. The windows sit at a random place in the scene."""
    image = scene(name)
    shift_full = np.asarray(shift_full, dtype=int)
    reach = int(np.ceil(MAX_SHIFT * BIN))
    side = min(size * BIN, min(image.shape) - 2 * reach - 1)
    side -= side % BIN
    corner = [int(rng.integers(reach, n - side - reach + 1)) for n in image.shape]
    window = tuple(slice(c, c + side) for c in corner)
    moved = tuple(slice(c + k, c + k + side) for c, k in zip(corner, shift_full, strict=True))
    return binned(image[window]), binned(image[moved])


def _line(shape, start, angle, length) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of a straight segment (one per half pixel of length, duplicates removed)."""
    t = np.linspace(0.0, length, max(2, int(2 * length)))
    y = np.round(start[0] + t * np.sin(angle)).astype(int)
    x = np.round(start[1] + t * np.cos(angle)).astype(int)
    keep = (y >= 0) & (y < shape[0]) & (x >= 0) & (x < shape[1])
    pixels = np.unique(np.stack([y[keep], x[keep]]), axis=1)
    return pixels[0], pixels[1]


def add_hot_pixels(image: np.ndarray, fraction: float, level: float, rng) -> np.ndarray:
    """``image`` with ``fraction`` of its pixels (at least one) set to ``level``."""
    out = image.copy()
    count = max(1, round(fraction * image.size))
    index = rng.choice(image.size, size=count, replace=False)
    out.flat[index] = level
    return out


def add_streaks(image: np.ndarray, count: int, level: float, rng) -> np.ndarray:
    """``image`` with ``count`` cosmic-ray streaks 2-8 px long adding ``level`` (x 0.5-1)."""
    out = image.copy()
    for _ in range(count):
        start = [rng.uniform(0, n) for n in image.shape]
        y, x = _line(image.shape, start, rng.uniform(0, np.pi), rng.uniform(2.0, 8.0))
        out[y, x] += level * rng.uniform(0.5, 1.0)
    return out


def make_pair(name: str, case: str, *, rng, size: int = 96) -> Pair:
    """One pair of ``case`` (see ``CASES``) cut from scene ``name`` at a random true shift."""
    if case not in CASES:
        raise ValueError(f"case must be one of {CASES}, got {case!r}.")
    shift_full = rng.integers(-int(MAX_SHIFT * BIN), int(MAX_SHIFT * BIN) + 1, size=2)
    reference, moving = crop_pair(name, shift_full, size=size, rng=rng)
    std = float(reference.std())
    sigma = NOISE * std
    reference = reference + rng.normal(0.0, sigma, reference.shape)
    moving = moving + rng.normal(0.0, sigma, moving.shape)
    bright = float(reference.mean() + 50.0 * std)  # "very bright": far above any scene pixel
    if case == "gain 0.3":
        moving = 0.3 * moving
    elif case == "gain 3":
        moving = 3.0 * moving
    elif case == "gain 10 + offset":
        moving = 10.0 * moving + 5.0 * std + 2.0 * float(reference.mean())
    elif case == "gradient":
        # A background ramp across the moving image, one scene std from corner to corner.
        y, x = np.indices(moving.shape) / np.array(moving.shape).reshape(2, 1, 1)
        angle = rng.uniform(0, 2 * np.pi)
        moving = moving + std * (np.cos(angle) * y + np.sin(angle) * x)
    if case in ("hot pixels", "hot pixels + streaks"):
        fraction = rng.uniform(1e-4, 5e-4)
        reference = add_hot_pixels(reference, fraction, bright, rng)
        moving = add_hot_pixels(moving, fraction, bright, rng)
    if case in ("streaks", "hot pixels + streaks"):
        reference = add_streaks(reference, 3, bright, rng)
        moving = add_streaks(moving, 3, bright, rng)
    if case == "saturation":
        # A longer exposure of the moving image on the same detector: both clip at one
        # full well, set where 1% of the reference's pixels reach it.
        full_well = float(np.quantile(reference, 0.99))
        reference = np.minimum(reference, full_well)
        moving = np.minimum(1.2 * moving, full_well)
    return Pair(reference, moving, shift_full / BIN, name, case, sigma)


def usable_scenes(size: int = 96, smallest: int = 40) -> tuple[str, ...]:
    """The scenes big enough for binned crops of at least ``smallest`` pixels."""
    reach = int(np.ceil(MAX_SHIFT * BIN))
    out = []
    for name in SCENES:
        side = min(size * BIN, min(scene(name).shape) - 2 * reach - 1) // BIN
        if side >= smallest:
            out.append(name)
    return tuple(out)


def make_stack(
    name: str,
    *,
    frames: int = 40,
    fade: float = 0.05,
    background: float = 0.0,
    tilt: float = 0.0,
    rng,
    size=96,
) -> tuple[np.ndarray, np.ndarray]:
    """A time-lapse that drifts by a random walk of whole full-resolution pixels.

    Frame ``k`` is multiplied by ``(1 - fade)**k`` (bleaching) and gains
    ``background * k / frames`` scene stds of background, tilted by ``tilt`` (its
    relative change across the frame: a drift of the background and of its
    gradient). Returns the stack and the true position of each frame (binned
    pixels, frame 0 at zero), which is also the shift that registers frame ``k``
    onto frame 0 (``register_stack(reference=0)`` should report it).
    """
    image = scene(name)
    steps = rng.integers(-2, 3, size=(frames, 2))
    steps[0] = 0
    walk = np.cumsum(steps, axis=0)
    walk -= np.round(walk.mean(axis=0)).astype(int)
    reach = int(np.ceil(MAX_SHIFT * BIN))
    if np.abs(walk).max() > reach:
        walk = np.clip(walk, -reach, reach)
    side = min(size * BIN, min(image.shape) - 2 * reach - 1)
    side -= side % BIN
    corner = [int(rng.integers(reach, n - side - reach + 1)) for n in image.shape]
    std = None
    stack = []
    for k, (dy, dx) in enumerate(walk):
        window = (
            slice(corner[0] + dy, corner[0] + dy + side),
            slice(corner[1] + dx, corner[1] + dx + side),
        )
        frame = binned(image[window])
        if std is None:
            std = float(frame.std())
        frame = frame + rng.normal(0.0, NOISE * std, frame.shape)
        frame = frame * (1.0 - fade) ** k
        if background:
            y, x = np.indices(frame.shape) / frame.shape[0]
            frame = frame + background * std * (k / frames) * (1.0 + tilt * (0.8 * y + 0.6 * x))
        stack.append(frame)
    positions = (walk - walk[0]) / BIN
    return np.stack(stack), positions


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    for case in CASES:
        pair = make_pair("moon", case, rng=rng)
        print(f"{case:22s} shape {pair.reference.shape} shift {pair.shift}")
