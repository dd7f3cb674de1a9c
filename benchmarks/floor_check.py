"""The floor check's evidence (issue 13): calibration and accuracy of the default on real
crop-and-bin pairs at 96 and 48 px, and on band-limited crops.

Real pairs: scikit-image scenes in turn, windows a whole number of full-resolution pixels
apart, binned 4x4 (exact truth), Gaussian or Poisson noise, SNR 1-100; the noise estimated,
or given as scalars (``real48s``). Band-limited: ``make_crop_pair`` at 97 px, noise 1 and
0.1. Per row: the rms error of the pairs within 0.5 px, the median absolute error, the pull
rms, the 3-sigma coverage (both axes) and the count beyond 4 sigma, over the pairs the
default calls measured. Run it at two commits to compare them::

    python benchmarks/floor_check.py                 # every row, a few minutes
    python benchmarks/floor_check.py real96 synth1   # some rows
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

from napari_imreg.core import make_crop_pair, register
from napari_imreg.core._binned_pairs import SCENE_GROUPS, load_scene, make_binned_pair

SCENES = [name for group in SCENE_GROUPS.values() for name in group if name != "microaneurysms"]


def _quietly(reference, moving, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return register(reference, moving, **kwargs)


def real(count: int, size: int, seed: int, mode: str = "estimated") -> np.ndarray:
    """(error y, error x, sigma y, sigma x) of the measured real pairs."""
    rows, scenes = [], {}
    for index in range(count):
        rng = np.random.default_rng(seed + index)
        name = SCENES[index % len(SCENES)]
        scene = scenes.setdefault(name, load_scene(name))
        noise = ("gaussian", "poisson")[index % 2]
        snr = float(rng.choice([1, 3, 10, 30, 100]))
        offset = rng.integers(-12, 13, 2)
        side = size
        while min(scene.shape) < 4 * side + 24:
            side = side * 3 // 4
        pair = make_binned_pair(scene, (side, side), offset, rng=rng, noise=noise, snr=snr)
        kwargs = {}
        if mode == "scalar":
            kwargs = {
                "error": np.sqrt(pair.moving_variance.mean()),
                "reference_error": np.sqrt(pair.reference_variance.mean()),
            }
        result = _quietly(pair.reference, pair.moving, **kwargs)
        if result.measured:
            rows.append(np.concatenate([result.shift - pair.shift, result.error]))
    return np.array(rows)


def band_limited(count: int, size: int, noise: float) -> np.ndarray:
    """(error y, error x, sigma y, sigma x) of ``make_crop_pair`` pairs."""
    rows, rng = [], np.random.default_rng(1)
    for _ in range(count):
        truth = rng.uniform(-3, 3, 2)
        reference, moving = make_crop_pair(size, truth, noise=noise, seed=int(rng.integers(2**62)))
        result = _quietly(reference, moving)
        rows.append(np.concatenate([result.shift - truth, result.error]))
    return np.array(rows)


def show(label: str, rows: np.ndarray) -> None:
    off, sigma = rows[:, :2], rows[:, 2:]
    converged = np.all(np.abs(off) < 0.5, axis=1)
    pull = off / sigma
    print(
        f"{label}: n={len(rows)}"
        f" rms(within 0.5 px) {np.sqrt(np.mean(off[converged] ** 2)):.4f}"
        f" median|error| {np.median(np.abs(off)):.4f}"
        f" pull rms {np.sqrt(np.mean(pull**2)):.2f}"
        f" cov3 {np.mean(np.all(np.abs(pull) < 3, axis=1)):.2f}"
        f" beyond 4 sigma {np.sum(np.abs(pull).max(axis=1) > 4)}",
        flush=True,
    )


ROWS = {
    "real96": lambda: show("real 96 px", real(60, 96, 9000)),
    "real48": lambda: show("real 48 px", real(80, 48, 4000)),
    "real48s": lambda: show("real 48 px, scalar noise", real(80, 48, 4000, "scalar")),
    "synth1": lambda: show("band-limited 97 px, noise 1", band_limited(40, 97, 1.0)),
    "synth01": lambda: show("band-limited 97 px, noise 0.1", band_limited(40, 97, 0.1)),
}

if __name__ == "__main__":
    for key in sys.argv[1:] or list(ROWS):
        ROWS[key]()
