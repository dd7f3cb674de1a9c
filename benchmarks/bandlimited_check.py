"""The image-space stage on band-limited synthetic images, where the Fourier model is exact.

Issue 13 asks the new stage to be no less accurate than today on the synthetic
power-law images of ``benchmarks/accuracy.py`` (where TurboReg's cubic spline is
off by ~0.02 px). This runs today's ``register`` ("old"), ``register`` followed by
:func:`napari_imreg.core._image_fit.fit_image_shift` ("new") and TurboReg on the
same seeded pairs, and prints rms error, pull rms and which model the stage chose.

Usage::

    python benchmarks/bandlimited_check.py [--trials 20]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from napari_imreg.core import make_crop_pair, make_extended, make_shifted, register
from napari_imreg.core._image_fit import fit_image_shift

ROOT_SEED = 20261206


def _turboreg(reference, moving):
    from pystackreg import StackReg

    matrix = StackReg(StackReg.TRANSLATION).register(reference, moving)
    return -np.array([matrix[1, 2], matrix[0, 2]])


def _pair(kind, size, noise, rng):
    shift = rng.uniform(-3, 3, 2)
    seed = int(rng.integers(2**31))
    if kind == "periodic":
        image = make_extended(size, seed=seed)
        moving = make_shifted(image, shift) + rng.normal(0, noise, image.shape)
        return image, moving, shift
    reference, moving = make_crop_pair(size, shift, noise=noise, seed=seed)
    return reference, moving, shift


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args(argv)
    cases = [("periodic", 96, 0.1), ("periodic", 96, 1.0), ("crop", 96, 0.1), ("crop", 97, 1.0)]
    cases += [("crop", 256, 0.01)]
    print(
        "| images | size | noise | old rms | new rms | TurboReg rms | old pull | new pull "
        "| Fourier chosen |"
    )
    print("|" + "---|" * 9)
    for kind, size, noise in cases:
        rng = np.random.default_rng([ROOT_SEED, size, int(noise * 100)])
        rows = []
        for _ in range(args.trials):
            reference, moving, truth = _pair(kind, size, noise, rng)
            boundary = "wrap" if kind == "periodic" else "overlap"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                old = register(reference, moving, boundary=boundary)
            new = fit_image_shift(
                reference, moving, old.shift, boundary=boundary, covariance=old.covariance
            )
            rows.append(
                (
                    old.shift - truth,
                    new.shift - truth,
                    _turboreg(reference, moving) - truth,
                    (old.shift - truth) / old.error,
                    (new.shift - truth) / new.error,
                    new.model == "fourier",
                )
            )

        def rms(i, rows=rows):
            return float(np.sqrt(np.mean([np.square(r[i]) for r in rows])))

        chosen = np.mean([r[5] for r in rows])
        print(
            f"| {kind} | {size} | {noise} | {rms(0):.4f} | {rms(1):.4f} | {rms(2):.4f} "
            f"| {rms(3):.2f} | {rms(4):.2f} | {chosen:.2f} |"
        )


if __name__ == "__main__":
    main()
