"""The npe2 manifest (packaged, importable, in the Layers > Register menu), the sample data and
the main job."""

import os
from pathlib import Path

import imageio
import npe2
import numpy as np
import pytest

import napari_imreg
from napari_imreg import __main__ as main_job
from napari_imreg._display import virtual_display
from napari_imreg._sample_data import HUBBLE_SHIFT
from napari_imreg._widgets._pair import PairOptions, PairRegistration
from napari_imreg.core import Options

PLUGIN = "napari-imreg"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def manifest():
    manager = npe2.PluginManager.instance()
    manager.discover()
    return manager.get_manifest(PLUGIN)


def test_manifest_is_packaged_and_points_at_real_code(manifest):
    # A real file, not a symlink (a Windows clone without symlinks would ship a text stub),
    # kept identical to the root copy.
    packaged = Path(napari_imreg.__file__).parent / "napari.yaml"
    assert not packaged.is_symlink()
    assert packaged.read_text() == (REPO / "napari.yaml").read_text()
    assert "Registration" in [str(category) for category in manifest.categories]
    for command in manifest.contributions.commands:
        assert callable(npe2.PluginManager.instance().commands.get(command.id))
    contributions = manifest.contributions
    assert len(contributions.widgets) == 2
    assert len(contributions.sample_data) == 3
    assert contributions.readers[0].filename_patterns[:4] == [
        "*.fits",
        "*.fit",
        "*.fts",
        "*.fits.gz",
    ]


def _menu_actions(menu, path):
    """The actions of the submenu at ``path`` (menu titles, as shown) of a Qt menu bar."""
    for action in menu.actions():
        if action.menu() is not None and action.text().replace("&", "") == path[0]:
            if len(path) == 1:
                return action.menu().actions()
            return _menu_actions(action.menu(), path[1:])
    return []


def test_widgets_are_in_the_layers_register_menu(viewer):
    # The menu as a user sees it (napari's public window API, not its private app model).
    actions = {a.text(): a for a in _menu_actions(viewer.window.main_menu, ["Layers", "Register"])}
    pair = "Register layers (pairs) (napari-imreg)"
    assert {pair, "Register a stack (time-lapse or z-drift) (napari-imreg)"} <= set(actions)
    actions[pair].trigger()
    assert any("Register layers (pairs)" in name for name in viewer.window.dock_widgets)


def test_real_image_sample_with_known_shift(viewer):
    reference, moving = viewer.open_sample(PLUGIN, "shifted_hubble")
    assert moving.metadata["known_shift"] == HUBBLE_SHIFT
    model = PairRegistration(viewer, PairOptions(core=Options(boundary="overlap")))
    (job,) = model.plan(reference, [moving])
    model.run(job)
    error = job.full_error
    assert np.all(np.abs(job.full_shift - HUBBLE_SHIFT) <= 4 * error + 0.01)


def test_main_job_headless_prints_the_registration(capsys):
    assert main_job.main(["--headless", "--no-screenshot"]) == 0
    out = capsys.readouterr().out
    assert "dy = +12.33" in out
    assert "dx = -4.76" in out or "dx = -4.77" in out
    assert "±" in out


def test_virtual_display_starts_and_stops_xvfb(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    with virtual_display() as display:
        assert display.startswith(":")
        socket = Path(f"/tmp/.X11-unix/X{display[1:]}")
        assert socket.exists()
    assert "DISPLAY" not in os.environ


def test_demo_scene_runs_the_widget_and_writes_a_screenshot(make_napari_viewer, tmp_path):
    from napari_imreg._demo import open_pair_demo, run_and_wait, screenshot

    viewer = make_napari_viewer(show=True)
    widget = open_pair_demo(viewer)
    run_and_wait(widget)
    assert "dy = +12.33" in widget._results.value
    path = screenshot(viewer, tmp_path / "shot.png", size=(900, 600))
    image = np.asarray(imageio.v3.imread(path))
    assert image.shape[0] >= 500
    assert image.std() > 0  # something was drawn
