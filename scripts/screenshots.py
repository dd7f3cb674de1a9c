"""Make the README's screenshots of the plugin's widgets in use (under Xvfb if no display).

    python scripts/screenshots.py [--out docs/images]

Each scene is what a user gets by hand: open a sample or an image pair, open the widget
(Layers > Register), press the button. Writes:

* ``delta-chi2.png``: the sample pair registered, as it then looks: the registered copy
  (magenta) on the reference (green), the Δχ² map layer beside them, and the widget's plot of
  the map with its 1σ/2σ/3σ regions, fitted ellipses and legend;
* ``pair-3d.png``: a pair of volumes (scale 2, 0.5, 0.5) registered, the z slider intact;
* ``pair-units.png``: a pair in µm (scale 0.2 µm per pixel), shifts in pixels and in µm;
* ``stack-widget.png``: a stack being registered, mid-run, with the shift-per-frame plot.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from napari_imreg._demo import open_pair_demo, run_and_wait, screenshot
from napari_imreg._display import ensure_runtime_dir, virtual_display
from napari_imreg.core import make_extended, make_shifted

REPO = Path(__file__).resolve().parents[1]
PAIR_WIDGET = ("napari-imreg", "Register layers (pairs)")
STACK_WIDGET = ("napari-imreg", "Register a stack (time-lapse or z-drift)")


def delta_chi2_scene(out: Path) -> Path:
    import napari

    viewer = napari.Viewer(title="napari-imreg: register layers", show=True)
    try:
        widget = open_pair_demo(viewer)
        run_and_wait(widget)
        viewer.layers["extended moving"].visible = False
        viewer.layers.selection.active = viewer.layers["Δχ² extended moving"]
        viewer.reset_view()
        return screenshot(viewer, out / "delta-chi2.png", size=(1500, 950))
    finally:
        viewer.close()


def _pair(viewer, shape, shift, **kwargs):
    reference = make_extended(shape, seed=50)
    moving = make_shifted(reference, shift, noise=0.05, seed=51)
    colours = {"colormap": "green", "blending": "additive"}
    ref = viewer.add_image(reference, name="reference", **colours, **kwargs)
    mov = viewer.add_image(
        moving, name="moving", colormap="magenta", blending="additive", **kwargs
    )
    return ref, mov


def pair_3d_scene(out: Path) -> Path:
    import napari

    viewer = napari.Viewer(title="napari-imreg: a 3-D pair", show=True)
    try:
        reference, moving = _pair(viewer, (48, 96, 96), (2.3, -3.6, 1.8), scale=(2, 0.5, 0.5))
        _, widget = viewer.window.add_plugin_dock_widget(*PAIR_WIDGET)
        widget.set_layers(reference, [moving])
        widget._boundary.value = "wrap"
        run_and_wait(widget)
        moving.visible = False
        viewer.dims.set_point(0, 48)
        viewer.reset_view()
        return screenshot(viewer, out / "pair-3d.png", size=(1500, 950))
    finally:
        viewer.close()


def pair_units_scene(out: Path) -> Path:
    import napari

    viewer = napari.Viewer(title="napari-imreg: a pair in µm", show=True)
    try:
        reference, moving = _pair(viewer, (128, 128), (4.3, -2.7), scale=(0.2, 0.2), units="µm")
        _, widget = viewer.window.add_plugin_dock_widget(*PAIR_WIDGET)
        widget.set_layers(reference, [moving])
        widget._boundary.value = "wrap"
        run_and_wait(widget)
        moving.visible = False
        viewer.scale_bar.visible = True
        viewer.reset_view()
        return screenshot(viewer, out / "pair-units.png", size=(1500, 950))
    finally:
        viewer.close()


def stack_scene(out: Path) -> Path:
    """The stack widget mid-run, on a stack long enough to catch it working."""
    from qtpy.QtWidgets import QApplication

    import napari

    viewer = napari.Viewer(title="napari-imreg: register a stack", show=True)
    try:
        base = make_extended((256, 256), seed=52)
        rng = np.random.default_rng(53)
        drift = np.cumsum(rng.normal(0, 0.4, (240, 2)), axis=0)
        drift[0] = 0
        frames = np.stack([make_shifted(base, d, noise=0.05, seed=i) for i, d in enumerate(drift)])
        layer = viewer.add_image(frames, name="drifting stack")
        _, widget = viewer.window.add_plugin_dock_widget(*STACK_WIDGET)
        widget.set_layer(layer)
        widget._boundary.value = "wrap"
        widget.run()
        deadline = time.monotonic() + 300
        while widget.busy and widget.job.done < 0.45 * widget.job.n_frames:
            QApplication.processEvents()
            time.sleep(0.01)
            if time.monotonic() > deadline:
                break
        widget._show_progress(widget.job)
        path = screenshot(viewer, out / "stack-widget.png", size=(1500, 1000))
        widget.cancel()
        while widget.busy:
            QApplication.processEvents()
            time.sleep(0.01)
        return path
    finally:
        viewer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    args = parser.parse_args(argv)
    ensure_runtime_dir()
    with virtual_display():
        scenes = (delta_chi2_scene, pair_3d_scene, pair_units_scene, stack_scene)
        written = [scene(args.out) for scene in scenes]
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
