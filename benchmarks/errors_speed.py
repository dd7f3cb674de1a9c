"""Cost of issue 13's errors in the pipeline (budget: 20% of a default registration).

Times ``register(errors="fisher")`` (the surface's errors and the significance test)
and ``register(errors="residual")`` (the default: the image-space stage as well) on
real crop-and-bin pairs of 96, 512 and 2048 pixels a side, alternating the two
(medians; the machine may be loaded), and the significance test alone.

Usage::

    python benchmarks/errors_speed.py [--repeats N]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from napari_imreg.core import register
from napari_imreg.core._binned_pairs import load_scene, make_binned_pair
from napari_imreg.core._significance import match_significance


def _time(function, *args, **kwargs):
    start = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    scene = load_scene("retina")
    print(
        "| size | register, fisher | register, residual (default) | residual / fisher - 1 "
        "| significance test |"
    )
    print("|---|---|---|---|---|")
    for size, factor in ((96, 4), (512, 2), (2048, 1)):
        while size * factor + 16 > min(scene.shape):
            scene = np.tile(scene, (2, 2))
        pair = make_binned_pair(scene, (size, size), (5, -3), bin_factor=factor, rng=1, snr=30)
        repeats = max(1, args.repeats if size < 2048 else args.repeats // 2)
        times = {"fisher": [], "residual": [], "significance": []}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            register(pair.reference, pair.moving)  # warm the FFT plans
            for _ in range(repeats):
                for errors in ("fisher", "residual"):
                    times[errors].append(
                        _time(register, pair.reference, pair.moving, errors=errors)
                    )
                times["significance"].append(
                    _time(match_significance, pair.reference, pair.moving, max_shift=size // 4)
                )
        fisher, residual, sig = (float(np.median(times[k])) for k in times)
        print(
            f"| {size}² | {fisher:.4f} s | {residual:.4f} s | {residual / fisher - 1:+.0%} "
            f"| {sig:.4f} s |"
        )


if __name__ == "__main__":
    main()
