"""The table of tracker issue 14: accuracy on real pairs that differ by more than a shift.

Every case of ``hostile_pairs.CASES`` is drawn on the same trials (the same scenes,
crops and noise: trial ``k`` is seeded by ``k`` alone, so the clean pair and each
hostile pair share everything but the hostile addition), and each method runs on
the very same arrays:

* ``register`` with ``brightness="offset"`` (the default before issue 14);
* ``register`` with its default ``brightness="scale+offset"``;
* scikit-image ``phase_cross_correlation(upsample_factor=100)`` (no positional
  error: its pull is not given);
* image_registration 0.2.10 ``chi2_shift`` (the reference package, installed),
  whose ``(dx, dy)`` offset of image 2 is minus our ``(dy, dx)``.

For each case and method: the rms error over the trials (all components), the
share of trials off by more than 0.5 px on some axis, and the largest |pull|
(error over the reported 1-sigma). Then time-lapses of 40 frames that drift while
fading 5% a frame, or while their background rises by 5 scene stds, for every
reference choice: the worst frame's error. Then the cost of the default against
``brightness="offset"`` at 96, 512 and 2048 px (medians, the two alternated).

Usage::

    python benchmarks/robustness.py            # 24 trials per case
    python benchmarks/robustness.py --trials 8 # quicker
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hostile_pairs  # the generator of the pairs
from napari_imreg.core import register, register_stack

ROOT_SEED = 20261205


def _offset(reference, moving):
    result = register(reference, moving, brightness="offset", threads=1)
    return result.shift, result.error


def _ours(reference, moving):
    result = register(reference, moving, threads=1)
    return result.shift, result.error


def _skimage(reference, moving):
    from skimage.registration import phase_cross_correlation

    shift = phase_cross_correlation(reference, moving, upsample_factor=100)[0]
    return np.asarray(shift, dtype=float), None


def _chi2_shift(reference, moving):
    import image_registration

    dx, dy, edx, edy = image_registration.chi2_shift(reference, moving, return_error=True)
    return -np.array([dy, dx], dtype=float), np.array([edy, edx], dtype=float)


METHODS = {
    'register brightness="offset" (the old default)': _offset,
    "register (default scale+offset)": _ours,
    "skimage pcc(100)": _skimage,
    "chi2_shift 0.2.10": _chi2_shift,
}


def pair_table(trials: int) -> list[str]:
    """Rows of the case x method table."""
    scenes = hostile_pairs.usable_scenes()
    rows = [
        "| case | method | rms error (px) | off by > 0.5 px | max pull |",
        "|---|---|---|---|---|",
    ]
    for case in hostile_pairs.CASES:
        pairs = [
            hostile_pairs.make_pair(
                scenes[k % len(scenes)], case, rng=np.random.default_rng([ROOT_SEED, k])
            )
            for k in range(trials)
        ]
        for label, method in METHODS.items():
            errors, pulls = [], []
            for pair in pairs:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    shift, sigma = method(pair.reference, pair.moving)
                errors.append(shift - pair.shift)
                if sigma is not None:
                    # chi2_shift can report an error of exactly 0: an infinite pull.
                    with np.errstate(divide="ignore"):
                        pulls.append((shift - pair.shift) / sigma)
            errors = np.array(errors)
            rms = float(np.sqrt(np.mean(errors**2)))
            off = float(np.mean(np.abs(errors).max(axis=1) > 0.5))
            pull = f"{np.nanmax(np.abs(pulls)):.3g}" if pulls else "n/a"
            rows.append(f"| {case} | {label} | {rms:.3g} | {100 * off:.0f}% | {pull} |")
    return rows


def stack_table() -> list[str]:
    """Rows of the time-lapse table: the worst frame's error, relative to frame 0."""
    rows = [
        "| time-lapse (40 frames, camera) | reference | register_stack offset worst (px) "
        "| register_stack default worst (px) |",
        "|---|---|---|---|",
    ]
    kinds = {
        "steady": {"fade": 0.0},
        "fades 5%/frame": {"fade": 0.05},
        "background +5 std": {"fade": 0.0, "background": 5.0},
        "background +5 std, tilted": {"fade": 0.0, "background": 5.0, "tilt": 0.5},
    }
    for title, options in kinds.items():
        stack, positions = hostile_pairs.make_stack(
            "camera", rng=np.random.default_rng([ROOT_SEED, 99]), **options
        )
        for reference in (0, 20, "mean", "previous"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                old = register_stack(stack, reference=reference, brightness="offset")
                new = register_stack(stack, reference=reference)
            shifts = (np.asarray(old.shifts), np.asarray(new.shifts))
            worst = [np.abs((s - s[0]) - positions).max() for s in shifts]
            name = "first" if reference == 0 else reference
            rows.append(f"| {title} | {name} | {worst[0]:.3g} | {worst[1]:.3g} |")
    return rows


def cost_table(repeats: int = 5) -> list[str]:
    """Median wall time of one registration, one thread."""
    rows = [
        "| size | offset (ms) | scale+offset (ms) | ratio |",
        "|---|---|---|---|",
    ]
    for size in (96, 512, 2048):
        # Full-resolution windows of the retina scene, 5 and -7 px apart.
        rng = np.random.default_rng(1)
        image = hostile_pairs.scene("retina")
        if image.shape[0] < 410 + size:  # 2048 px: the scene mirrored at its edges
            image = np.pad(image, (0, 410 + size - min(image.shape)), mode="reflect")
        reference = image[400 : 400 + size, 400 : 400 + size]
        moving = image[405 : 405 + size, 393 : 393 + size]
        reference = reference + rng.normal(0, 1.0, reference.shape)
        moving = moving + rng.normal(0, 1.0, moving.shape)
        methods = {"offset": _offset, "scale+offset": _ours}
        spent = {label: [] for label in methods}
        for method in methods.values():
            method(reference, moving)  # plans, caches
        for _ in range(repeats):  # alternated: the machine's load falls on both alike
            for label, method in methods.items():
                start = time.perf_counter()
                method(reference, moving)
                spent[label].append(time.perf_counter() - start)
        times = {label: 1e3 * float(np.median(t)) for label, t in spent.items()}
        rows.append(
            f"| {reference.shape[0]} | {times['offset']:.1f} | {times['scale+offset']:.1f} "
            f"| {times['scale+offset'] / times['offset']:.2f} |"
        )
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24, help="pairs per case")
    parser.add_argument("--no-stacks", action="store_true", help="skip the time-lapses")
    args = parser.parse_args(argv)
    for row in pair_table(args.trials):
        print(row, flush=True)
    if not args.no_stacks:
        print()
        for row in stack_table():
            print(row, flush=True)
    print()
    for row in cost_table():
        print(row, flush=True)


if __name__ == "__main__":
    main()
