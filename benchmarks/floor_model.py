"""Measure the sub-pixel floor of overlap mode against the model in ``core/_prefilter.py``.

With no noise, what is left of a registration's error is the floor: near the
edges, the content of a truncated image near Nyquist is misread between pixels.
The model puts it, as the noise level whose error it equals, at
``scale * max(c_d * (1 - strength) ** FLOOR_DECAY, k_d)``. For each case this
script registers noiseless crop pairs (``make_crop_pair``, random shifts of up
to 4 px) at a fixed filter strength and prints the ``c_d`` (strength below 1) or
``k_d`` (strength 1) that their rms error implies:
``rms(shift - truth) / (error per unit noise * scale)``. The error per unit noise
is the error reported for a noise of ``UNIT``, divided by it, with the model's
floor left out of it while measuring. The constants in ``_prefilter`` should sit
at or a little above the largest value of each.

Usage::

    python benchmarks/floor_model.py              # every case, about 10 s on 2 cores
    python benchmarks/floor_model.py --quick      # a few 2-D cases

Re-run it, and update ``FLOOR_SCALE`` and ``FLOOR_RESIDUE``, whenever the taper
or the filter changes.
"""

from __future__ import annotations

import argparse
import math
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from napari_imreg.core import _prefilter, make_crop_pair, register
from napari_imreg.core._filter import smoothing_kernels
from napari_imreg.core._prefilter import EdgeContent, edge_scale

#: A noise small enough to leave only the floor, large enough for float64.
UNIT = 1e-3


def _scale(reference: np.ndarray) -> float:
    kernels = smoothing_kernels(reference.shape)
    content = EdgeContent.measure(reference, None, kernels)
    return edge_scale(content, reference.shape, 0.0, kernels)


def measure(case: tuple) -> tuple[tuple, float, float]:
    """``(case, implied constant, rms error in px)`` for one shape, spectral index
    and strength."""
    shape, power, strength, trials = case
    # Errors per unit noise without the floor in them.
    _prefilter.FLOOR_RESIDUE = dict.fromkeys(_prefilter.FLOOR_RESIDUE, 0.0)
    _prefilter.FLOOR_SCALE = dict.fromkeys(_prefilter.FLOOR_SCALE, 0.0)
    rng = np.random.default_rng(5)
    off, per_unit, scales = [], [], []
    for trial in range(trials):
        truth = rng.uniform(-4, 4, len(shape))
        reference, moving = make_crop_pair(shape, truth, power=power, seed=trial)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = register(reference, moving, error=UNIT, prefilter=strength)
        off.append(result.shift - truth)
        per_unit.append(result.error / UNIT)
        scales.append(_scale(reference))
    rms = float(np.sqrt(np.mean(np.square(off))))
    implied = rms / (float(np.median(per_unit)) * float(np.median(scales)))
    if strength < 1.0:
        implied /= (1.0 - strength) ** _prefilter.FLOOR_DECAY
    return case, implied, rms


def cases(quick: bool) -> list[tuple]:
    if quick:
        return [((n, n), 2.0, s, 8) for n in (64, 97) for s in (0.0, 1.0)]
    out = [((n, n), p, s, 16) for n in (64, 97, 256) for p in (1.5, 2.0, 3.0) for s in (0.0, 1.0)]
    out += [((n,), p, s, 16) for n in (512, 4096) for p in (1.0, 1.5) for s in (0.0, 1.0)]
    out += [((n, n, n), p, s, 8) for n in (24, 40) for p in (2.0, 3.0) for s in (0.0, 1.0)]
    out += [((n, n), 2.0, 0.5, 16) for n in (97, 256)]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few 2-D cases")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args(argv)
    print("shape, spectral index, strength: implied c_d (strength < 1) or k_d (1), rms error")
    print(f"model: c_d = {_prefilter.FLOOR_SCALE}, k_d = {_prefilter.FLOOR_RESIDUE}")
    with ProcessPoolExecutor(args.processes) as pool:
        for (shape, power, strength, _), implied, rms in pool.map(measure, cases(args.quick)):
            name = "k_d" if strength == 1.0 else "c_d"
            size = "x".join(map(str, shape))
            line = f"{size:>9} p={power} strength {strength}: {name} = {implied:.4f}"
            print(f"{line}  ({rms:.2e} px)")
            if not math.isfinite(implied):
                return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
