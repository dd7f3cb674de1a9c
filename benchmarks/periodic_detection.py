"""How well ``boundary="auto"`` tells periodic images from real crops, and what it costs.

Four measurements, each printed as a Markdown table:

1. **False wraps** on real crops (``_binned_pairs``: every scikit-image scene, Gaussian
   noise at SNR 1-1000 and Poisson noise, square and thin crops, and 3-D volumes made
   from the scenes): the share of pairs that ``register`` would send to the wrap model.
   The target is none.
2. **Hits** on periodic images (``make_extended`` + ``make_shifted``, the spec's test
   images, at several sizes, spectral indices and noise levels): the share sent to wrap.
3. **Scatter with the defaults** on the spec's images, against
   ``image_registration.chi2_shift`` on the same trials (the target: at most 1.1x), with
   ``boundary="overlap"`` and ``"wrap"`` alongside.
4. **Cost**: the decision's time against a default registration's, medians of
   several runs in one process.

Usage::

    python benchmarks/periodic_detection.py           # full run (a few minutes)
    python benchmarks/periodic_detection.py --quick   # fewer trials
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from napari_imreg.core import make_crop_pair, make_extended, make_shifted, register
from napari_imreg.core._binned_pairs import SCENE_GROUPS, load_scene, make_binned_pair
from napari_imreg.core._periodic import is_discontinuous, is_periodic

SEED = 20261206
SNRS = (1, 3, 10, 30, 100, 300, 1000)


def wrapped(reference, moving) -> bool:
    """The pair decision of ``register(..., boundary="auto")``."""
    return is_periodic(reference) and not is_discontinuous(moving)


def real_pairs(rng, repeats: int):
    """(label, reference, moving) of real crops: every scene, noise kind and shape."""
    for name in (n for names in SCENE_GROUPS.values() for n in names):
        scene = load_scene(name)
        binning = 4 if min(scene.shape) >= 300 else 2
        for shape in ((64, 64), (96, 96), (128, 128), (24, 128), (40, 40)):
            if any(binning * n + 16 > m for n, m in zip(shape, scene.shape, strict=True)):
                continue
            for _ in range(repeats):
                offset = rng.integers(-8, 9, 2)
                for snr in SNRS:
                    pair = make_binned_pair(
                        scene, shape, offset, bin_factor=binning, rng=rng, snr=snr
                    )
                    yield f"{name} gaussian", pair.reference, pair.moving
                for counts in (10, 1000):
                    pair = make_binned_pair(
                        scene, shape, offset, bin_factor=binning, rng=rng,
                        noise="poisson", counts=counts,
                    )  # fmt: skip
                    yield f"{name} poisson", pair.reference, pair.moving
    for name in ("camera", "moon", "astronaut", "gravel", "retina", "coffee"):
        plane = load_scene(name)
        volume = np.stack([np.roll(plane, (2 * z, z), axis=(0, 1)) for z in range(150)])
        for _ in range(repeats):
            for snr in (1, 10, 100, 1000):
                offset = rng.integers(-6, 7, 3)
                pair = make_binned_pair(volume, (32, 32, 32), offset, rng=rng, snr=snr)
                yield "3-D volume", pair.reference, pair.moving
    for _ in range(20 * repeats):
        size = int(rng.integers(48, 200))
        reference, moving = make_crop_pair(
            size,
            rng.uniform(-3, 3, 2),
            noise=float(rng.choice([0.0, 0.1, 1.0])),
            power=float(rng.choice([1.0, 2.0, 3.0])),
            seed=int(rng.integers(2**31)),
        )
        yield "make_crop_pair", reference, moving


def false_wraps(rng, repeats: int) -> str:
    counts: dict[str, list[int]] = {}
    for label, reference, moving in real_pairs(rng, repeats):
        kind = label if label in ("3-D volume", "make_crop_pair") else label.split()[-1]
        counts.setdefault(kind, [0, 0])
        counts[kind][0] += wrapped(reference, moving)
        counts[kind][1] += 1
    total = [sum(v[0] for v in counts.values()), sum(v[1] for v in counts.values())]
    rows = [f"| {k} | {w} / {n} |" for k, (w, n) in counts.items()]
    rows.append(f"| **all** | **{total[0]} / {total[1]}** |")
    return "\n".join(["| real crops | sent to wrap |", "|---|---|", *rows])


def hits(rng, trials: int) -> str:
    lines = ["| periodic images | noise 0 | 0.1 | 0.3 | 1.0 |", "|---|---|---|---|---|"]
    for shape in ((64, 64), (96, 96), (100, 100), (128, 128), (256, 256), (48, 200), (32,) * 3):
        for power in (1.5, 2.0, 3.0):
            cells = []
            for noise in (0.0, 0.1, 0.3, 1.0):
                found = 0
                for _ in range(trials):
                    image = make_extended(shape, power=power, seed=rng)
                    shift = rng.uniform(-3, 3, len(shape))
                    found += wrapped(image, make_shifted(image, shift, noise=noise, seed=rng))
                cells.append(f"{found}/{trials}")
            label = "x".join(map(str, shape))
            lines.append(f"| {label}, index {power:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def scatter(rng, scenes: int, trials: int) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import image_registration
    except ImportError:
        return "(image_registration is not installed: scatter not measured)"
    lines = [
        "| size, noise | wrap chosen | default / chi2_shift | overlap / chi2_shift "
        "| wrap / chi2_shift |",
        "|---|---|---|---|---|",
    ]
    for size in (96, 97, 100):
        for noise in (0.1, 0.3, 1.0):
            errors = {"auto": [], "overlap": [], "wrap": [], "chi2_shift": []}
            chosen = 0
            for _ in range(scenes):
                image = make_extended(size, seed=rng)
                for _ in range(trials):
                    shift = rng.uniform(-3, 3, 2)
                    moving = make_shifted(image, shift, noise=noise, seed=rng)
                    auto = register(image, moving, threads=1)
                    chosen += auto.boundary == "wrap"
                    errors["auto"].append(auto.shift - shift)
                    for boundary in ("overlap", "wrap"):
                        result = register(image, moving, boundary=boundary, threads=1)
                        errors[boundary].append(result.shift - shift)
                    with warnings.catch_warnings(), np.errstate(all="ignore"):
                        warnings.simplefilter("ignore")
                        dx, dy = image_registration.chi2_shift(image, moving)[:2]
                    errors["chi2_shift"].append(-np.array([dy, dx]) - shift)
            rms = {k: float(np.sqrt(np.mean(np.square(v)))) for k, v in errors.items()}
            ratios = [rms[k] / rms["chi2_shift"] for k in ("auto", "overlap", "wrap")]
            lines.append(
                f"| {size}², {noise:g} | {chosen}/{scenes * trials} | "
                + " | ".join(f"{r:.3f}" for r in ratios)
                + " |"
            )
    return "\n".join(lines)


def cost(repeats: int) -> str:
    lines = ["| image | decision | register (default) | ratio |", "|---|---|---|---|"]
    for shape in ((96, 96), (512, 512), (2048, 2048), (96, 96, 96)):
        reference, moving = make_crop_pair(shape, (1.5,) * len(shape), noise=0.1, seed=1)
        decide, full = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            wrapped(reference, moving)
            decide.append(time.perf_counter() - start)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                register(reference, moving)
            full.append(time.perf_counter() - start)
        d, f = float(np.median(decide)), float(np.median(full))
        label = "x".join(map(str, shape))
        lines.append(f"| {label} | {d * 1e3:.2f} ms | {f * 1e3:.1f} ms | {d / f:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer trials")
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    quick = args.quick
    print("## False wraps on real crops\n")
    print(false_wraps(rng, repeats=1 if quick else 2), "\n")
    print("## Hits on periodic images\n")
    print(hits(rng, trials=5 if quick else 20), "\n")
    print("## Scatter with the defaults on the spec's images (rms error ratios)\n")
    print(scatter(rng, scenes=2 if quick else 4, trials=10 if quick else 25), "\n")
    print("## Cost of the decision (medians)\n")
    print(cost(repeats=3 if quick else 7))


if __name__ == "__main__":
    main()
