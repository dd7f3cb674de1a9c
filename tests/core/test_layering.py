"""The core imports no GUI: importing every core module pulls in no napari, Qt or magicgui."""

import json
import subprocess
import sys

FORBIDDEN = ("napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui")

SCRIPT = f"""
import importlib, json, pkgutil, sys
import napari_imreg.core as core
names = [core.__name__]
for info in pkgutil.walk_packages(core.__path__, prefix=core.__name__ + "."):
    importlib.import_module(info.name)
    names.append(info.name)
forbidden = {FORBIDDEN!r}
loaded = sorted(
    name for name in sys.modules
    if name.split(".")[0] in forbidden
)
print(json.dumps({{"imported": names, "gui": loaded}}))
"""


def test_core_imports_no_gui_modules():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # The walk found the modules this test is about.
    for module in (
        "_register",
        "_fourier",
        "_synthetic",
        "_chi2",
        "_fft",
        "_validation",
        "_fits._files",
    ):
        assert f"napari_imreg.core.{module}" in report["imported"]
    assert report["gui"] == []
