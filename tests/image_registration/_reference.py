"""Finding the installed image_registration 0.2.10, which the parity tests compare against."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import warnings
from types import ModuleType

import pytest

REFERENCE_VERSION = "0.2.10"

# Modules of 0.2.10 that are its test suite or packaging, not its library: the suite runs
# against the drop-in in test_reference_suite.py.
NOT_LIBRARY = (
    "image_registration._astropy_init",
    "image_registration.conftest",
    "image_registration.cython_version",
    "image_registration.version",
    "image_registration.fft_tools.tests",
    "image_registration.tests",
)


def reference_or_skip() -> ModuleType:
    """The installed image_registration 0.2.10, or skip the calling test module."""
    if importlib.util.find_spec("image_registration") is None:
        pytest.skip(
            f"image_registration {REFERENCE_VERSION} is not installed (pip install "
            f"image_registration=={REFERENCE_VERSION}); the parity checks compare with it.",
            allow_module_level=True,
        )
    package = import_quietly("image_registration")
    if package.__version__ != REFERENCE_VERSION:
        pytest.skip(
            f"image_registration {package.__version__} is installed; the parity checks are "
            f"written for {REFERENCE_VERSION}.",
            allow_module_level=True,
        )
    return package


def import_quietly(name: str) -> ModuleType:
    """Import a module of the reference, whose import warns about deprecated astropy parts."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(name)


def library_modules(package: ModuleType) -> tuple[list[ModuleType], dict[str, str]]:
    """The reference's library modules, and those that fail to import (name: error)."""
    modules, broken = [], {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = list(pkgutil.walk_packages(package.__path__, package.__name__ + "."))
    for info in found:
        if info.name.startswith(NOT_LIBRARY):
            continue
        try:
            modules.append(import_quietly(info.name))
        except Exception as exc:  # the reference ships modules that cannot be imported
            broken[info.name] = f"{type(exc).__name__}: {exc}"
    return modules, broken
