"""The result types of a registration and of a stack, and the warnings."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import os
import sys
import warnings
from dataclasses import dataclass

import dask
import dask.array as da
import numpy as np

from ._axis_messages import AxisMessage
from ._significance import Significance


class RegistrationWarning(UserWarning):
    """The data cannot support a confident shift (no structure, flat chi2 surface)."""


class AxisWarning(AxisMessage, RegistrationWarning):
    """A :class:`RegistrationWarning` about some axes of the images, which it keeps as
    numbers (see :class:`~._axis_messages.AxisMessage`)."""


def _frozen(array):
    if array is None:
        return None
    out = np.array(array, dtype=np.float64)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class RegistrationResult:
    """The outcome of a registration; every method returns this type.

    Attributes
    ----------
    shift : numpy.ndarray
        Translation, in pixels and numpy axis order (``(dy, dx)`` in 2-D), that
        registers the moving image onto the reference:
        ``fourier_shift(moving, shift)`` reproduces the reference, and a napari
        layer of the moving image overlays the reference with
        ``translate = shift * scale``.
    error : numpy.ndarray or None
        Marginal 1-sigma uncertainty of each component of ``shift`` (the other
        components profiled out: delta-chi2 = 1). In ``"overlap"`` mode it holds
        the sub-pixel floor the filter leaves (see ``prefilter``) as well as the
        noise. ``inf`` when the data cannot constrain the shift; ``None`` when the
        method computes no error.
    covariance : numpy.ndarray or None
        Covariance matrix of ``shift``, ``2 H^-1`` with ``H`` the chi2 Hessian.
    chi2_min : float or None
        chi2 at the best shift.
    dof : float or None
        Degrees of freedom: pixels compared (weighted by the edge taper) minus fitted parameters.
    noise : float or None
        The 1-sigma noise of the difference image estimated from the residual,
        when no error was given; ``None`` otherwise.
    upsample_factor : int or None
        Samples per pixel of the delta-chi2 map.
    delta_chi2 : numpy.ndarray or None
        chi2 minus its minimum on a grid of shifts around the best one.
    delta_chi2_coords : tuple of numpy.ndarray or None
        For each axis, the shift value of each sample of ``delta_chi2``.
    boundary : str
        The model of the edges used, ``"overlap"`` or ``"wrap"``: with
        ``boundary="auto"`` (the default), the one chosen for this pair.
    method : str
        The method that produced the result.
    filter_strength : float or None
        ``"overlap"`` mode: the strength, 0 to 1, of the filter both images went
        through (see ``prefilter``); None for ``"wrap"`` and other methods.
    measured : bool
        False when the shift is not a measurement: no significant match (pure
        noise, unrelated images, signal-to-noise far below 1), a match on the
        ``max_shift`` edge, or a constant image. ``error`` is then infinite and a
        :class:`RegistrationWarning` says why.
    significance : Significance or None
        The significance test of the match (``z``, ``p_value``, ``on_boundary``...);
        None for methods that do not run it.
    errors : str or None
        How the errors were made (the ``errors`` option): ``"residual"`` (from the
        image-space residual, issue 13) or ``"fisher"`` (the surface's curvature).
    brightness : str or None
        What the chi2 method fitted between the images (``"scale+offset"``,
        ``"scale+offset+tilt"``, ``"offset"``, ``"none"``); None for other methods.
        ``"+field"`` is appended when the residual held a smooth gain field between
        the images (vignetting, illumination) and the pair was registered again with
        the moving image divided by it: ``scale`` is then the divided image's.
    scale : float or None
        The fitted gain, ``reference ~ scale * moving + offset`` over the overlap
        at the best shift (1 when only an offset is fitted; None when nothing is).
        A scale far from 1 tells of a changed exposure, gain or bleaching.
    offset : float or None
        The fitted offset, in the reference's units (None when none is fitted).
        With a tilt, the background's level at the reference's centre.
    tilt : numpy.ndarray or None
        The fitted background's slope per pixel along each axis (numpy order), in
        the reference's units: ``reference ~ scale * moving + offset + tilt . x``,
        ``x`` the pixel coordinates from the reference's centre. None unless
        ``brightness="scale+offset+tilt"``.
    clipped : int or None
        Pixels of both images set aside as outliers of the residual (hot pixels,
        cosmic rays); None when ``outliers`` is off or for other methods.
    saturated : int or None
        Saturated pixels of both images set aside (None as for ``clipped``).
    blur : float or None
        A change of seeing or focus matched: the std (pixels) of the Gaussian the
        sharper image was blurred by to the other's width before the registration
        reported, positive when that was the moving image, negative when the
        reference; None when the two widths were not shown to differ (or not
        compared: masked, periodic or unmeasured pairs, more than 2-D).
    """

    shift: np.ndarray
    error: np.ndarray | None = None
    covariance: np.ndarray | None = None
    chi2_min: float | None = None
    dof: float | None = None
    noise: float | None = None
    upsample_factor: int | None = None
    delta_chi2: np.ndarray | None = None
    delta_chi2_coords: tuple[np.ndarray, ...] | None = None
    boundary: str = "overlap"
    method: str = "chi2"
    filter_strength: float | None = None
    measured: bool = True
    significance: Significance | None = None
    errors: str | None = None
    brightness: str | None = None
    scale: float | None = None
    offset: float | None = None
    tilt: np.ndarray | None = None
    clipped: int | None = None
    saturated: int | None = None
    blur: float | None = None

    def __post_init__(self):
        for name in ("shift", "error", "covariance", "delta_chi2", "tilt"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        if self.delta_chi2_coords is not None:
            coords = tuple(_frozen(c) for c in self.delta_chi2_coords)
            object.__setattr__(self, "delta_chi2_coords", coords)

    def in_units(self, unit: float) -> RegistrationResult:
        """This result with its values in the images' units measured in ``unit``
        (the core registers data far from 1 in a power of two near its spread)."""
        return dataclasses.replace(
            self,
            noise=None if self.noise is None else self.noise * unit,
            offset=None if self.offset is None else self.offset * unit,
            tilt=None if self.tilt is None else self.tilt * unit,
        )

    def __repr__(self) -> str:
        shift = np.array2string(self.shift, precision=4, separator=", ")
        error = (
            "None"
            if self.error is None
            else np.array2string(self.error, precision=4, separator=", ")
        )
        return f"RegistrationResult(shift={shift}, error={error}, method={self.method!r})"


@dataclass(frozen=True)
class StackResult:
    """The drift of every frame of a stack; :func:`register_stack` returns this type.

    Every per-frame field is a numpy array for numpy input and a dask array for
    dask input (call :meth:`compute` to get numpy arrays in one pass).

    Attributes
    ----------
    shifts : numpy.ndarray or dask.array.Array
        ``(frames, ndim)``: for each frame, the translation in pixels and numpy axis
        order (``(dy, dx)`` for 2-D frames, ``(dz, dy, dx)`` for volumes) that
        registers it onto the reference: ``fourier_shift(frame, shift)`` reproduces
        the reference, and :func:`apply_shifts` aligns the stack. With
        ``reference="previous"`` it is the accumulated drift onto the first frame.
    errors : numpy.ndarray or dask.array.Array
        ``(frames, ndim)`` marginal 1-sigma errors of ``shifts``. With
        ``reference="previous"`` each step is measured both ways and averaged (the
        bias of the two images' roles cancels instead of adding up), and the step
        errors are added in quadrature, so they grow along the stack.
    chi2 : numpy.ndarray or dask.array.Array
        ``(frames,)`` chi2 at the best shift of each registration (the step's, for
        ``"previous"``).
    dof : numpy.ndarray or dask.array.Array
        ``(frames,)`` degrees of freedom of each chi2.
    noise : numpy.ndarray or dask.array.Array or None
        ``(frames,)`` the 1-sigma noise of each difference image, estimated from
        the residual; ``None`` when an ``error`` was given.
    measured : numpy.ndarray or dask.array.Array
        ``(frames,)`` booleans: False where the frame's shift is not a measurement
        (:attr:`RegistrationResult.measured`: no significant match, a match on the
        ``max_shift`` edge or rivalled, a frame with no valid pixel). With
        ``reference="previous"`` a frame is not measured when its step is not (onto
        its predecessor, or onto the last measured frame after one not measured). The
        reference frame is measured (its shift is 0 by definition).
    reference : int or str
        The frame index, ``"mean"``, ``"previous"`` or ``"array"``. The reference
        frame itself (or the first frame, for ``"previous"``) is not registered:
        its shift and error are 0 by definition, and its chi2 and dof are 0.
    axis : int
        The frame axis of the input stack.
    boundary : str
        The model of the edges every frame was registered with, ``"overlap"`` or
        ``"wrap"`` (with ``boundary="auto"``, the one chosen on the reference).
    """

    shifts: np.ndarray | da.Array
    errors: np.ndarray | da.Array
    chi2: np.ndarray | da.Array
    dof: np.ndarray | da.Array
    noise: np.ndarray | da.Array | None
    measured: np.ndarray | da.Array
    reference: int | str
    axis: int
    boundary: str

    _ARRAY_FIELDS = ("shifts", "errors", "chi2", "dof", "noise", "measured")

    @property
    def is_lazy(self) -> bool:
        """True when the per-frame fields are dask arrays, not yet computed."""
        return isinstance(self.shifts, da.Array)

    def compute(self, **kwargs) -> StackResult:
        """The same result with numpy arrays, all fields computed in one pass.

        Keyword arguments go to :func:`dask.compute` (``scheduler=...``, for
        example). A result that is already computed is returned unchanged.
        """
        if not self.is_lazy:
            return self
        names = [n for n in self._ARRAY_FIELDS if getattr(self, n) is not None]
        # Frames warn in the scheduler's threads: report them here, at the caller.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RegistrationWarning)
            values = dask.compute(*(getattr(self, n) for n in names), **kwargs)
        for warning in caught:
            warnings.warn(warning.message, stacklevel=2)
        return dataclasses.replace(self, **dict(zip(names, values, strict=True)))

    def __repr__(self) -> str:
        frames, ndim = self.shifts.shape
        state = "lazy" if self.is_lazy else "computed"
        return (
            f"StackResult({frames} frames, ndim={ndim}, reference={self.reference!r}, "
            f"boundary={self.boundary!r}, {state})"
        )


#: Where :func:`warn_registration` puts its messages while :func:`held_warnings` runs, per
#: thread (a context variable): ``warnings.catch_warnings`` is process-wide, and with frames
#: registered in threads it swallowed the other frames' warnings.
_HELD: contextvars.ContextVar[list[str | RegistrationWarning] | None] = contextvars.ContextVar(
    "held", default=None
)


@contextlib.contextmanager
def held_warnings():
    """Hold the :class:`RegistrationWarning` messages raised inside, in the list yielded
    (each as given to :func:`warn_registration`: a text, or a warning that keeps data,
    such as the axes it names)."""
    token = _HELD.set([])
    try:
        yield _HELD.get()
    finally:
        _HELD.reset(token)


def warn_registration(message: str | RegistrationWarning) -> None:
    """Warn with :class:`RegistrationWarning` (``message``'s text, or ``message`` itself
    when it is one), reported at the first caller outside the core: the public entry
    points sit at different depths above the stage that warns."""
    held = _HELD.get()
    if held is not None:
        held.append(message)
        return
    core = os.path.dirname(__file__)
    frame, level = sys._getframe(1), 2
    while frame is not None and os.path.dirname(frame.f_code.co_filename) == core:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, RegistrationWarning, stacklevel=level)
