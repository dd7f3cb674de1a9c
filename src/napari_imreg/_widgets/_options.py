"""The core's registration options as widget controls, built from the core's ``Options``.

One control per field of ``Options``, named and ordered as the field, so the pair and stack
widgets offer what :func:`~napari_imreg.core.register` and
:func:`~napari_imreg.core.register_stack` take without a second list: an option added to the
core appears here. ``Literal`` choices become dropdowns, ``bool`` a checkbox, ``bool | float``
(``prefilter``) a dropdown with a strength, ``upsample_factor`` an "auto" checkbox with a number,
anything else a text box read as a Python literal (empty: the core's default). The tooltips come
from the ``Options`` docstring. The validation is the core's: :meth:`OptionControls.options`
builds an ``Options``, whose errors name the option and the value.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import typing
from typing import Any, Literal, get_args, get_origin

from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, LineEdit, SpinBox, Widget

from napari_imreg._widgets._layers import MASK_MODES, RGB_CHANNELS
from napari_imreg.core import Options

#: The options shown without opening "advanced options"; the others are folded away.
MAIN_OPTIONS = ("upsample_factor", "boundary", "brightness")
#: The options the DFT and Taylor methods take (the others are the chi-squared method's);
#: they subtract the means unless brightness is "none".
PEAK_OPTIONS = ("upsample_factor", "brightness")
#: Options with no control of their own: older names of other options.
HIDDEN_OPTIONS = tuple(Options.aliases())

_PREFILTER_CHOICES = ("on (strength from the noise)", "off", "fixed strength")


class OptionControls:
    """The controls of every :class:`Options` field, and the :class:`Options` they set.

    Attributes
    ----------
    widgets : list of magicgui Widget
        The controls in field order, to add to a container.
    by_name : dict of str to list of Widget
        The controls of each field.
    """

    def __init__(self) -> None:
        hints = typing.get_type_hints(Options, include_extras=True)
        docs = _attribute_docs(Options)
        self._readers: dict[str, Any] = {}
        self._writers: dict[str, Any] = {}
        self.by_name: dict[str, list[Widget]] = {}
        for field in dataclasses.fields(Options):
            if field.name in HIDDEN_OPTIONS:
                continue
            controls = self._make(field.name, hints[field.name], field.default)
            for control in controls:
                control.tooltip = docs.get(field.name, "")
            self.by_name[field.name] = controls
        self.advanced = CheckBox(text="advanced options", value=False)
        self.advanced.tooltip = "Show every option of the registration (the core's Options)."
        self.advanced.changed.connect(self.update_visibility)
        main = [w for name in MAIN_OPTIONS if name in self.by_name for w in self.by_name[name]]
        rest = [w for name, ws in self.by_name.items() if name not in MAIN_OPTIONS for w in ws]
        #: The controls to add to a container: the main options, "advanced options", the rest.
        self.widgets: list[Widget] = [*main, self.advanced, *rest]
        self._shown = set(self.by_name)

    # ---------------------------------------------------------------- public
    def options(self) -> Options:
        """The options as set, validated by the core (``ValueError``/``TypeError`` if not)."""
        return Options(**{name: read() for name, read in self._readers.items()})

    def set_value(self, name: str, value: Any) -> None:
        """Set one option's controls to ``value`` (what a user does by hand)."""
        self._writers[name](value)

    def show_only(self, names: typing.Iterable[str] | None) -> None:
        """Show the controls of these options only (None: all), e.g. for the DFT method."""
        self._shown = set(self.by_name) if names is None else set(names)
        self.update_visibility()

    def update_visibility(self, event: Any = None) -> None:
        advanced = bool(self.advanced.value)
        for name, controls in self.by_name.items():
            visible = name in self._shown and (advanced or name in MAIN_OPTIONS)
            for control in controls:
                control.visible = visible
        if "upsample_factor" in self.by_name:
            auto, number = self.by_name["upsample_factor"]
            number.visible = auto.visible and not auto.value
        if "prefilter" in self.by_name:
            mode, strength = self.by_name["prefilter"]
            strength.visible = mode.visible and mode.value == _PREFILTER_CHOICES[2]

    # ---------------------------------------------------------------- building
    def _make(self, name: str, hint: Any, default: Any) -> list[Widget]:
        label = name.replace("_", " ")
        if name == "upsample_factor":
            return self._upsample(default)
        literal = _literal_choices(hint)
        if literal:
            # An optional choice (brightness: None) defaults to its first choice.
            combo = ComboBox(label=label, choices=literal, value=default or literal[0])
            self._readers[name] = lambda: combo.value
            self._writers[name] = lambda value: setattr(combo, "value", value)
            return [combo]
        if hint is bool:
            box = CheckBox(text=label, value=bool(default))
            self._readers[name] = lambda: bool(box.value)
            self._writers[name] = lambda value: setattr(box, "value", bool(value))
            return [box]
        if set(get_args(hint)) == {bool, float}:
            return self._bool_or_float(name, label, default)
        text = LineEdit(label=label, value="" if default is None else repr(default))
        text.native.setPlaceholderText("empty: the default")
        self._readers[name] = lambda: _literal(text.value, default)
        self._writers[name] = lambda value: setattr(
            text, "value", "" if value is None else repr(value)
        )
        return [text]

    def _upsample(self, default: Any) -> list[Widget]:
        auto = CheckBox(text="auto upsample", value=default == "auto")
        number = SpinBox(
            label="upsample factor", value=20 if default == "auto" else default, min=1, max=1000
        )
        self._auto_upsample, self._upsample_number = auto, number
        self._readers["upsample_factor"] = lambda: "auto" if auto.value else int(number.value)

        def write(value: Any) -> None:
            auto.value = value == "auto"
            if value != "auto":
                number.value = int(value)

        self._writers["upsample_factor"] = write
        auto.changed.connect(self.update_visibility)
        return [auto, number]

    def _bool_or_float(self, name: str, label: str, default: Any) -> list[Widget]:
        first = _PREFILTER_CHOICES[0] if default is not False else _PREFILTER_CHOICES[1]
        mode = ComboBox(label=label, choices=_PREFILTER_CHOICES, value=first)
        strength = FloatSpinBox(label=f"{label} strength", value=0.5, min=0.0, max=1.0, step=0.05)

        def read() -> bool | float:
            if mode.value == _PREFILTER_CHOICES[2]:
                return float(strength.value)
            return mode.value == _PREFILTER_CHOICES[0]

        def write(value: Any) -> None:
            if isinstance(value, bool):
                mode.value = _PREFILTER_CHOICES[0] if value else _PREFILTER_CHOICES[1]
            else:
                mode.value = _PREFILTER_CHOICES[2]
                strength.value = float(value)

        self._readers[name], self._writers[name] = read, write
        mode.changed.connect(self.update_visibility)
        return [mode, strength]


def _literal_choices(hint: Any) -> tuple[Any, ...]:
    """The choices of a ``Literal`` hint, or of ``Literal[...] | None``; () for any other."""
    if get_origin(hint) is Literal:
        return get_args(hint)
    for part in get_args(hint):
        if get_origin(part) is Literal and type(None) in get_args(hint):
            return get_args(part)
    return ()


def _literal(text: str, default: Any) -> Any:
    """A text box's value: empty for the default, else a Python literal (``10``, ``10, 20``)."""
    text = text.strip()
    if not text:
        return default
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # the core's validation names the option and the value


def _attribute_docs(cls: type) -> dict[str, str]:
    """Each attribute's description in a numpydoc "Attributes" section, on one line."""
    doc = inspect.getdoc(cls) or ""
    section = doc.split("Attributes\n----------\n", 1)[-1]
    section = re.split(r"\n\S[^\n]*\n-{3,}\n", section, maxsplit=1)[0]
    docs: dict[str, str] = {}
    name = None
    for line in section.splitlines():
        if line and not line.startswith(" "):
            name = line.split(" : ")[0].strip()
            docs[name] = f"{line.strip()}."
        elif name is not None and line.strip():
            docs[name] = f"{docs[name]} {line.strip()}"
    return docs


def add_common_controls(widget: Any, mask_choices: Any) -> None:
    """Give a widget the controls the pair and stack widgets share: the core's options
    (``widget.option_controls``), the mask layer and its meaning, the FITS DQ switch and
    the RGB channel.

    The main options' controls also go by their old attribute names (``_upsample``,
    ``_boundary``...), which scripts, tests and the tooltips use.
    """
    widget.option_controls = OptionControls()
    controls = widget.option_controls.by_name
    widget._auto_upsample, widget._upsample = controls["upsample_factor"]
    for name in ("boundary", "brightness"):
        if name in controls:  # an option the core renames disappears here with it
            setattr(widget, f"_{name}", controls[name][0])
    widget._mask_layer = ComboBox(label="mask layer", choices=mask_choices)
    widget._mask_mode = ComboBox(label="mask means", choices=MASK_MODES, value=MASK_MODES[0])
    widget._fits_masks = CheckBox(text="ignore FITS DQ/MASK flags", value=True)
    widget._rgb_channel = ComboBox(label="RGB channel", choices=RGB_CHANNELS, value="luminance")
