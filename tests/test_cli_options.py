"""The command line takes the core's options: the fields of ``Options``, by the same names,
with the same types and the core's own validation messages."""

from __future__ import annotations

import dataclasses
import inspect
import json
import typing

import numpy as np
import pytest

from napari_imreg.cli import cli, main
from napari_imreg.core import Options, make_extended, make_shifted, register, register_stack

#: Each command and the core function it calls with the options.
COMMANDS = {"pair": register, "stack": register_stack}


def _offered() -> list[dataclasses.Field]:
    """The fields the command line offers: all but the older names (``Options.aliases``)."""
    return [field for field in dataclasses.fields(Options) if field.name not in Options.aliases()]


def _fields(command: str) -> list[dataclasses.Field]:
    taken = inspect.signature(COMMANDS[command]).parameters
    return [field for field in _offered() if field.name in taken]


def _flag(field: dataclasses.Field) -> str:
    return "--" + field.name.replace("_", "-")


def _samples(annotation) -> list[tuple[str, object]]:
    """Text for each type the annotation allows, and the value it stands for."""
    if typing.get_origin(annotation) in (typing.Union, typing.get_origin(int | None)):
        return [sample for arg in typing.get_args(annotation) for sample in _samples(arg)]
    if typing.get_origin(annotation) is typing.Literal:
        return [(str(value), value) for value in typing.get_args(annotation)]
    if typing.get_origin(annotation) is tuple:
        return [("3,4", (3.0, 4.0))]
    return {bool: [("false", False)], int: [("2", 2)], float: [("0.5", 0.5)]}.get(annotation, [])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("options")
    image = make_extended(32, seed=0)
    np.save(folder / "ref.npy", image)
    np.save(folder / "mov.npy", make_shifted(image, (0.5, -0.25), noise=0.02, seed=1))
    np.save(folder / "stack.npy", np.stack([image, image, image]))
    return folder


def _arguments(command: str, folder) -> list[str]:
    if command == "pair":
        return [str(folder / "ref.npy"), str(folder / "mov.npy")]
    return [str(folder / "stack.npy")]


def test_every_option_of_the_core_is_a_command_option():
    # stack leaves out only what register_stack leaves out (threads: one per frame, --workers).
    assert [f.name for f in _fields("pair")] == [f.name for f in _offered()]
    for command in COMMANDS:
        names = {param.name for param in cli.commands[command].params}
        assert {field.name for field in _fields(command)} <= names


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_takes_each_kind_of_value(command, files):
    hints = typing.get_type_hints(Options)
    for field in _fields(command):
        if hints[field.name] is bool:
            cases = [([f"--no-{_flag(field)[2:]}"], False), ([_flag(field)], True)]
        else:
            cases = [([_flag(field), text], value) for text, value in _samples(hints[field.name])]
        assert cases, field.name
        for argv, value in cases:
            context = cli.commands[command].make_context(
                command, [*_arguments(command, files), *argv]
            )
            expected = getattr(Options(**{field.name: value}), field.name)
            assert context.params[field.name] == expected, argv


@pytest.mark.parametrize("command", COMMANDS)
def test_a_bad_value_gets_the_core_message(command, files, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a run that got through would write its table here
    hints = typing.get_type_hints(Options)
    image = np.load(files / "ref.npy")
    for field in _fields(command):
        if hints[field.name] is bool:
            continue
        data = (image, image) if command == "pair" else (np.stack([image] * 3),)
        with pytest.raises((TypeError, ValueError)) as core_error:
            COMMANDS[command](*data, **{field.name: "nonsense"})
        status = main([command, *_arguments(command, files), _flag(field), "nonsense"])
        err = capsys.readouterr().err
        assert status != 0, field.name
        assert str(core_error.value) in " ".join(err.split()), err


def test_the_options_reach_the_core(files, capsys):
    reference, moving = np.load(files / "ref.npy"), np.load(files / "mov.npy")
    argv = [
        "--boundary",
        "wrap",
        "--prefilter",
        "0.5",
        "--brightness",
        "none",
        "--max-shift",
        "3,4",
    ]
    assert main(["pair", *_arguments("pair", files), "--json", *argv]) == 0
    printed = json.loads(capsys.readouterr().out)
    result = register(
        reference, moving, boundary="wrap", prefilter=0.5, brightness="none", max_shift=(3, 4)
    )
    assert printed["shift"] == result.shift.tolist()
