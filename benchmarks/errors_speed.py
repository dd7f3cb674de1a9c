"""Cost of the issue-13 stages against a default ``register`` (budget: 20% of it).

Times ``register`` (default options), :func:`~napari_imreg.core._image_fit.fit_image_shift`
(from the pipeline's shift) and :func:`~napari_imreg.core._significance.match_significance`
on real crop-and-bin pairs of 96, 512 and 2048 pixels a side (best of a few runs).

Usage::

    python benchmarks/errors_speed.py
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from napari_imreg.core import register
from napari_imreg.core._binned_pairs import load_scene, make_binned_pair
from napari_imreg.core._image_fit import fit_image_shift
from napari_imreg.core._significance import match_significance


def _best(function, repeats, *args, **kwargs):
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best


def main():
    scene = load_scene("retina")
    print("| size | register | fit_image_shift | match_significance | stages / register |")
    print("|---|---|---|---|---|")
    for size, factor, repeats in ((96, 4, 5), (512, 2, 3), (2048, 1, 1)):
        if size * factor + 16 > min(scene.shape):
            scene = np.tile(scene, (2, 2))
        pair = make_binned_pair(scene, (size, size), (5, -3), bin_factor=factor, rng=1, snr=30)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = register(pair.reference, pair.moving)
            t_reg = _best(register, repeats, pair.reference, pair.moving)
        t_fit = _best(fit_image_shift, repeats, pair.reference, pair.moving, result.shift)
        t_sig = _best(
            match_significance, repeats, pair.reference, pair.moving, max_shift=size // 4
        )
        print(
            f"| {size}² | {t_reg:.3f} s | {t_fit:.3f} s | {t_sig:.3f} s "
            f"| {(t_fit + t_sig) / t_reg:.0%} |"
        )


if __name__ == "__main__":
    main()
