"""Side-by-side speed and memory: napari-imreg against scikit-image and image_registration.

One command runs everything on the same arrays in the same process, interleaving
the methods round by round so that a busy machine slows them all alike:

* pairs at 512², 2048² and 4096² (float64): ours in the periodic mode
  (``boundary="wrap"``, what the peers compute) and in the non-periodic default
  (``"overlap"``), skimage ``phase_cross_correlation(upsample_factor=100)``,
  image_registration ``chi2_shift(upsample_factor="auto")``, and the FFT limit:
  2 forward + 1 inverse real FFT at the best backend (FFTW with measured plans,
  or scipy.fft, 1 or 2 threads) plus a 150x150 upsampled DFT patch (1/100 pixel
  over 1.5 pixels) of the half spectrum;
* peak memory of each pair method, each in a fresh process: the growth of the
  resident set over the inputs during a first call, and the peak of numpy
  allocations during a second call (tracemalloc), in units of the two inputs;
* a stack of 200 frames of 512² (float64, random-walk drift): ours on numpy
  input, on a zarr-backed dask array with local threads and with a 2-worker
  ``dask.distributed`` LocalCluster, against a loop of skimage and a loop of
  image_registration over the same frames; those frames are periodic, so the
  default mode is measured on a second stack, windows of one scene that drift
  (``make_drifting_stack``), which takes the overlap mode as real stacks do;
* with ``--big``: a 4 GiB float32 dask stack (1000 frames of 1024², generated
  chunk by chunk) registered while the resident set is sampled.

Usage::

    python benchmarks/speed.py            # full run: docs/benchmarks.md, docs/benchmarks.png
    python benchmarks/speed.py --big      # also the 4 GiB stack (several minutes)
    python benchmarks/speed.py --quick    # small sizes, prints the report only
    python benchmarks/speed.py --default-mode [--big]   # issue 15's cases (speed_default.py)

Times are medians over rounds; ratios are peer time over ours (above 1: we are
faster) or ours over the limit.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHIFT = (3.31, -2.74)
NOISE = 0.1
UPSAMPLE = 100
PATCH = 150  # samples of the DFT patch per axis (1.5 pixels at 1/100)

PAIR_METHODS = ("ours wrap", "ours overlap", "skimage", "image_registration")
# docs/benchmarks.md below this line is written by hand and kept when the tables are rerun.
HAND_MARKER = "<!-- Sections below are measured and written by hand; speed.py keeps them. -->"


# ------------------------------------------------------------------------- data


def make_pair(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    from napari_imreg.core import make_extended, make_shifted

    reference = make_extended((n, n), seed=seed)
    moving = make_shifted(reference, SHIFT, noise=NOISE, seed=seed + 1)
    reference = reference + np.random.default_rng(seed + 2).normal(0, NOISE, reference.shape)
    return reference, moving


def make_stack(frames: int, n: int, seed: int = 0, dtype=np.float64) -> np.ndarray:
    from napari_imreg.core import make_extended, make_shifted

    image = make_extended((n, n), seed=seed)
    drift = np.cumsum(np.random.default_rng(seed).normal(0, 0.5, (frames, 2)), axis=0)
    out = np.empty((frames, n, n), dtype=dtype)
    for i, d in enumerate(drift):
        out[i] = make_shifted(image, d, noise=NOISE, seed=seed + 1 + i)
    return out


def make_drifting_stack(frames: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A stack whose edges do not wrap, as real stacks' do not: ``n``² windows of one
    larger scene, each on the scene moved by a random-walk drift (a Fourier shift of
    the scene, as ``make_crop_pair`` does), with white noise ``NOISE``. Returns the
    frames and the true shifts that register each onto frame 0.

    ``make_stack``'s frames are periodic, so ``boundary="auto"`` runs them in the
    periodic mode; these take the overlap mode, the default on real data.
    """
    from napari_imreg.core import fourier_shift, make_extended

    rng = np.random.default_rng(seed)
    drift = np.cumsum(rng.normal(0, 0.5, (frames, 2)), axis=0)
    drift -= drift[0]
    margin = int(np.ceil(np.abs(drift).max())) + max(8, n // 4)
    scene = make_extended((n + 2 * margin,) * 2, seed=rng)
    window = (slice(margin, margin + n),) * 2
    out = np.empty((frames, n, n))
    for i, shift in enumerate(drift):
        out[i] = fourier_shift(scene, -shift)[window] + rng.normal(0, NOISE, (n, n))
    return out, drift


# ---------------------------------------------------------------------- methods


def ours(boundary: str):
    from napari_imreg.core import register

    def run(reference, moving):
        return register(reference, moving, boundary=boundary).shift

    return run


def skimage_pcc(reference, moving):
    from skimage.registration import phase_cross_correlation

    return phase_cross_correlation(reference, moving, upsample_factor=UPSAMPLE)[0]


def image_registration_chi2(reference, moving):
    import image_registration

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dx, dy, _, _ = image_registration.chi2_shift(reference, moving, upsample_factor="auto")
    return np.array([-dy, -dx])


def pair_method(name: str):
    return {
        "ours wrap": ours("wrap"),
        "ours overlap": ours("overlap"),
        "skimage": skimage_pcc,
        "image_registration": image_registration_chi2,
    }[name]


class FFTLimit:
    """2 forward + 1 inverse real FFT of one size, plus the DFT patch, at the best backend."""

    def __init__(self, n: int):
        self.n = n
        self.candidates = {}
        try:
            import pyfftw
            import pyfftw.builders

            for threads in (1, 2):
                real = pyfftw.empty_aligned((n, n), dtype="float64")
                half = pyfftw.empty_aligned((n, n // 2 + 1), dtype="complex128")
                forward = pyfftw.builders.rfft2(
                    real, threads=threads, planner_effort="FFTW_MEASURE"
                )
                inverse = pyfftw.builders.irfft2(
                    half, s=(n, n), threads=threads, planner_effort="FFTW_MEASURE"
                )
                self.candidates[f"pyfftw {threads} thread(s)"] = (forward, inverse)
        except ImportError:  # pragma: no cover
            pass
        self.best = None
        self.fft_seconds = None

    def _ffts_scipy(self, a, b, workers):
        import scipy.fft

        fa = scipy.fft.rfft2(a, workers=workers)
        fb = scipy.fft.rfft2(b, workers=workers)
        return scipy.fft.irfft2(fa * np.conj(fb), s=a.shape, workers=workers), fa

    @staticmethod
    def _ffts_pyfftw(plans, a, b):
        forward, inverse = plans
        fa = forward(a).copy()
        fb = forward(b)
        product = fa * np.conj(fb)
        return inverse(product), fa

    def calibrate(self, a, b, repeats: int) -> None:
        """Pick the fastest backend for the three FFTs, and 1 or 2 BLAS threads for the DFT."""
        from threadpoolctl import threadpool_limits

        timings = {}
        options = {
            name: (lambda p=p: self._ffts_pyfftw(p, a, b)) for name, p in self.candidates.items()
        }
        for workers in (1, 2):
            options[f"scipy.fft {workers} worker(s)"] = lambda w=workers: self._ffts_scipy(a, b, w)
        for name, run in options.items():
            run()
            timings[name] = median_time(run, repeats)
        self.best = min(timings, key=timings.get)
        self._run = options[self.best]
        self.fft_seconds = timings[self.best]
        spectrum = self._run()[1]
        dft = {}
        for threads in (1, 2):
            with threadpool_limits(threads, user_api="blas"):
                dft[threads] = median_time(lambda: dft_patch(spectrum, self.n), repeats)
        self.blas_threads = min(dft, key=dft.get)
        self.best += f", DFT with {self.blas_threads} BLAS thread(s)"

    def __call__(self, a, b):
        from threadpoolctl import threadpool_limits

        _correlation, spectrum = self._run()
        with threadpool_limits(self.blas_threads, user_api="blas"):
            return dft_patch(spectrum, self.n)


def dft_patch(spectrum: np.ndarray, n: int) -> np.ndarray:
    """A PATCH x PATCH matrix-product DFT of a half spectrum at 1/UPSAMPLE pixel."""
    offsets = (np.arange(PATCH) - PATCH // 2) / UPSAMPLE
    rows = np.fft.fftfreq(n) * n
    cols = np.arange(n // 2 + 1)
    weights = np.full(cols.size, 2.0)
    weights[0] = 1.0
    weights[-1] = 1.0
    kernel_rows = np.exp((2j * np.pi / n) * np.outer(offsets, rows))
    kernel_cols = np.exp((2j * np.pi / n) * np.outer(offsets, cols)) * weights
    return (kernel_rows @ (spectrum @ kernel_cols.T)).real


# --------------------------------------------------------------------- timing


def median_time(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


SETTLE = 0.3  # seconds of quiet before each timed call


def interleaved(runs: dict, rounds: int) -> dict[str, list[float]]:
    """Time each callable once per round, in turn, for ``rounds`` rounds.

    Each call starts after a short pause: OpenBLAS and OpenMP threads keep
    spinning for up to ~0.1 s after a threaded call, and would otherwise bill
    one method for the previous method's idle threads. The order is shuffled
    in each round (seeded): on this machine the call after a large one can run
    up to 1.5x slower (measured: our 2048² calls took 120-150 ms longer right
    after skimage's than after our own), and a fixed order would bill that to
    whichever method always comes next.
    """
    times = {name: [] for name in runs}
    names = list(runs)
    order = np.random.default_rng(0)
    for _ in range(rounds):
        for index in order.permutation(len(names)):
            name = names[index]
            run = runs[name]
            time.sleep(SETTLE)
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times


def load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "n/a"


# ------------------------------------------------------------------------ pairs


@dataclass
class PairRow:
    n: int
    times: dict[str, float] = field(default_factory=dict)
    limit: float = 0.0
    fft_only: float = 0.0
    backend: str = ""
    memory: dict[str, dict] = field(default_factory=dict)
    shifts: dict[str, list] = field(default_factory=dict)


def bench_pair(n: int, rounds: int, *, skip_slow: bool) -> PairRow:
    reference, moving = make_pair(n)
    row = PairRow(n)
    limit = FFTLimit(n)
    limit.calibrate(reference, moving, repeats=max(3, rounds))
    row.backend = limit.best
    row.fft_only = limit.fft_seconds
    runs = {"limit": lambda: limit(reference, moving)}
    for name in PAIR_METHODS:
        if skip_slow and name == "image_registration" and n > 2048:
            continue
        method = pair_method(name)
        row.shifts[name] = np.asarray(method(reference, moving)).tolist()  # warm-up
        runs[name] = lambda m=method: m(reference, moving)
    rounds_here = rounds if n <= 2048 else max(3, rounds // 2)
    times = interleaved(runs, rounds_here)
    row.limit = float(np.median(times.pop("limit")))
    row.times = {name: float(np.median(t)) for name, t in times.items()}
    print(
        f"  {n}²: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in row.times.items()), flush=True
    )
    print(
        f"  {n}²: limit {row.limit * 1e3:.1f} ms ({row.backend}; FFTs {row.fft_only * 1e3:.1f} ms)"
    )
    return row


def probe_memory(method: str, n: int) -> dict:
    """Run in a fresh process: the memory one registration of an n x n pair needs."""
    command = [sys.executable, __file__, "--memory-probe", method, str(n)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _peak_rss_since_reset():
    """Reset the kernel's high-water mark of this process's resident set (Linux)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def _peak_rss() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")


def _current_rss() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmRSS in /proc/self/status")


def _memory_probe(method: str, n: int) -> None:
    reference, moving = make_pair(n)
    run = pair_method(method)
    inputs = reference.nbytes + moving.nbytes
    baseline = _current_rss()
    _peak_rss_since_reset()
    run(reference, moving)
    first = _peak_rss() - baseline
    tracemalloc.start()
    tracemalloc.reset_peak()
    run(reference, moving)
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"rss": first / inputs, "traced": traced / inputs, "inputs": inputs}))


# ------------------------------------------------------------------------ stacks


@dataclass
class StackRow:
    name: str
    frames: int
    seconds: float
    runs: int
    cpu_seconds: float = float("nan")

    @property
    def fps(self) -> float:
        return self.frames / self.seconds

    @property
    def cpu_fps(self) -> float:
        return self.frames / self.cpu_seconds


def cpu_seconds() -> float:
    """CPU time of this process and its children: those running (the workers of a
    LocalCluster) and those ended (a numpy stack's worker processes)."""
    import resource

    import psutil

    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = time.process_time() + ended.ru_utime + ended.ru_stime
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def bench_stack(frames: int, n: int, rounds: int, *, quick: bool) -> tuple[list[StackRow], dict]:
    import dask.array as da

    from napari_imreg.core import register_stack

    stack = make_stack(frames, n)
    crops, drift = make_drifting_stack(frames, n)
    checks = {}
    overlap_frames = frames if not quick else min(frames, 20)
    ir_frames = min(frames, 40 if not quick else 10)
    with tempfile.TemporaryDirectory() as folder:
        import zarr

        path = os.path.join(folder, "stack.zarr")
        target = zarr.open_array(path, mode="w", shape=stack.shape, chunks=(10, n, n), dtype="f8")
        target[:] = stack
        on_disk = da.from_zarr(path)
        runs = {
            "ours wrap, numpy": (lambda: register_stack(stack, boundary="wrap").shifts, frames),
            "ours wrap, dask threads (zarr)": (
                lambda: (
                    register_stack(on_disk, boundary="wrap").compute(scheduler="threads").shifts
                ),
                frames,
            ),
            "skimage loop": (
                lambda: np.array([skimage_pcc(stack[0], f) for f in stack]),
                frames,
            ),
            # The periodic frames would take the periodic mode by default: the
            # default's own mode is measured on the drifting crops.
            "ours default (overlap), drifting crops, numpy": (
                lambda: register_stack(crops[:overlap_frames]).shifts,
                overlap_frames,
            ),
            "image_registration loop": (
                lambda: np.array(
                    [image_registration_chi2(stack[0], f) for f in stack[:ir_frames]]
                ),
                ir_frames,
            ),
            # Issue 15's faster road, offered as options: errors from the curvature
            # alone (calibrated on band-limited images only), no outlier stage.
            "ours wrap, faster road (errors='fisher', outliers=False), numpy": (
                lambda: (
                    register_stack(stack, boundary="wrap", errors="fisher", outliers=False).shifts
                ),
                frames,
            ),
            "ours default, faster road, drifting crops, numpy": (
                lambda: (
                    register_stack(crops[:overlap_frames], errors="fisher", outliers=False).shifts
                ),
                overlap_frames,
            ),
        }
        # The default (overlap) mode is what issue 15 targets: measured every round.
        once = {"image_registration loop"}
        with contextlib.ExitStack() as stack_of_contexts:
            try:
                from distributed import Client, LocalCluster

                cluster = stack_of_contexts.enter_context(
                    LocalCluster(
                        n_workers=2,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address="127.0.0.1:0",
                    )
                )
                client = stack_of_contexts.enter_context(Client(cluster))
                runs["ours wrap, distributed 2 workers (zarr)"] = (
                    lambda: (
                        register_stack(on_disk, boundary="wrap").compute(scheduler=client).shifts
                    ),
                    frames,
                )
            except ImportError:  # pragma: no cover
                print("  (distributed not installed: skipped)")
            answers = {name: run() for name, (run, _) in runs.items()}  # warm-up
            wall = {name: [] for name in runs}
            cpu = {name: [] for name in runs}
            # Interleaved rounds: a busy machine slows every method alike.
            for round_index in range(rounds):
                for name, (run, _) in runs.items():
                    if name in once and round_index:
                        continue
                    time.sleep(SETTLE)
                    start_cpu, start = cpu_seconds(), time.perf_counter()
                    run()
                    wall[name].append(time.perf_counter() - start)
                    cpu[name].append(cpu_seconds() - start_cpu)
    rows = []
    for name, (_, count) in runs.items():
        row = StackRow(name, count, float(np.median(wall[name])), len(wall[name]))
        row.cpu_seconds = float(np.median(cpu[name]))
        rows.append(row)
        print(f"  {name}: {row.fps:.1f} frames/s, {row.cpu_fps:.1f} frames per CPU-s", flush=True)
    checks["max |ours - skimage| (px)"] = float(
        np.max(np.abs(np.asarray(answers["ours wrap, numpy"]) - answers["skimage loop"]))
    )
    overlap = answers["ours default (overlap), drifting crops, numpy"]
    checks["max |ours default - truth| on the drifting crops (px)"] = float(
        np.max(np.abs(overlap - drift[: len(overlap)]))
    )
    return rows, checks


def bench_big(frames: int = 1000, n: int = 1024, chunk: int = 8) -> dict:
    """Register a lazily generated float32 stack, sampling the resident set."""
    import dask.array as da
    import psutil

    from napari_imreg.core import fourier_shift, make_extended, register_stack

    image = make_extended((n, n), seed=5)
    drift = np.cumsum(np.random.default_rng(5).normal(0, 0.3, (frames, 2)), axis=0)

    def frames_of(block_info=None):
        start, stop = block_info[None]["array-location"][0]
        rng = np.random.default_rng(start)
        out = np.empty((stop - start, n, n), dtype=np.float32)
        for i, d in enumerate(drift[start:stop]):
            out[i] = fourier_shift(image, d, threads=1) + rng.normal(0, NOISE, (n, n))
        return out

    stack = da.map_blocks(
        frames_of,
        chunks=((chunk,) * (frames // chunk), (n,), (n,)),
        dtype=np.float32,
        meta=np.empty((0, 0, 0), dtype=np.float32),
    )
    process = psutil.Process()
    result = register_stack(stack, boundary="wrap")
    baseline = process.memory_info().rss
    peak = [baseline]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    computed = result.compute(scheduler="threads")
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    # Frame i is the image moved by +drift[i]: moving it back onto frame 0 takes
    # -(drift[i] - drift[0]).
    error = np.abs(computed.shifts + (drift - drift[0]))
    return {
        "frames": frames,
        "n": n,
        "gib": stack.nbytes / 2**30,
        "growth_mib": (peak[0] - baseline) / 2**20,
        "seconds": seconds,
        "max_error_px": float(error.max()),
    }


# ----------------------------------------------------------------------- report


def versions() -> str:
    names = [
        "numpy",
        "scipy",
        "pyFFTW",
        "dask",
        "distributed",
        "scikit-image",
        "image_registration",
    ]
    parts = []
    for name in names:
        try:
            parts.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{name} (absent)")
    return ", ".join(parts)


def report(pairs, memory_sizes, stack_rows, checks, big, started, loads, command) -> str:
    lines = [
        "# Speed and memory: napari-imreg, scikit-image and image_registration side by side",
        "",
        f"Generated by `{command}` on {started:%Y-%m-%d %H:%M} UTC "
        f"({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"{versions()}).",
        f"Load average at start / end: {loads[0]} / {loads[1]} (other work shared the machine: "
        "compare the ratios, measured in the same rounds, more than the absolute times).",
        "",
        "All inputs are float64 extended-emission images (`make_extended`) with noise "
        f"σ = {NOISE} of the signal. Times are medians over interleaved rounds, in an order "
        "shuffled each round.",
        "",
        "## Pairs",
        "",
        "The FFT limit is 2 forward + 1 inverse real FFT at the fastest backend found plus a "
        f"{PATCH}x{PATCH} upsampled DFT patch (1/{UPSAMPLE} pixel). skimage is "
        f"`phase_cross_correlation(upsample_factor={UPSAMPLE})`, image_registration is "
        "`chi2_shift(upsample_factor='auto')`; both are periodic, like our `boundary='wrap'`.",
        "",
        "| size | ours wrap | ours overlap | skimage | image_registration | FFT limit (FFTs only, "
        "backend) | skimage / ours | image_reg. / ours | ours / limit | overlap / wrap |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in pairs:
        t = row.times
        ours_t = t["ours wrap"]
        ir = t.get("image_registration")
        lines.append(
            f"| {row.n}² | {ours_t * 1e3:.1f} ms | {t['ours overlap'] * 1e3:.1f} ms | "
            f"{t['skimage'] * 1e3:.1f} ms | "
            + (f"{ir * 1e3:.0f} ms" if ir else "not run")
            + f" | {row.limit * 1e3:.1f} ms ({row.fft_only * 1e3:.1f} ms, {row.backend}) | "
            f"{t['skimage'] / ours_t:.2f}x | "
            + (f"{ir / ours_t:.1f}x" if ir else "–")
            + f" | {ours_t / row.limit:.2f} | {t['ours overlap'] / ours_t:.2f} |"
        )
    lines += [
        "",
        "Targets (issue 2, at 2048²): ours wrap ≥ 2.5x faster than skimage, ≥ 15x faster than "
        "image_registration, within 1.3x of the limit; overlap within 2.5x of wrap.",
        "",
        "### Peak memory, in units of the two inputs",
        "",
        "Each method in a fresh process: *first call* is the growth of the resident set over "
        "the process with its inputs loaded (plans and caches included); *per call* is the peak "
        "of numpy allocations during a second call (tracemalloc; memory allocated inside FFT "
        "libraries is not seen).",
        "",
        "| size | method | first call (RSS) | per call (tracemalloc) |",
        "| --- | --- | --- | --- |",
    ]
    for row in pairs:
        if row.n not in memory_sizes:
            continue
        for name, values in row.memory.items():
            if "error" in values:
                lines.append(f"| {row.n}² | {name} | failed: {values['error']} | |")
                continue
            lines.append(f"| {row.n}² | {name} | {values['rss']:.1f}x | {values['traced']:.1f}x |")
    lines += [
        "",
        "Targets: ≤ 4x for wrap, ≤ 8x for overlap.",
        "",
        "## Stack of frames",
        "",
        "Every frame registered onto frame 0. Ours reports calibrated errors for every frame "
        "(the *faster road* rows: errors from the chi2 curvature alone, calibrated on "
        "band-limited images only, and no outlier stage: the options a user trades the "
        "calibration on real images for speed with); ours in parallel uses one FFT and one "
        "BLAS thread per frame. The zarr stack is on local disk in chunks of 10 frames. "
        "image_registration ran on fewer frames (see the count). "
        "Methods run in interleaved rounds; CPU time (this process and the cluster's workers) "
        "is less sensitive to other work on the machine than wall time.",
        "",
        "| method | frames | runs | frames/s | vs skimage loop | frames per CPU-second | "
        "vs skimage (CPU) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    skimage = next(r for r in stack_rows if r.name == "skimage loop")
    for r in stack_rows:
        lines.append(
            f"| {r.name} | {r.frames} | {r.runs} | {r.fps:.1f} | {r.fps / skimage.fps:.2f}x | "
            f"{r.cpu_fps:.1f} | {r.cpu_fps / skimage.cpu_fps:.2f}x |"
        )
    for name, value in checks.items():
        lines += ["", f"Agreement check: {name} = {value:.3f}."]
    lines += [
        "",
        "Targets (issue 15): the default (overlap) mode ≥ 4x the skimage loop on 200 frames of "
        "512², errors calibrated; ≥ 250 frames/s in wrap mode.",
    ]
    if big:
        lines += [
            "",
            "## A 4 GiB dask stack",
            "",
            f"{big['frames']} float32 frames of {big['n']}² ({big['gib']:.1f} GiB), generated "
            "chunk by chunk (8 frames) inside the graph, registered with `boundary='wrap'` on the "
            f"local threads: resident set growth {big['growth_mib']:.0f} MiB, "
            f"{big['seconds']:.0f} s ({big['frames'] / big['seconds']:.1f} frames/s, generation "
            f"included), largest error against the true drift {big['max_error_px']:.4f} px.",
            "",
            "Target: less than 1 GiB of growth.",
        ]
    lines += ["", "![speed](benchmarks.png)", ""]
    return "\n".join(lines)


def plot(pairs, stack_rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    names = [*PAIR_METHODS]
    width = 0.8 / (len(names) + 1)
    x = np.arange(len(pairs))
    for i, name in enumerate(names):
        values = [row.times.get(name, np.nan) for row in pairs]
        left.bar(x + i * width, values, width, label=name)
    left.bar(x + len(names) * width, [r.limit for r in pairs], width, label="FFT limit", color="k")
    left.set_xticks(x + 0.4 - width / 2, [f"{r.n}²" for r in pairs])
    left.set_yscale("log")
    left.set_ylabel("seconds per pair (median)")
    left.set_title("Pairs, float64")
    left.legend(fontsize=8)
    labels = [r.name.replace(", ", "\n") for r in stack_rows]
    right.barh(labels, [r.fps for r in stack_rows], color="tab:blue")
    right.set_xlabel("frames per second")
    right.set_title("Stack: 512² frames onto frame 0")
    right.tick_params(axis="y", labelsize=7)
    right.invert_yaxis()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def with_hand_sections(text: str, path: Path) -> str:
    """Append the sections written by hand below ``HAND_MARKER`` in ``path`` to ``text``.

    The tables above the marker are this script's; the dated measurements below it are
    the sessions' own and survive a rerun.
    """
    if not path.exists():
        return text
    old = path.read_text()
    start = old.find(HAND_MARKER)
    if start < 0:
        return text
    return text.rstrip("\n") + "\n\n" + old[start:]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, print only")
    parser.add_argument("--big", action="store_true", help="also the 4 GiB dask stack")
    parser.add_argument("--big-only", action="store_true", help="only the 4 GiB dask stack")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per measurement")
    parser.add_argument(
        "--default-mode",
        action="store_true",
        help="issue 15: the default mode, its fisher part, wrap and skimage side by side "
        "(pairs, 96³, thin images, the 200-frame stack; 256³ with --big); prints only",
    )
    parser.add_argument(
        "--parts",
        default="pairs,thin,stack",
        help="with --default-mode: which cases to run (pairs, thin, stack, maps)",
    )
    parser.add_argument("--memory-probe", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.default_mode:
        import speed_default

        rounds = args.rounds or 5
        parts = tuple(args.parts.split(","))
        text = speed_default.run(
            big=args.big, rounds=rounds, load_average=load_average, parts=parts
        )
        print(text)
        return 0
    if args.memory_probe:
        _memory_probe(args.memory_probe[0], int(args.memory_probe[1]))
        return 0
    if args.big_only:
        print(json.dumps(bench_big()))
        return 0
    started = datetime.datetime.now(datetime.UTC)
    loads = [load_average()]
    sizes = (128, 256) if args.quick else (512, 2048, 4096)
    memory_sizes = (256,) if args.quick else (512, 2048)
    rounds = args.rounds or (3 if args.quick else 7)
    print("pairs", flush=True)
    pairs = [bench_pair(n, rounds, skip_slow=args.quick) for n in sizes]
    print("memory", flush=True)
    for row in pairs:
        if row.n in memory_sizes:
            for name in PAIR_METHODS:
                row.memory[name] = probe_memory(name, row.n)
                print(f"  {row.n}² {name}: {row.memory[name]}", flush=True)
    print("stack", flush=True)
    frames, n = (20, 128) if args.quick else (200, 512)
    stack_rows, checks = bench_stack(frames, n, 3 if not args.quick else 1, quick=args.quick)
    big = None
    if args.big:
        print("big stack", flush=True)
        big = bench_big()
        print(f"  {big}", flush=True)
    loads.append(load_average())
    command = "python benchmarks/speed.py" + (" --big" if args.big else "")
    text = report(pairs, memory_sizes, stack_rows, checks, big, started, loads, command)
    if args.quick:
        print(text)
        return 0
    (ROOT / "docs").mkdir(exist_ok=True)
    target = ROOT / "docs" / "benchmarks.md"
    target.write_text(with_hand_sections(text, target))
    plot(pairs, stack_rows, ROOT / "docs" / "benchmarks.png")
    print(f"written: {ROOT / 'docs' / 'benchmarks.md'}, {ROOT / 'docs' / 'benchmarks.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
