"""The stack widget's speed against the headless core, on the same stack in one process.

The target (issue 15): registering in the stack widget runs at no less than 70% of the
headless :func:`napari_imreg.register_stack` speed. The widget is docked in a real napari
viewer (under Xvfb when there is no display), its run button pressed, and Qt events processed
until the worker is done, as a user's session would; the copies are not applied (only the
registration is timed). Each side runs in its own process, as a user's napari session and a
user's script would, and is timed on its second run (the first builds FFT plans and starts
the widget's worker processes). Rounds alternate the two, so a busy machine slows both. The CPU
time of each side's process and of its worker processes is measured too: on a loaded machine
the frames per CPU second say more than the wall clock.

Usage::

    python benchmarks/widget_speed.py                   # 200 frames of 512², 3 rounds
    python benchmarks/widget_speed.py --frames 100 --size 256 --rounds 2
    python benchmarks/widget_speed.py --reference mean   # or "previous frame"
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from speed import cpu_seconds, load_average, make_stack

#: The widget's reference choices, as the core spells them.
REFERENCES = {"first frame": 0, "mean": "mean", "previous frame": "previous"}


def headless(stack: np.ndarray, boundary: str, reference: str) -> tuple[float, float]:
    """Seconds and CPU seconds (with the workers') for the core's register_stack with its
    defaults."""
    from napari_imreg import register_stack

    began, cpu = time.perf_counter(), cpu_seconds()
    register_stack(stack, boundary=boundary, reference=REFERENCES[reference])
    return time.perf_counter() - began, cpu_seconds() - cpu


def in_widget(widget, boundary: str, reference: str) -> tuple[float, float]:
    """Seconds and CPU seconds (with the workers') from pressing "Register stack" to the
    worker's end, events processed."""
    from qtpy.QtWidgets import QApplication

    widget._boundary.value = boundary
    widget._reference.value = reference
    widget._apply_when_done.value = False
    began, cpu = time.perf_counter(), cpu_seconds()
    widget.run()
    while widget.busy:
        QApplication.processEvents()
        time.sleep(0.002)
    elapsed, cpu = time.perf_counter() - began, cpu_seconds() - cpu
    assert widget.job.done == widget.job.n_frames
    return elapsed, cpu


def _widget_seconds(frames: int, size: int, boundary: str, reference: str) -> list[float]:
    import napari
    from napari_imreg._display import ensure_runtime_dir, virtual_display
    from napari_imreg._widgets._stack import StackWidget

    ensure_runtime_dir()
    stack = make_stack(frames, size)
    with virtual_display():
        viewer = napari.Viewer(show=True)
        try:
            layer = viewer.add_image(stack, name="stack")
            widget = StackWidget(viewer)
            viewer.window.add_dock_widget(widget)
            widget.set_layer(layer)
            first, _ = in_widget(widget, boundary, reference)
            return [*in_widget(widget, boundary, reference), first]
        finally:
            viewer.close()


def _headless_seconds(frames: int, size: int, boundary: str, reference: str) -> list[float]:
    stack = make_stack(frames, size)
    first, _ = headless(stack, boundary, reference)
    return [*headless(stack, boundary, reference), first]


def _in_process(side: str, args: argparse.Namespace) -> list[float]:
    """The second run's seconds and CPU seconds, and the first run's seconds."""
    command = [sys.executable, __file__, "--side", side, "--frames", str(args.frames)]
    command += ["--size", str(args.size), "--boundary", args.boundary]
    command += ["--reference", args.reference]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return [float(value) for value in done.stdout.strip().splitlines()[-1].split()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--boundary", choices=("overlap", "wrap"), default="overlap")
    parser.add_argument("--reference", choices=tuple(REFERENCES), default="first frame")
    parser.add_argument("--side", choices=("headless", "widget"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side is not None:  # one timing, in this process, for the parent
        timing = _widget_seconds if args.side == "widget" else _headless_seconds
        print(*timing(args.frames, args.size, args.boundary, args.reference))
        return 0

    runs: dict[str, list[list[float]]] = {"headless": [], "widget": []}
    for _ in range(args.rounds):
        for side in runs:
            runs[side].append(_in_process(side, args))
    times = {name: [run[0] for run in values] for name, values in runs.items()}
    fps = {name: args.frames / np.median(values) for name, values in times.items()}
    cpu = {
        name: 1e3 * np.median([run[1] for run in values]) / args.frames
        for name, values in runs.items()
    }
    first = {name: np.median([run[2] for run in values]) for name, values in runs.items()}
    print(
        f"{args.frames} frames of {args.size}², boundary={args.boundary!r}, "
        f"reference={args.reference!r}, "
        f"{args.rounds} rounds, load {load_average()}"
    )
    for name, value in fps.items():
        rounds = ", ".join(f"{args.frames / t:.1f}" for t in times[name])
        print(
            f"  {name:8s} {value:6.1f} frames/s (median; rounds: {rounds}), "
            f"{cpu[name]:.1f} ms of CPU per frame, first run {first[name]:.1f} s"
        )
    print(f"  widget / headless = {fps['widget'] / fps['headless']:.2f} (target >= 0.70)")
    print(f"  CPU per frame, widget / headless = {cpu['widget'] / cpu['headless']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
