"""The core's shape, kept: no module, class or function past its size; the public
names in one place; every module private; no public name hiding a module. The sizes hold for
the whole package (widgets, CLI, reader and writer too), the rest for the core.

Sizes are signs of the shape (issue "the core as a pipeline"): a stage that grows
past them has a seam to split at. Functions and classes are counted without their
docstring, which documents rather than does.
"""

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import napari_imreg.core as core

CORE = Path(core.__file__).parent
PACKAGE = CORE.parent
MAX_MODULE_LINES = 700
MAX_CLASS_LINES = 300
MAX_FUNCTION_LINES = 120

#: The registration API: importable from the core, defined in private modules.
PIPELINE = (
    "register",
    "Registrar",
    "register_stack",
    "iter_register_stack",
    "apply_shift",
    "apply_shifts",
    "RegistrationResult",
    "StackResult",
    "RegistrationWarning",
    "Options",
)


def _sources():
    return sorted(CORE.rglob("*.py"))


def _package_sources():
    """Every module of napari_imreg, the core's included: the sizes hold everywhere."""
    return sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


def _code_lines(node) -> int:
    """Lines of a class or function, its docstring left out."""
    lines = node.end_lineno - node.lineno + 1
    if ast.get_docstring(node, clean=False) is not None:
        doc = node.body[0]
        lines -= doc.end_lineno - doc.lineno + 1
    return lines


def _definitions():
    for path in _package_sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                yield f"{_name(path)}:{node.lineno} {node.name}", node


def test_code_lines_leave_out_the_docstring():
    # The measure itself: a function of 5 lines, 2 of them its docstring.
    source = 'def f():\n    """One.\n    Two."""\n    a = 1\n    return a\n'
    (node,) = ast.parse(source).body
    assert _code_lines(node) == 3


@pytest.mark.parametrize("path", _package_sources(), ids=_name)
def test_no_module_is_too_long(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{_name(path)} has {lines} lines; split it at a seam."


def test_the_sizes_cover_the_whole_package():
    # The widgets and the CLI are measured, not only the core.
    names = {_name(path) for path in _package_sources()}
    assert {"cli.py", "_widgets/_pair.py", "_widgets/_stack.py", "core/__init__.py"} <= names


def test_no_class_or_function_is_too_long():
    too_long = []
    for name, node in _definitions():
        limit = MAX_CLASS_LINES if isinstance(node, ast.ClassDef) else MAX_FUNCTION_LINES
        if _code_lines(node) > limit:
            too_long.append(f"{name}: {_code_lines(node)} > {limit}")
    assert too_long == []


@pytest.mark.parametrize("name", PIPELINE)
def test_public_names_import_from_the_core(name):
    assert name in core.__all__
    value = getattr(core, name)
    module = value.__module__
    assert module.startswith("napari_imreg.core._"), f"{name} lives in public module {module}."


def test_every_exported_name_exists():
    missing = [name for name in core.__all__ if not hasattr(core, name)]
    assert missing == []


def test_no_public_name_hides_a_module():
    modules = {info.name for info in pkgutil.iter_modules(core.__path__)}
    for module in modules:
        importlib.import_module(f"{core.__name__}.{module}")
    hidden = sorted(set(core.__all__) & modules)
    assert hidden == [], f"these names hide a module of the same name: {hidden}"


def test_every_core_module_is_private():
    # The public names live in napari_imreg.core alone, so a module can move or split freely.
    public = [
        str(path.relative_to(CORE))
        for path in _sources()
        if not all(part.startswith("_") for part in path.relative_to(CORE).with_suffix("").parts)
    ]
    assert public == [], f"these core modules are public; prefix them with '_': {public}"
