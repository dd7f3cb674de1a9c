"""Ready-made viewer scenes: the sample data with a widget docked and run.

Used by the main job (``python -m napari_imreg``) and by ``scripts/screenshots.py``; the same
calls a user makes by hand (File > Open Sample, Layers > Register, press Register).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import napari
    from napari_imreg._widgets._pair import PairWidget
    from napari_imreg._widgets._stack import StackWidget

PLUGIN = "napari-imreg"
PAIR_WIDGET = "Register layers (pairs)"
STACK_WIDGET = "Register a stack (time-lapse or z-drift)"


def open_pair_demo(viewer: napari.viewer.Viewer) -> PairWidget:
    """Open the extended-emission sample pair and dock the pair widget, set up for it."""
    viewer.open_sample(PLUGIN, "extended_pair")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, PAIR_WIDGET)
    widget.set_layers(viewer.layers["extended reference"], [viewer.layers["extended moving"]])
    widget._boundary.value = "wrap"  # the sample images are periodic
    return widget


def open_stack_demo(viewer: napari.viewer.Viewer) -> StackWidget:
    """Open the drifting time-lapse sample and dock the stack widget, set up for it."""
    layers = viewer.open_sample(PLUGIN, "drifting_timelapse")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, STACK_WIDGET)
    widget.set_layer(layers[0], apply_to=[layers[1]])
    widget._boundary.value = "wrap"
    return widget


def run_and_wait(widget: Any, timeout: float = 120.0) -> None:
    """Press the widget's run button and process Qt events until its worker is done."""
    from qtpy.QtWidgets import QApplication

    widget.run()
    deadline = time.monotonic() + timeout
    while widget.busy:
        QApplication.processEvents()
        if time.monotonic() > deadline:
            widget.cancel()
            raise TimeoutError(f"the registration did not finish within {timeout} s")
        time.sleep(0.01)
    QApplication.processEvents()


def screenshot(viewer: napari.viewer.Viewer, path: str | Path, size=(1500, 900)) -> Path:
    """Save a PNG of the whole viewer window (canvas and docked widgets)."""
    from qtpy.QtWidgets import QApplication

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    window = viewer.window._qt_window
    window.resize(*size)
    for _ in range(5):
        QApplication.processEvents()
        time.sleep(0.05)
    viewer.screenshot(str(path), canvas_only=False, flash=False)
    return path
