"""The default (overlap) mode against the periodic one and scikit-image (issue 15).

Run through ``python benchmarks/speed.py --default-mode`` (add ``--big`` for the 256³
volume, which takes a few minutes and 2-3 GB). Prints a markdown report; writes no
file. Every case runs the same methods side by side, in interleaved rounds:

* ``ours default``: ``register`` as a user calls it (overlap, residual errors, the
  outlier stage);
* ``ours fisher``: overlap with ``errors="fisher", outliers=False``: the search,
  refinement and curvature errors alone, the part the search side owns;
* ``ours wrap`` and ``ours wrap fisher``: the periodic mode, with the same two settings;
* ``skimage``: ``phase_cross_correlation(upsample_factor=100)`` (periodic).

With ``--parts maps``: a 2048² pair with per-pixel noise maps, against the same pair
with scalar errors (``bench_maps``).

Two stacks of 200 frames of 512²: ``speed.make_stack``'s periodic frames, on which
``boundary="auto"`` chooses the periodic mode (so "ours default" is the wrap mode
there), and ``speed.make_drifting_stack``'s windows of one scene that drift, on
which it chooses the overlap mode, as on real stacks.

The pairs are non-periodic crops of one scene (``make_crop_pair``), noise 0.1 in
both images. Times are medians; ratios are taken between medians of the same
rounds. CPU time (this process's and its ended children's: a stack's worker processes)
is reported beside wall time: on a shared machine it moves less with the other work.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

SHIFT = (3.31, -2.74)
UPSAMPLE = 100


def methods(ndim: int) -> dict:
    from skimage.registration import phase_cross_correlation

    from napari_imreg.core import register

    def ours(**options):
        def run(reference, moving):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return register(reference, moving, **options).shift

        return run

    def skimage(reference, moving):
        return phase_cross_correlation(reference, moving, upsample_factor=UPSAMPLE)[0]

    return {
        "ours default": ours(),
        "ours fisher": ours(errors="fisher", outliers=False),
        "ours wrap": ours(boundary="wrap"),
        "ours wrap fisher": ours(boundary="wrap", errors="fisher", outliers=False),
        "skimage": skimage,
    }


def crop_pair(shape, seed: int = 0):
    from napari_imreg.core import make_crop_pair

    truth = tuple(SHIFT[i % 2] for i in range(len(shape)))
    reference, moving = make_crop_pair(shape, truth, noise=0.1, reference_noise=0.1, seed=seed)
    return reference, moving, np.array(truth)


def cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended (a stack's
    worker processes)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(runs: dict, rounds: int, *, warm_up: dict | None = None) -> dict:
    """Median wall and CPU seconds of each run, interleaved round by round, after a
    warm-up (``warm_up``: a cheaper call per run in its place)."""
    for name in runs:
        (warm_up or runs)[name]()
    wall = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start, start_cpu = time.perf_counter(), cpu_seconds()
            run()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(cpu_seconds() - start_cpu)
    return {name: (float(np.median(wall[name])), float(np.median(cpu[name]))) for name in runs}


#: Pairs and thin images leave out ``ours wrap``: on non-periodic crops its outlier
#: stage clips the wrapped edges, round after round (61 s for one 2048² pair on a
#: loaded machine); the periodic mode's own cost is ``ours wrap fisher``.
PAIR_METHODS = ("ours default", "ours fisher", "ours wrap fisher", "skimage")


def bench_pairs(shapes, rounds: int) -> list[dict]:
    rows = []
    for shape in shapes:
        reference, moving, _ = crop_pair(shape)
        chosen = {name: methods(len(shape))[name] for name in PAIR_METHODS}
        runs = {name: (lambda m=m, r=reference, v=moving: m(r, v)) for name, m in chosen.items()}
        times = timed(runs, rounds)
        rows.append({"shape": shape, "times": times, "rounds": rounds})
        print(f"  {shape}: {times}", flush=True)
    return rows


def bench_maps(n: int, rounds: int) -> dict:
    """A pair with per-pixel noise maps (an astronomer's ERR extensions) against the
    same pair with scalar errors: ``crop_pair`` lifted to positive counts, each map the
    square root of its image's counts (scaled to the noise's level)."""
    from napari_imreg.core import register

    reference, moving, _ = crop_pair((n, n))
    reference, moving = reference - reference.min() + 1.0, moving - moving.min() + 1.0
    scale = 0.1 / float(np.sqrt(np.mean(moving)))  # the maps' mean near the noise added
    maps = {"error": scale * np.sqrt(moving), "reference_error": scale * np.sqrt(reference)}
    scalars = {key: float(np.sqrt(np.mean(value**2))) for key, value in maps.items()}

    def call(**options):
        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return register(reference, moving, **options)

        return run

    runs = {
        "default, scalars": call(**scalars),
        "default, maps": call(**maps),
        "wrap fisher, maps": call(boundary="wrap", errors="fisher", outliers=False, **maps),
    }
    times = timed(runs, rounds)
    print(f"  maps {n}²: {times}", flush=True)
    return {"n": n, "times": times, "rounds": rounds}


def thin_pair(shape, seed: int = 3):
    """A pair cut from a smooth random scene twice the size and binned by 2 (true
    shift (0.5, -4.5)): ``make_crop_pair`` makes a square scene, too large for 4 x 100000."""
    import scipy.ndimage

    from napari_imreg.core._binned_pairs import make_binned_pair

    rng = np.random.default_rng(seed)
    scene = scipy.ndimage.gaussian_filter(rng.normal(size=[2 * n + 24 for n in shape]), 2.0)
    pair = make_binned_pair(scene, shape, (1, -9), bin_factor=2, rng=seed, snr=20)
    return pair.reference, pair.moving


def bench_thin(rounds: int) -> list[dict]:
    """Cost per pixel of a 4 x 100000 image against a square of as many pixels, in the
    default mode, its fisher part and the periodic mode's fisher part."""
    rows = []
    for shape in ((4, 100000), (632, 632)):
        reference, moving = thin_pair(shape)
        chosen = methods(2)
        runs = {
            name: (lambda m=chosen[name], r=reference, v=moving: m(r, v))
            for name in ("ours default", "ours fisher", "ours wrap fisher")
        }
        times = timed(runs, rounds)
        rows.append({"shape": shape, "times": times, "pixels": reference.size})
        print(f"  {shape}: {times}", flush=True)
    return rows


def bench_stack(frames: int, n: int, rounds: int, *, drifting: bool = False) -> dict:
    """The stack rows: ``make_stack``'s periodic frames (which ``boundary="auto"``
    registers in the periodic mode, so "ours default" is the wrap mode there), or with
    ``drifting`` windows of one scene that drift (``make_drifting_stack``: the overlap
    mode, as real stacks take)."""
    from napari_imreg.core import register_stack
    from speed import make_drifting_stack, make_stack

    stack = make_drifting_stack(frames, n)[0] if drifting else make_stack(frames, n)
    chosen = methods(2)

    def ours(frames, **options):
        return lambda: register_stack(frames, **options).shifts

    def both(frames):
        runs = {
            "ours default": ours(frames),
            "ours fisher": ours(frames, errors="fisher", outliers=False),
            "ours wrap": ours(frames, boundary="wrap"),
            "ours wrap fisher": ours(frames, boundary="wrap", errors="fisher", outliers=False),
            "skimage": lambda: [chosen["skimage"](frames[0], frame) for frame in frames],
        }
        if drifting:  # as for the pairs (PAIR_METHODS): its outlier stage clips the seams
            del runs["ours wrap"]
        return runs

    times = timed(both(stack), rounds, warm_up=both(stack[:8]))
    kind = "drifting crops" if drifting else "periodic frames"
    print(f"  stack ({kind}): {times}", flush=True)
    return {"frames": frames, "n": n, "times": times, "rounds": rounds, "kind": kind}


def volume_probe(n: int, method: str) -> None:
    """In a fresh process: two calls on an n³ pair, their times and the peak growth
    of the resident set over the process with its inputs loaded."""
    reference, moving, truth = crop_pair((n, n, n))
    run = methods(3)[method]
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # reset the kernel's high-water mark (Linux)
    base = _status("VmRSS:")
    times = []
    for _ in range(2):
        start = time.perf_counter()
        shift = run(reference, moving)
        times.append(time.perf_counter() - start)
    growth = _status("VmHWM:") - base
    inputs = reference.nbytes + moving.nbytes
    error = float(np.max(np.abs(np.asarray(shift) - truth)))
    print(json.dumps({"times": times, "memory": growth / inputs, "error": error}))


def _status(key: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    raise OSError(f"no {key} in /proc/self/status")


def bench_big_volume(n: int = 256) -> dict:
    out = {}
    for method in ("ours default", "ours fisher", "ours wrap fisher"):
        command = [sys.executable, __file__, "--volume-probe", str(n), method]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        lines = done.stdout.strip().splitlines()
        out[method] = json.loads(lines[-1]) if done.returncode == 0 and lines else None
        print(f"  {n}³ {method}: {out[method]}", flush=True)
    return out


def _ratio(times, a, b, column) -> str:
    return f"{times[a][column] / times[b][column]:.2f}"


def _ratio_cells(times) -> str:
    """The three ratio columns (default / wrap fisher, fisher / wrap fisher, skimage /
    default), each as wall / CPU."""
    pairs = (
        ("ours default", "ours wrap fisher"),
        ("ours fisher", "ours wrap fisher"),
        ("skimage", "ours default"),
    )
    return " | ".join(" / ".join(_ratio(times, a, b, c) for c in (0, 1)) for a, b in pairs)


def report(pairs, thin, stack, big, loads, maps=None) -> str:
    lines = [
        "| work | ours default | ours fisher | ours wrap | ours wrap fisher | skimage | "
        "default / wrap fisher | fisher / wrap fisher | skimage / default | rounds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in pairs:
        t = row["times"]
        shape = "x".join(str(n) for n in row["shape"])
        cells = " | ".join(
            f"{t[k][0] * 1e3:.0f} ms ({t[k][1] * 1e3:.0f} CPU)" if k in t else "not run"
            for k in ("ours default", "ours fisher", "ours wrap", "ours wrap fisher", "skimage")
        )
        lines.append(f"| {shape} pair | {cells} | {_ratio_cells(t)} | {row['rounds']} |")
    for row in stack:
        t, frames = row["times"], row["frames"]
        cells = " | ".join(
            f"{frames / t[k][0]:.1f} fps ({frames / t[k][1]:.1f} per CPU-s)"
            if k in t
            else "not run"
            for k in ("ours default", "ours fisher", "ours wrap", "ours wrap fisher", "skimage")
        )
        ratios = _ratio_cells(t)
        size = f"{frames} x {row['n']}² stack, {row['kind']}"
        lines.append(f"| {size} | {cells} | {ratios} | {row['rounds']} |")
    lines += [
        "",
        "Ratios are wall / CPU. Pair cells: median wall time (median CPU time).",
        "",
    ]
    if thin:
        lines += ["| thin or square (same pixels) | method | µs per pixel (wall / CPU) |"]
        lines += ["| --- | --- | --- |"]
        for row in thin:
            for name, (wall, cpu) in row["times"].items():
                shape = "x".join(str(n) for n in row["shape"])
                per = [1e6 * v / row["pixels"] for v in (wall, cpu)]
                lines.append(f"| {shape} | {name} | {per[0]:.2f} / {per[1]:.2f} |")
        lines.append("")
    if big:
        lines += ["| 256³ pair, fresh process | first call | second call | peak growth | error |"]
        lines += ["| --- | --- | --- | --- | --- |"]
        for name, values in big.items():
            if values is None:
                lines.append(f"| {name} | failed | | | |")
                continue
            first, second = values["times"]
            lines.append(
                f"| {name} | {first:.2f} s | {second:.2f} s | {values['memory']:.1f}x inputs | "
                f"{values['error']:.4f} px |"
            )
        lines.append("")
    if maps:
        t = maps["times"]
        lines += [f"| {maps['n']}² pair, noise | median wall time (CPU) | / default, scalars |"]
        lines += ["| --- | --- | --- |"]
        base = t["default, scalars"]
        for name, (wall, cpu) in t.items():
            ratio = f"{wall / base[0]:.2f} / {cpu / base[1]:.2f}"
            lines.append(f"| {name} | {wall * 1e3:.0f} ms ({cpu * 1e3:.0f}) | {ratio} |")
        lines.append("")
    lines.append(f"Load average at start / end: {loads[0]} / {loads[-1]}.")
    return "\n".join(lines)


def run(*, big: bool, rounds: int, load_average, parts=("pairs", "thin", "stack")) -> str:
    loads = [load_average()]
    pairs, thin, stack = [], None, []
    if "pairs" in parts:
        print("pairs", flush=True)
        pairs = bench_pairs([(512, 512), (2048, 2048), (96, 96, 96)], rounds)
    if "thin" in parts:
        print("thin", flush=True)
        thin = bench_thin(rounds)
    if "stack" in parts:
        print("stack", flush=True)
        stack = [
            bench_stack(200, 512, max(1, rounds // 3), drifting=drifting)
            for drifting in (False, True)
        ]
    maps = None
    if "maps" in parts:
        print("maps", flush=True)
        maps = bench_maps(2048, max(1, rounds // 2))
    volume = None
    if big:
        print("256³", flush=True)
        volume = bench_big_volume()
    loads.append(load_average())
    return report(pairs, thin, stack, volume, loads, maps)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--volume-probe":
        volume_probe(int(sys.argv[2]), sys.argv[3])
