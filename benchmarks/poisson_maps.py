"""Per-pixel error maps on Poisson data: the bias of issue 13, before and after.

Two set-ups from the issue, each with 20 seeded trials:

* synthetic: a periodic 96x96 intensity ``1000 exp(0.8 g)`` (``g`` a unit
  power-law image), Fourier-shifted, Poisson noise, ``boundary="wrap"``;
* real: moon crops binned 4x4 at 1e4 counts, ``boundary="overlap"``.

For each: ``register`` with the equivalent scalar errors, with the exact variance
maps (the noiseless rates) and with maps from the data (the counts); then the
image-space stage (``fit_image_shift``) with the data maps passed through
``variance_model``. Prints rms error, median reported error and pull rms.

Usage::

    python benchmarks/poisson_maps.py
"""

from __future__ import annotations

import warnings

import numpy as np

from napari_imreg.core import make_extended, make_shifted, register
from napari_imreg.core._binned_pairs import load_scene, make_binned_pair
from napari_imreg.core._image_fit import fit_image_shift, variance_model

TRIALS = 20


def _synthetic(rng):
    g = make_extended(96, seed=int(rng.integers(2**31)))
    g = (g - g.mean()) / g.std()
    shift = rng.uniform(-3, 3, 2)
    rate_ref = 1000 * np.exp(0.8 * g)
    # Fourier shifting rings slightly below zero where the rate is lowest.
    rate_mov = np.maximum(make_shifted(rate_ref, shift), 1e-3)
    return rng.poisson(rate_ref) * 1.0, rng.poisson(rate_mov) * 1.0, rate_ref, rate_mov, shift


def _real(rng, scene):
    pair = make_binned_pair(
        scene, (96, 96), rng.integers(-12, 13, 2), rng=rng, noise="poisson", counts=1e4
    )
    return pair.reference, pair.moving, pair.reference_variance, pair.moving_variance, pair.shift


def _row(label, errors, sigmas):
    errors, sigmas = np.array(errors), np.array(sigmas)
    rms = np.sqrt(np.mean(errors**2))
    pull = np.sqrt(np.mean((errors / sigmas) ** 2))
    print(f"| {label} | {rms:.4f} | {np.median(sigmas):.4f} | {pull:.2f} |")


def main():
    scene = load_scene("moon")
    for name, boundary in (("synthetic", "wrap"), ("real", "overlap")):
        rng = np.random.default_rng(20261207)
        keys = ("scalar", "exact maps", "data maps", "one frame", "stage")
        rows = {k: ([], []) for k in keys}
        for _ in range(TRIALS):
            ref, mov, ref_rate, mov_rate, truth = (
                _synthetic(rng) if name == "synthetic" else _real(rng, scene)
            )
            data_ref, data_mov = np.maximum(ref, 1.0), np.maximum(mov, 1.0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                runs = {
                    "scalar": register(
                        ref,
                        mov,
                        error=np.sqrt(mov.mean()),
                        reference_error=np.sqrt(ref.mean()),
                        boundary=boundary,
                    ),
                    "exact maps": register(
                        ref,
                        mov,
                        error=np.sqrt(mov_rate),
                        reference_error=np.sqrt(ref_rate),
                        boundary=boundary,
                    ),
                    "data maps": register(
                        ref,
                        mov,
                        error=np.sqrt(data_mov),
                        reference_error=np.sqrt(data_ref),
                        boundary=boundary,
                    ),
                }
            for key, result in runs.items():
                rows[key][0].append(result.shift - truth)
                rows[key][1].append(result.error)
            start = runs["scalar"].shift
            ref_var, mov_var = variance_model(data_ref, data_mov, start, boundary=boundary)
            # The integrator's minimal fix in register: one variance map, fixed in the
            # reference frame, so the weights do not move with the trial shift.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fixed = register(
                    ref, mov, reference_error=np.sqrt(ref_var + mov_var), boundary=boundary
                )
            rows["one frame"][0].append(fixed.shift - truth)
            rows["one frame"][1].append(fixed.error)
            fit = fit_image_shift(
                ref,
                mov,
                start,
                reference_variance=ref_var,
                moving_variance=mov_var,
                boundary=boundary,
            )
            rows["stage"][0].append(fit.shift - truth)
            rows["stage"][1].append(fit.error)
        print(f"\n{name} ({boundary}), {TRIALS} trials\n")
        print("| errors given | rms error | median error | pull rms |\n|---|---|---|---|")
        labels = {
            "scalar": "register, scalar",
            "exact maps": "register, exact rate maps",
            "data maps": "register, maps from the data",
            "one frame": "register, variance_model maps as one reference-frame map",
            "stage": "stage, data maps through variance_model",
        }
        for key, (errors, sigmas) in rows.items():
            _row(labels[key], errors, sigmas)


if __name__ == "__main__":
    main()
