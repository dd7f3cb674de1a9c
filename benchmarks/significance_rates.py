"""False-alarm and miss rates of :func:`~napari_imreg.core._significance.match_significance`.

Real crop-and-bin pairs (48x48, 4x4 binning, Gaussian noise) at signal-to-noise
0.1 to 100 per pixel, pure-noise pairs and pairs of two unrelated scenes, with
``max_shift=12``. For real pairs: the fraction detected, and among the detected
the fraction whose peak is not within half a correlation cell of the truth.
For the null pairs: the fraction wrongly called significant (target ~ alpha = 1e-3).

``--masked`` repeats every case with masks: each image loses its own random
pixels (a few blobs and scattered hot pixels, about 12% of it), zero-filled as the
pipeline leaves them, and the test is told each image's valid pixels; then the
same nulls through ``register(..., mask=...)``, counting ``measured``.

``--rivals`` measures the rival-minimum test (``core/_ambiguity.py``) through
``register`` with its defaults: per kind of pair and SNR, the share flagged as
rivalled (another match the noise cannot rule out), how many of those were in fact
right (within 0.5 px of the truth on both axes: a false flag, or a lucky pick),
the share measured that is off by 0.5 px or more (a wrong peak), and the pairs
measured with an axis beyond 4 sigma (a silent miss). The
pairs: real crop-and-bin pairs (64x64, every scene), textures (brick, grass,
gravel), band-limited power-law crops (``make_crop_pair``), and a periodic lattice
(a sum of two cosines, period 6 px, wrapping) whose aliases are exact.

Usage::

    python benchmarks/significance_rates.py [--trials 40] [--masked] [--rivals]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import scipy.ndimage

from napari_imreg.core import RegistrationWarning, make_crop_pair, register
from napari_imreg.core._binned_pairs import SCENE_GROUPS, load_scene, make_binned_pair
from napari_imreg.core._significance import match_significance

SCENES = ("camera", "moon", "cell", "hubble_deep_field", "gravel", "coffee", "astronaut", "coins")


def _mask(rng, shape):
    """About 12% of the pixels: a few round blobs and scattered hot pixels."""
    mask = rng.random(shape) < 0.02
    for _ in range(3):
        mask[tuple(rng.integers(0, n) for n in shape)] = True
    return scipy.ndimage.binary_dilation(mask, iterations=2) | (rng.random(shape) < 0.01)


def _test(rng, masked):
    """match_significance, or with ``masked`` the same on masked zero-filled images."""

    def test(reference, moving):
        if not masked:
            return match_significance(reference, moving, max_shift=12)
        valid = (~_mask(rng, reference.shape), ~_mask(rng, moving.shape))
        return match_significance(
            np.where(valid[0], reference, 0.0),
            np.where(valid[1], moving, 0.0),
            max_shift=12,
            valid=valid,
        )

    return test


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--masked", action="store_true")
    parser.add_argument("--rivals", action="store_true", help="only the rival-minimum test")
    args = parser.parse_args(argv)
    if args.rivals:
        _rival_rates(np.random.default_rng(20261209), args.trials)
        return
    rng = np.random.default_rng(20261208)
    scenes = {name: load_scene(name) for name in SCENES}
    for masked in (False, True) if args.masked else (False,):
        _rates(scenes, rng, args.trials, masked)
    if args.masked:
        _pipeline_nulls(scenes, rng, args.trials)


def _rates(scenes, rng, trials, masked):
    test = _test(rng, masked)
    label = " (masked)" if masked else ""
    print("| pairs | SNR | detected | peak beyond half a cell, among detected | trials |")
    print("|---|---|---|---|---|")
    for snr in (0.1, 0.3, 1.0, 3.0, 10.0, 100.0):
        detected, wrong = 0, 0
        for t in range(trials):
            scene = scenes[SCENES[t % len(SCENES)]]
            pair = make_binned_pair(scene, (48, 48), rng.integers(-32, 33, 2), rng=rng, snr=snr)
            result = test(pair.reference, pair.moving)
            if result.significant:
                detected += 1
                # The test's peak locates the match to within half a correlation
                # cell (its ``agrees`` reach); the shift itself comes from the pipeline.
                reach = max(1.5, 0.5 * np.sqrt(result.cell))
                wrong += bool(np.any(np.abs(result.peak - pair.shift) > reach))
        print(
            f"| real{label} | {snr:g} | {detected / trials:.2f} | {wrong}/{detected} | {trials} |"
        )
    alarms = 0
    for _ in range(trials):
        noise = rng.normal(size=(2, 48, 48))
        alarms += test(noise[0], noise[1]).significant
    print(f"| pure noise{label} | - | {alarms / trials:.3f} (false alarms) | - | {trials} |")
    alarms = 0
    for a, b in _unrelated(scenes, rng, trials):
        alarms += test(a, b).significant
    print(f"| unrelated scenes{label} | - | {alarms / trials:.3f} (false alarms) | - | {trials} |")


def _unrelated(scenes, rng, trials):
    names = list(scenes)
    for _ in range(trials):
        first, second = rng.choice(len(names), 2, replace=False)
        a = make_binned_pair(scenes[names[first]], (48, 48), (0, 0), rng=rng, snr=100)
        b = make_binned_pair(scenes[names[second]], (48, 48), (0, 0), rng=rng, snr=100)
        yield a.reference, b.reference


def _pipeline_nulls(scenes, rng, trials):
    """The nulls through register() with a mask of each image: the fraction measured."""
    print()
    print("| pairs, register(mask=...) | measured (false alarms) | trials |")
    print("|---|---|---|")
    nulls = {
        "pure noise": (tuple(rng.normal(size=(2, 48, 48))) for _ in range(trials)),
        "unrelated scenes": _unrelated(scenes, rng, trials),
    }
    for name, pairs in nulls.items():
        measured = 0
        for a, b in pairs:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RegistrationWarning)
                masks = (_mask(rng, a.shape), _mask(rng, b.shape))
                result = register(a, b, mask=masks, max_shift=12, outliers=False)
            measured += bool(result.measured)
        print(f"| {name} | {measured / trials:.3f} | {trials} |")


def _real(names, snr):
    """A real crop-and-bin pair of one of ``names``, 64x64 (smaller where the scene is)."""

    def make(rng, trial):
        scene = load_scene(names[trial % len(names)])
        size = min(64, (min(scene.shape) - 24) // 4)
        pair = make_binned_pair(scene, (size, size), rng.integers(-12, 13, 2), rng=rng, snr=snr)
        return pair.reference, pair.moving, pair.shift, {}

    return make


def _band_limited(snr):
    """Two crops of a power-law scene (unit std), both with noise of std 1 / snr."""

    def make(rng, trial):
        shift = rng.uniform(-3, 3, 2)
        ref, mov = make_crop_pair(
            64, shift, noise=1 / snr, reference_noise=1 / snr, seed=int(rng.integers(2**31))
        )
        return ref, mov, shift, {}

    return make


def _lattice(snr):
    """A periodic lattice (60x60, period 6 px on both axes), shifted, with white noise."""

    def make(rng, trial):
        shift = rng.uniform(-2.5, 2.5, 2)
        y, x = np.mgrid[:60, :60] * (2 * np.pi / 6)  # whole periods: it wraps
        images = [np.cos(y + d * shift[0]) + np.cos(x + d * shift[1]) for d in (0, 1)]
        noisy = [im + rng.normal(size=im.shape) * im.std() / snr for im in images]
        return noisy[0], noisy[1], shift, {"boundary": "wrap"}

    return make


def _rival_rates(rng, trials):
    every = tuple(n for names in SCENE_GROUPS.values() for n in names if n != "microaneurysms")
    cases = [(f"real, {len(every)} scenes", snr, _real(every, snr)) for snr in (1, 3, 10, 30, 100)]
    cases += [("textures", snr, _real(SCENE_GROUPS["texture"], snr)) for snr in (3, 10, 100)]
    cases += [("band-limited crops", snr, _band_limited(snr)) for snr in (1, 3, 10, 100)]
    cases += [("lattice, period 6 px", snr, _lattice(snr)) for snr in (10, 100)]
    print(
        "| pairs | SNR | rivalled (flagged) | of those right | measured, off by >= 0.5 px "
        "| measured, beyond 4σ | not significant | trials |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, snr, make in cases:
        rivalled = right = wrong = beyond = unseen = 0
        for trial in range(trials):
            reference, moving, truth, options = make(rng, trial)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RegistrationWarning)
                result = register(reference, moving, **options)
            verdict = result.significance
            close = bool(np.all(np.abs(result.shift - truth) < 0.5))
            unseen += not verdict.significant
            if verdict.ambiguous:
                rivalled += 1
                right += close
            wrong += bool(result.measured and not close)
            pull = np.abs(result.shift - truth) / result.error
            beyond += bool(result.measured and np.any(pull > 4))
        print(
            f"| {label} | {snr:g} | {rivalled / trials:.2f} | {right}/{rivalled} "
            f"| {wrong / trials:.2f} | {beyond}/{trials} | {unseen / trials:.2f} | {trials} |"
        )


if __name__ == "__main__":
    main()
