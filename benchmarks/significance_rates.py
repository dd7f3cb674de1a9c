"""False-alarm and miss rates of :func:`~napari_imreg.core._significance.match_significance`.

Real crop-and-bin pairs (48x48, 4x4 binning, Gaussian noise) at signal-to-noise
0.1 to 100 per pixel, pure-noise pairs and pairs of two unrelated scenes, with
``max_shift=12``. For real pairs: the fraction detected, and among the detected
the fraction whose peak is not within half a correlation cell of the truth.
For the null pairs: the fraction wrongly called significant (target ~ alpha = 1e-3).

Usage::

    python benchmarks/significance_rates.py [--trials 40]
"""

from __future__ import annotations

import argparse

import numpy as np

from napari_imreg.core._binned_pairs import load_scene, make_binned_pair
from napari_imreg.core._significance import match_significance

SCENES = ("camera", "moon", "cell", "hubble_deep_field", "gravel", "coffee", "astronaut", "coins")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(20261208)
    scenes = {name: load_scene(name) for name in SCENES}
    print("| pairs | SNR | detected | peak beyond half a cell, among detected | trials |")
    print("|---|---|---|---|---|")
    for snr in (0.1, 0.3, 1.0, 3.0, 10.0, 100.0):
        detected, wrong = 0, 0
        for t in range(args.trials):
            scene = scenes[SCENES[t % len(SCENES)]]
            pair = make_binned_pair(scene, (48, 48), rng.integers(-32, 33, 2), rng=rng, snr=snr)
            result = match_significance(pair.reference, pair.moving, max_shift=12)
            if result.significant:
                detected += 1
                # The test's peak locates the match to within half a correlation
                # cell (its ``agrees`` reach); the shift itself comes from the pipeline.
                reach = max(1.5, 0.5 * np.sqrt(result.cell))
                wrong += bool(np.any(np.abs(result.peak - pair.shift) > reach))
        print(
            f"| real | {snr:g} | {detected / args.trials:.2f} | {wrong}/{detected} "
            f"| {args.trials} |"
        )
    alarms = 0
    for _ in range(args.trials):
        noise = rng.normal(size=(2, 48, 48))
        alarms += match_significance(noise[0], noise[1], max_shift=12).significant
    print(f"| pure noise | - | {alarms / args.trials:.3f} (false alarms) | - | {args.trials} |")
    alarms = 0
    names = list(scenes)
    for _ in range(args.trials):
        first, second = rng.choice(len(names), 2, replace=False)
        a = make_binned_pair(scenes[names[first]], (48, 48), (0, 0), rng=rng, snr=100)
        b = make_binned_pair(scenes[names[second]], (48, 48), (0, 0), rng=rng, snr=100)
        alarms += match_significance(a.reference, b.reference, max_shift=12).significant
    print(
        f"| unrelated scenes | - | {alarms / args.trials:.3f} (false alarms) | - | {args.trials} |"
    )


if __name__ == "__main__":
    main()
