"""The plugin installs whole (issue 16, items 11-14 and 16): the runtime dependencies are the
ones the code imports, the wheel carries the manifest, LICENSE and py.typed, and an install made
the way napari's plugin manager makes it (no extras) validates and docks both widgets."""

import ast
import os
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "src" / "napari_imreg"


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _runtime_requirements() -> dict[str, Requirement]:
    requirements = (Requirement(line) for line in _project()["dependencies"])
    return {requirement.name: requirement for requirement in requirements}


def _imported_top_level_names() -> set[str]:
    """What the napari adapter imports (the drop-in's optional plotting helper aside)."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        if "image_registration" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names


def test_runtime_dependencies_are_what_the_plugin_imports():
    # Item 13: npe2 was a runtime dependency that nothing imports. Item 11: matplotlib was
    # imported by the stack widget but lived only in an extra.
    runtime = _runtime_requirements()
    imported = _imported_top_level_names()
    assert "npe2" not in runtime
    assert "npe2" not in imported
    assert "matplotlib" not in imported
    for name in ("numpy", "scipy", "astropy", "dask", "magicgui", "qtpy", "threadpoolctl"):
        assert name in runtime, name


def test_tifffile_and_zarr_pins_make_a_working_pair():
    # Item 12: tifffile >= 2025.1 refuses zarr < 3, and zarr>=2.16 let a resolver pick zarr 2.
    runtime = _runtime_requirements()
    assert not runtime["zarr"].specifier.contains("2.18.7")
    assert runtime["zarr"].specifier.contains("3.1.6")
    assert Version("2025.1.10") not in runtime["tifffile"].specifier or runtime[
        "zarr"
    ].specifier.contains("3.1.6")
    assert Requirement("x" + _project()["requires-python"]).specifier.contains("3.11")


def _build_wheel(out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(out)],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("napari_imreg-*.whl")
    return wheel


@pytest.mark.slow
def test_wheel_installs_without_extras_validates_and_docks_both_widgets(tmp_path):
    # Items 14 and 16: the wheel carries a real manifest, the LICENSE and py.typed; installed
    # with napari (and a Qt binding, which napari's bundle has) but none of the plugin's
    # extras, in a fresh environment, the manifest validates with its imports and both
    # widgets dock. About 3 minutes here, most of it downloading napari and its dependencies.
    began = time.monotonic()
    wheel = _build_wheel(tmp_path / "dist")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        manifest = archive.read("napari_imreg/napari.yaml").decode()
    assert manifest == (REPO / "napari.yaml").read_text()
    assert "napari_imreg/py.typed" in names
    assert any(name.endswith("licenses/LICENSE") for name in names)

    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    python = env / "bin" / "python"
    # Nothing of this checkout may leak in: no PYTHONPATH, and not run from the repository.
    clean = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    run = {"capture_output": True, "text": True, "env": clean, "cwd": tmp_path}
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(wheel), "napari", "PyQt6"],
        check=True,
        **run,
    )
    installed = subprocess.run(
        [str(python), "-c", "import napari_imreg; print(napari_imreg.__file__)"], **run
    )
    assert str(env) in installed.stdout
    validate = subprocess.run(
        [str(env / "bin" / "npe2"), "validate", "--imports", "napari-imreg"], **run
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr
    script = textwrap.dedent(
        """
        import importlib.util
        import napari
        viewer = napari.Viewer(show=False)
        for name in ("Register layers (pairs)", "Register a stack (time-lapse or z-drift)"):
            viewer.window.add_plugin_dock_widget("napari-imreg", name)
        stack = viewer.window._dock_widgets
        print("matplotlib", importlib.util.find_spec("matplotlib") is not None)
        print("docked", sorted(stack))
        viewer.close()
        """
    )
    docked = subprocess.run([str(python), "-c", script], timeout=300, **run)
    assert docked.returncode == 0, docked.stderr
    assert "Register layers (pairs) (napari-imreg)" in docked.stdout
    assert "Register a stack (time-lapse or z-drift) (napari-imreg)" in docked.stdout
    assert "matplotlib False" in docked.stdout  # the stack plot needs no extra
    print(f"fresh install, validate and dock: {time.monotonic() - began:.0f} s")
