"""Cost of the default's post-search stages (issues 13, 14, 15; budget: 20% of a registration).

Times four variants of ``register`` on the same pair, alternated within each repeat
(medians; the machine may be loaded, so read the ratios, which are measured in the
same run):

* ``bare``: ``errors="fisher", outliers=False``, the search, refinement and the
  surface's errors (with the significance test);
* ``+outliers``: the outlier stage on top (``errors="fisher"``);
* ``+errors``: the residual errors' stage on top (``outliers=False``);
* ``default``: both (``register``'s defaults).

Pairs: real crop-and-bin pairs of 96, 512 and 2048 pixels a side (SNR 30), and a
96³ volume cut and binned from a synthetic textured scene; then ``register_stack``
on frames of 512² cut from the same scene at known offsets, default against bare.
Each cell gives the wall-clock median and, in brackets, the process CPU time
median (less sensitive to other jobs; FFT threads add up in it).

Usage::

    python benchmarks/errors_speed.py [--repeats N] [--frames N]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import scipy.ndimage

from napari_imreg.core import register, register_stack
from napari_imreg.core._binned_pairs import load_scene, make_binned_pair

VARIANTS = {
    "bare": {"errors": "fisher", "outliers": False},
    "+outliers": {"errors": "fisher"},
    "+errors": {"outliers": False},
    "default": {},
}


def _timed(function, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    function(*args, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu


def _volume_scene(size: int, rng) -> np.ndarray:
    """A textured 3-D scene: smoothed noise at two scales and a few hundred blobs."""
    coarse = scipy.ndimage.gaussian_filter(rng.normal(size=(size,) * 3), 6.0)
    fine = scipy.ndimage.gaussian_filter(rng.normal(size=(size,) * 3), 1.5)
    blobs = np.zeros((size,) * 3)
    points = rng.integers(0, size, size=(400, 3))
    blobs[tuple(points.T)] = rng.uniform(1.0, 3.0, len(points))
    blobs = scipy.ndimage.gaussian_filter(blobs, 1.2)
    return coarse / coarse.std() + 0.5 * fine / fine.std() + 8.0 * blobs / blobs.max()


def _pairs():
    scene = load_scene("retina")
    for size, factor in ((96, 4), (512, 2), (2048, 1)):
        while size * factor + 16 > min(scene.shape):
            scene = np.tile(scene, (2, 2))
        pair = make_binned_pair(scene, (size, size), (5, -3), bin_factor=factor, rng=1, snr=30)
        yield f"{size}²", pair.reference, pair.moving
    volume = _volume_scene(2 * 96 + 16, np.random.default_rng(3))
    pair = make_binned_pair(volume, (96,) * 3, (5, -3, 2), bin_factor=2, rng=1, snr=30)
    yield "96³", pair.reference, pair.moving


def _stack(frames: int):
    scene = load_scene("retina")
    rng = np.random.default_rng(2)
    reference = None
    images = []
    for _ in range(frames):
        offset = rng.integers(-6, 7, size=2)
        pair = make_binned_pair(
            scene, (512, 512), offset, bin_factor=2, rng=rng, snr=30, start=(200, 200)
        )
        reference = pair.reference if reference is None else reference
        images.append(pair.moving)
    return reference, np.stack(images)


def _cell(times, key, base):
    wall = float(np.median([t[0] for t in times[key]]))
    cpu = float(np.median([t[1] for t in times[key]]))
    text = f"{wall * 1e3:.1f} ms ({cpu * 1e3:.1f})"
    if key != base:
        bare_wall = float(np.median([t[0] for t in times[base]]))
        bare_cpu = float(np.median([t[1] for t in times[base]]))
        text += f" {wall / bare_wall - 1:+.0%} ({cpu / bare_cpu - 1:+.0%})"
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--frames", type=int, default=24)
    args = parser.parse_args()
    print("| pair | " + " | ".join(VARIANTS) + " |")
    print("|---|" + "---|" * len(VARIANTS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, reference, moving in _pairs():
            register(reference, moving)  # warm the FFT plans
            repeats = args.repeats if reference.size < 2**21 else max(3, args.repeats // 2)
            times = {key: [] for key in VARIANTS}
            for _ in range(repeats):
                for key, options in VARIANTS.items():
                    times[key].append(_timed(register, reference, moving, **options))
            print(f"| {name} | " + " | ".join(_cell(times, k, "bare") for k in VARIANTS) + " |")
        if args.frames:
            reference, frames = _stack(args.frames)
            register_stack(frames[:2], reference=reference)  # warm
            times = {"bare": [], "default": []}
            for _ in range(max(3, args.repeats // 2)):
                for key in times:
                    times[key].append(
                        _timed(register_stack, frames, reference=reference, **VARIANTS[key])
                    )
            print(
                f"| stack {args.frames}×512² | {_cell(times, 'bare', 'bare')} | | "
                f"| {_cell(times, 'default', 'bare')} |"
            )


if __name__ == "__main__":
    main()
