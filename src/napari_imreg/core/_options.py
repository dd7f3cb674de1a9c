"""The options of a chi-squared registration: one frozen object, validated once.

:func:`register`, :class:`Registrar`, :func:`register_stack` and
:func:`iter_register_stack` take these options by name and build one
:class:`Options` from them. Front ends (the CLI, the widgets) can read the names,
types, choices and defaults from the class rather than repeat them.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from ._brightness import BRIGHTNESS_FITS, Brightness, check_brightness
from ._validation import check_choice, check_prefilter, check_upsample_factor

#: The two models of the image's edges (what a registration runs, and reports).
Boundary = Literal["overlap", "wrap"]
BOUNDARIES: tuple[str, ...] = get_args(Boundary)
#: The ``boundary`` option: a model, or ``"auto"`` (chosen from the images).
BoundaryChoice = Literal["auto", "overlap", "wrap"]
BOUNDARY_CHOICES: tuple[str, ...] = get_args(BoundaryChoice)
ErrorModel = Literal["residual", "fisher"]
ERROR_MODELS: tuple[str, ...] = get_args(ErrorModel)


@dataclass(frozen=True)
class Options:
    """The options of a chi-squared registration, validated when made.

    Attributes
    ----------
    upsample_factor : int or "auto"
        Samples per pixel of the delta-chi2 map (the shift and error are continuous
        and do not depend on it). ``"auto"`` samples the 1, 2 and 3-sigma regions.
    boundary : {"auto", "overlap", "wrap"}
        ``"overlap"``: chi2 over the overlap only, for real images whose edges do
        not wrap. ``"wrap"``: periodic images. ``"auto"`` (default): ``"wrap"``
        when both images are shown to wrap (their opposite edges join as smoothly
        as their interior rows), else ``"overlap"``; a stack decides once, on its
        reference. The result's ``boundary`` says which was used.
    zero_mean : bool or None
        The older name of ``brightness``: True is ``"offset"``, False ``"none"``;
        None follows ``brightness``. After validation it says whether an offset
        is fitted (``brightness != "none"``).
    max_shift : float, sequence of float or None
        Largest shift allowed per axis, in pixels (checked against the images'
        shape when they are known). None: a quarter of each axis for
        ``"overlap"``, half for ``"wrap"`` (the model used, with ``"auto"``).
    prefilter : bool or float
        ``"overlap"`` only: low-pass both images as strongly as the noise needs
        (True), at a fixed strength from 0 to 1, or not at all (False). See
        docs/how-it-works.md, "The filter".
    threads : int or None
        FFT threads per registration; None: all cores for large images.
    errors : {"residual", "fisher"}
        ``"residual"`` (default): errors from the image-space residual, which hold
        what the interpolation model cannot fit (calibrated on real images, issue
        13). ``"fisher"``: the chi2 surface's curvature alone, faster, calibrated
        on band-limited images only. docs/how-it-works-errors.md.
    brightness : {"scale+offset", "scale+offset+tilt", "offset", "none"} or None
        What is fitted between the images, profiled out of chi2 at every shift
        (``reference ~ scale * moving + offset``): a gain and an offset (the
        default, None with ``zero_mean`` None), those and a linear background
        (``+ tilt . x``), an offset, or nothing. Given with ``zero_mean``, the two
        must agree.

    Examples
    --------
    >>> Options(boundary="wrap").boundary
    'wrap'
    >>> Options.choices()["boundary"]
    ('auto', 'overlap', 'wrap')
    """

    upsample_factor: int | Literal["auto"] = "auto"
    boundary: BoundaryChoice = "auto"
    zero_mean: bool | None = None
    max_shift: float | tuple[float, ...] | None = None
    prefilter: bool | float = True
    threads: int | None = None
    errors: ErrorModel = "residual"
    brightness: Brightness | None = None
    outliers: bool = True
    clip_threshold: float = 10.0
    saturation: bool = False

    def __post_init__(self):
        object.__setattr__(self, "outliers", bool(self.outliers))
        object.__setattr__(self, "saturation", bool(self.saturation))
        object.__setattr__(self, "clip_threshold", _check_clip(self.clip_threshold))
        brightness = check_brightness(self.brightness, self.zero_mean)
        object.__setattr__(self, "brightness", brightness)
        object.__setattr__(self, "zero_mean", brightness != "none")
        checked = {
            "upsample_factor": check_upsample_factor(self.upsample_factor),
            "boundary": check_choice(self.boundary, "boundary", BOUNDARY_CHOICES),
            "prefilter": check_prefilter(self.prefilter),
            "threads": _check_threads(self.threads),
            "errors": check_choice(self.errors, "errors", ERROR_MODELS),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @staticmethod
    def aliases() -> dict[str, str]:
        """Older names kept for scripts, and the option each is now spelled by; the
        command line and the widgets offer only the new one."""
        return {"zero_mean": "brightness"}

    @staticmethod
    def choices() -> dict[str, tuple[Any, ...]]:
        """The options whose values come from a fixed list, and that list."""
        return {
            "boundary": BOUNDARY_CHOICES,
            "upsample_factor": ("auto",),
            "errors": ERROR_MODELS,
            "brightness": BRIGHTNESS_FITS,
        }

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Each option's name and default, in the order of the signatures."""
        return {field.name: field.default for field in dataclasses.fields(cls)}

    def as_dict(self) -> dict[str, Any]:
        """The options as keyword arguments of :func:`register` or :class:`Registrar`."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


def _check_threads(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"threads must be a positive integer or None, got {value!r}.")
    if value < 1:
        raise ValueError(f"threads must be >= 1, got {value!r}; use None for all cores.")
    return int(value)


def _check_clip(value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"clip_threshold must be a number of robust sigmas, got {value!r}.")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(
            f"clip_threshold must be a positive number of robust sigmas, got {value!r}; "
            "use outliers=False to clip nothing."
        )
    return float(value)
