"""Every public name and parameter of image_registration 0.2.10, found in the drop-in.

The comparison is by introspection of the installed 0.2.10: for each public function or
class defined in one of its library modules, the drop-in has the same name at the same
module path, accepts every parameter name, and takes the positional parameters in the
same order. Skipped, with the reason, when 0.2.10 is not installed.
"""

import importlib
import inspect

import pytest
from _reference import library_modules, reference_or_skip

reference = reference_or_skip()
MODULES, BROKEN = library_modules(reference)

# 0.2.10 modules that cannot be imported there; the drop-in provides them anyway
KNOWN_BROKEN = {
    # it imports `FITS_tools.hcongrid` as a top-level package
    "image_registration.FITS_tools.hcongrid",
}


def _public_definitions():
    for module in MODULES:
        for name, obj in sorted(vars(module).items()):
            defined_here = getattr(obj, "__module__", None) == module.__name__
            if name.startswith("_") or not defined_here:
                continue
            # a test function inside a library module (convolve_nd.test_3d) is not API
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and not name.startswith("test"):
                yield module.__name__, name, obj


DEFINITIONS = list(_public_definitions())


def _dropin(module_name: str):
    return importlib.import_module(
        module_name.replace("image_registration", "napari_imreg.image_registration", 1)
    )


def test_the_comparison_covers_the_reference():
    # guards the introspection itself: the names issue 18 lists must be among those compared
    names = {f"{module}.{name}" for module, name, _ in DEFINITIONS}
    assert len(DEFINITIONS) >= 40
    for expected in (
        "image_registration.chi2_shifts.chi2map_to_errors",
        "image_registration.cross_correlation_shifts.second_derivative",
        "image_registration.iterative_zoom.centers_to_edges",
        "image_registration.register_images.dftregistration",
        "image_registration.FITS_tools.match_images.register_fits",
    ):
        assert expected in names
    assert set(BROKEN) == KNOWN_BROKEN, BROKEN


@pytest.mark.parametrize("module_name", sorted(KNOWN_BROKEN))
def test_modules_broken_in_the_reference_exist_in_the_dropin(module_name):
    assert _dropin(module_name).__all__


@pytest.mark.parametrize(
    ("module_name", "name", "original"),
    DEFINITIONS,
    ids=[f"{module[len('image_registration.') :]}.{name}" for module, name, _ in DEFINITIONS],
)
def test_name_and_parameters_match_the_reference(module_name, name, original):
    dropin = getattr(_dropin(module_name), name, None)
    assert dropin is not None, f"the drop-in's {module_name} lacks {name}"
    assert inspect.isclass(dropin) == inspect.isclass(original)
    theirs = inspect.signature(original).parameters
    ours = inspect.signature(dropin).parameters
    named = [p for p in theirs.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    missing = [p.name for p in named if p.name not in ours]
    assert not missing, f"{name} does not accept {missing}"
    positional = [p.name for p in named if p.kind == p.POSITIONAL_OR_KEYWORD]
    our_positional = [
        p.name for p in ours.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    assert our_positional[: len(positional)] == positional
    for parameter in named:
        assert ours[parameter.name].default is not inspect.Parameter.empty or (
            parameter.default is inspect.Parameter.empty
        ), f"{name}({parameter.name}=...) is optional in the reference"
