"""Fixtures for the napari adapter tests: a real viewer (pytest-xvfb provides the display)."""

import os
import tempfile

import pytest

# Qt warns when XDG_RUNTIME_DIR is unset; give it a private directory before Qt starts.
if not os.environ.get("XDG_RUNTIME_DIR"):
    _runtime = tempfile.mkdtemp(prefix="napari-imreg-xdg-")
    os.chmod(_runtime, 0o700)
    os.environ["XDG_RUNTIME_DIR"] = _runtime


@pytest.fixture
def viewer(make_napari_viewer_proxy):
    """A real napari viewer (not shown) behind the proxy napari hands to plugins, which allows
    public attributes only; closed by napari's fixture after the test."""
    return make_napari_viewer_proxy()


@pytest.fixture
def wait_for(qtbot):
    """Wait until a widget's thread worker has finished, processing Qt events meanwhile."""

    def wait(widget, timeout: int = 60_000) -> None:
        qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)

    return wait
