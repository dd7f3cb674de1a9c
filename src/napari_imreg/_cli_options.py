"""The command line's argument parsing: the core's :class:`~napari_imreg.core.Options` as click
options (each typed, checked and documented from the field it sets), the stack reference, and
the options the ``pair`` and ``stack`` commands share (noise, masks).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import types
import typing
from collections.abc import Callable
from pathlib import Path

import click

from napari_imreg.core import Options


class _OptionValue(click.ParamType):
    """A value of one field of the core's :class:`Options`, validated by the core itself.

    The text becomes the first type of the field's annotation it parses as (a listed
    choice, a boolean word, an integer, a number, numbers separated by commas); text that
    parses as none goes to the core as it is, so every refusal is the core's message.
    """

    def __init__(self, field: str, annotation):
        self.field = field
        self.members = _members(annotation)
        self.name = "|".join(_metavar(member) for member in self.members if member is not None)

    def get_metavar(self, param, ctx=None):  # as named, not upper-cased by click
        return self.name

    def convert(self, value, param, ctx):
        if isinstance(value, str):
            value = _parse(value, self.members)
        try:
            options = Options(**{self.field: value})
        except (TypeError, ValueError) as exc:
            self.fail(str(exc), param, ctx)
        return getattr(options, self.field)


def _members(annotation) -> list:
    """The types a field's annotation allows, one choice per ``Literal`` value."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    if typing.get_origin(annotation) is typing.Literal:
        return [typing.Literal[value] for value in typing.get_args(annotation)]
    return [None if annotation is type(None) else annotation]


def _metavar(member) -> str:
    if typing.get_origin(member) is typing.Literal:
        return str(typing.get_args(member)[0])
    if typing.get_origin(member) is tuple:
        return "FLOAT,FLOAT..."
    names = {bool: "true|false", int: "INTEGER", float: "FLOAT"}
    return names.get(member, getattr(member, "__name__", "VALUE").upper())


def _parse(text: str, members: list):
    words = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
    for member in members:
        if typing.get_origin(member) is typing.Literal and text == typing.get_args(member)[0]:
            return text
        if member is bool and text.lower() in words:
            return words[text.lower()]
    for member in members:
        with contextlib.suppress(ValueError):
            if member is int:
                return int(text)
            if member is float:
                return float(text)
            if typing.get_origin(member) is tuple and "," in text:
                return tuple(float(part) for part in text.split(","))
    return text


def _option_help() -> dict[str, str]:
    """Each field's description, from the Attributes section of :class:`Options`."""
    lines = inspect.cleandoc(Options.__doc__).splitlines()
    start = lines.index("Attributes") + 2
    helps: dict[str, list[str]] = {}
    for line in lines[start:]:
        if line and not line.startswith(" "):
            if " : " not in line:
                break  # the next section
            helps[line.split(" : ")[0]] = []
        elif line.strip():
            helps[list(helps)[-1]].append(line.strip())
    return {name: " ".join(text).replace("``", "") for name, text in helps.items()}


def core_options(entry_point: Callable):
    """Click options for the fields of :class:`Options` that ``entry_point`` takes.

    Names, types, choices, defaults and help all come from :class:`Options`, so an option
    added to the core appears here without a second list. A boolean field becomes a
    ``--name/--no-name`` flag.
    """
    taken = inspect.signature(entry_point).parameters
    hints = typing.get_type_hints(Options)
    helps = _option_help()
    options = []
    for field in dataclasses.fields(Options):
        if field.name not in taken or field.name in Options.aliases():
            continue
        flag = "--" + field.name.replace("_", "-")
        if hints[field.name] is bool:
            flag, kind = f"{flag}/--no-{flag[2:]}", None
        else:
            kind = _OptionValue(field.name, hints[field.name])
        options.append(
            click.option(
                flag,
                field.name,
                type=kind,
                default=field.default,
                show_default=True,
                help=helps.get(field.name),
            )
        )

    def decorate(function):
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


class StackReference(click.ParamType):
    """A frame index, ``mean``, ``previous`` or the path of an image file."""

    name = "INDEX|mean|previous|FILE"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value in ("mean", "previous"):
            return value
        with contextlib.suppress(ValueError):
            return int(value)
        if Path(value).exists():
            return Path(value)
        self.fail(
            f"{value!r} is not a frame index, 'mean', 'previous' or an existing file", param, ctx
        )


def common_options(function):
    options = [
        click.option(
            "--error",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="1-sigma noise per pixel of the moving image(s); default: from the data.",
        ),
        click.option(
            "--dataset",
            default=None,
            help="The array of a zarr group, or the extension (name or number) of a FITS file.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def mask_options(function):
    options = [
        click.option(
            "--mask",
            "mask_path",
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            help="Pixels to ignore: a file (npy, TIFF, FITS) on the images' pixel grid, non-zero "
            "= ignore (for a stack: one frame's grid, or the stack's).",
        ),
        click.option(
            "--fits-mask/--no-fits-mask",
            default=True,
            show_default=True,
            help="Ignore the pixels flagged (non-zero) in a FITS file's DQ or MASK extension, "
            "when it has one.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function
