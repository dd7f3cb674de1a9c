"""Make the README's screenshots of the plugin's widgets in use (under Xvfb if no display).

    python scripts/screenshots.py [--out docs/images]

Each scene is what a user gets by hand: open a sample (File > Open Sample > napari-imreg), open
the widget (Layers > Register), press the button. Writes:

* ``pair-widget.png``: the sample pair registered; the registered copy (magenta) on the
  reference (green) turns white where they agree;
* ``delta-chi2.png``: the Δχ² map of that registration, zoomed; the cursor reads the shift in
  pixels, and the colours mark the 1, 2 and 3 sigma regions;
* ``stack-widget.png``: the drifting time-lapse registered, with the shift-per-frame plot.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from napari_imreg._demo import open_pair_demo, open_stack_demo, run_and_wait, screenshot
from napari_imreg._display import ensure_runtime_dir, virtual_display

REPO = Path(__file__).resolve().parents[1]


def pair_scenes(out: Path) -> list[Path]:
    import napari

    viewer = napari.Viewer(title="napari-imreg: register layers", show=True)
    try:
        widget = open_pair_demo(viewer)
        run_and_wait(widget)
        viewer.layers["extended moving"].visible = False
        chi2 = viewer.layers["Δχ² extended moving"]
        chi2.visible = False
        viewer.layers.selection.active = viewer.layers["extended moving registered"]
        viewer.reset_view()
        written = [screenshot(viewer, out / "pair-widget.png")]

        for layer in viewer.layers:
            layer.visible = layer is chi2
        chi2.visible = True
        viewer.layers.selection.active = chi2
        viewer.fit_to_view(layers=[chi2], margin=0.1)
        minimum = np.unravel_index(np.argmin(chi2.data), chi2.data.shape)
        viewer.cursor.position = tuple(chi2.data_to_world(minimum))
        written.append(screenshot(viewer, out / "delta-chi2.png"))
        return written
    finally:
        viewer.close()


def stack_scene(out: Path) -> Path:
    import napari

    viewer = napari.Viewer(title="napari-imreg: register a stack", show=True)
    try:
        widget = open_stack_demo(viewer)
        run_and_wait(widget)
        for layer in viewer.layers:
            layer.visible = layer.name.endswith("registered")
        viewer.dims.set_point(0, 8)
        return screenshot(viewer, out / "stack-widget.png", size=(1500, 1000))
    finally:
        viewer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    args = parser.parse_args(argv)
    ensure_runtime_dir()
    with virtual_display():
        written = [*pair_scenes(args.out), stack_scene(args.out)]
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
