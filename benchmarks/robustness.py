"""The table of tracker issue 14: accuracy on real pairs that differ by more than a shift.

Every case of ``hostile_pairs.CASES`` is drawn on the same trials (the same scenes,
crops and noise: trial ``k`` is seeded by ``k`` alone, so the clean pair and each
hostile pair share everything but the hostile addition), and each method runs on
the very same arrays:

* ``register`` (today's default, ``napari_imreg.core.register``);
* ``register_robust`` (the prototype of issue 14, ``napari_imreg.core._robust``),
  with its default ``brightness="scale+offset"`` and with ``"scale+offset+tilt"``;
* scikit-image ``phase_cross_correlation(upsample_factor=100)`` (no positional
  error: its pull is not given);
* image_registration 0.2.10 ``chi2_shift`` (the reference package, installed),
  whose ``(dx, dy)`` offset of image 2 is minus our ``(dy, dx)``.

For each case and method: the rms error over the trials (all components), the
share of trials off by more than 0.5 px on some axis, and the largest |pull|
(error over the reported 1-sigma). Then time-lapses of 40 frames that drift while
fading 5% a frame, or while their background rises by 5 scene stds, for every
reference choice: the worst frame's error. Then the cost of ``register_robust``
against ``register`` at 96 and 512 px.

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
from napari_imreg.core._robust import register_robust

ROOT_SEED = 20261205


def _ours(reference, moving):
    result = register(reference, moving, threads=1)
    return result.shift, result.error


def _robust(reference, moving):
    result = register_robust(reference, moving, threads=1)
    return result.shift, result.error


def _robust_tilt(reference, moving):
    result = register_robust(reference, moving, brightness="scale+offset+tilt", threads=1)
    return result.shift, result.error


def _robust_plain(reference, moving):
    result = register_robust(reference, moving, outliers=False, threads=1)
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
    "register (today)": _ours,
    "register_robust": _robust,
    "register_robust +tilt": _robust_tilt,
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


def _robust_stack(stack, reference, brightness="scale+offset"):
    shifts = np.zeros((len(stack), stack.ndim - 1))
    if reference == "previous":
        for k in range(1, len(stack)):
            step = register_robust(stack[k - 1], stack[k], brightness=brightness)
            shifts[k] = shifts[k - 1] + step.shift
        return shifts
    target = stack.mean(axis=0) if reference == "mean" else stack[reference]
    return np.array(
        [register_robust(target, frame, brightness=brightness).shift for frame in stack]
    )


def stack_table() -> list[str]:
    """Rows of the time-lapse table: the worst frame's error, relative to frame 0."""
    rows = [
        "| time-lapse (40 frames, camera) | reference | register_stack worst (px) "
        "| register_robust loop worst (px) | register_robust +tilt loop worst (px) |",
        "|---|---|---|---|---|",
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
                today = np.asarray(register_stack(stack, reference=reference).shifts)
            robust = _robust_stack(stack, reference)
            tilted = _robust_stack(stack, reference, "scale+offset+tilt")
            worst = [np.abs((s - s[0]) - positions).max() for s in (today, robust, tilted)]
            name = "first" if reference == 0 else reference
            rows.append(f"| {title} | {name} | {worst[0]:.3g} | {worst[1]:.3g} | {worst[2]:.3g} |")
    return rows


def cost_table(repeats: int = 5) -> list[str]:
    """Median wall time of one registration, one thread."""
    rows = [
        "| size | register (ms) | register_robust (ms) | +tilt (ms) | outliers=False (ms) |",
        "|---|---|---|---|---|",
    ]
    for size in (96, 512):
        # Full-resolution windows of the retina scene, 5 and -7 px apart.
        rng = np.random.default_rng(1)
        image = hostile_pairs.scene("retina")
        reference = image[400 : 400 + size, 400 : 400 + size]
        moving = image[405 : 405 + size, 393 : 393 + size]
        reference = reference + rng.normal(0, 1.0, reference.shape)
        moving = moving + rng.normal(0, 1.0, moving.shape)
        times = {}
        for label, method in (
            ("register", _ours),
            ("robust", _robust),
            ("tilt", _robust_tilt),
            ("no outliers", _robust_plain),
        ):
            method(reference, moving)  # plans, caches
            spent = []
            for _ in range(repeats):
                start = time.perf_counter()
                method(reference, moving)
                spent.append(time.perf_counter() - start)
            times[label] = 1e3 * float(np.median(spent))
        rows.append(
            f"| {reference.shape[0]} | {times['register']:.1f} | {times['robust']:.1f} "
            f"| {times['tilt']:.1f} | {times['no outliers']:.1f} |"
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
