"""Validators shared by the core: each names the parameter, shows the value and suggests a fix."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

__all__ = [
    "as_image",
    "check_choice",
    "check_error",
    "check_max_shift",
    "check_prefilter",
    "check_same_shape",
    "check_shift",
    "check_upsample_factor",
    "data_unit",
    "in_unit",
]

#: Images whose spread lies between these powers of two are registered in their own
#: units; others are divided by a power of two near their spread (exact in floating point).
UNIT_RANGE = (-24, 24)
#: An error this many times the data's spread, or this many times smaller, leaves a
#: squared ratio beyond what double precision holds.
ERROR_RANGE = 1e100


def _describe(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unmasked(value: np.ma.MaskedArray) -> np.ndarray:
    """A masked array's data with its masked pixels NaN (a copy when any is masked):
    they are then left out, as NaN pixels are, where ``np.asarray`` would keep them."""
    masked = np.ma.getmaskarray(value)
    if not masked.any():
        return value.data
    kind = value.dtype.kind
    dtype = value.dtype if kind in "fc" else np.float64
    return np.where(masked, np.nan, value.data.astype(dtype, copy=False))


def as_image(
    value,
    name: str,
    *,
    min_ndim: int = 1,
    allow_nonfinite: bool = True,
    allow_complex: bool = False,
) -> np.ndarray:
    """Return ``value`` as a numeric ndarray (no copy when possible).

    Raises a ``TypeError`` for string, object and ragged input (and complex
    input unless ``allow_complex``) and a ``ValueError`` for 0-d, empty or
    too-small arrays, naming ``name``.
    """
    if isinstance(value, str | bytes):
        raise TypeError(f"{name} must be a numeric array, got the string {_describe(value)}.")
    if isinstance(value, np.ma.MaskedArray):
        value = _unmasked(value)
    try:
        array = np.asarray(value)
    except ValueError as exc:  # ragged nested lists
        raise TypeError(
            f"{name} must be a rectangular numeric array; it looks ragged ({exc}). "
            "Pass a numpy array whose rows all have the same length."
        ) from None
    if array.dtype == object or array.dtype.kind in "USV":
        raise TypeError(
            f"{name} must hold real numbers, got dtype {array.dtype}. "
            "Convert it with np.asarray(..., dtype=float) first "
            "(ragged lists cannot be converted)."
        )
    if array.dtype.kind == "c" and not allow_complex:
        raise TypeError(
            f"{name} is complex ({array.dtype}); registration needs real images. "
            "Pass np.abs(x) or x.real explicitly."
        )
    if array.dtype.kind not in "biufc":
        raise TypeError(f"{name} must be numeric, got dtype {array.dtype}.")
    if array.ndim == 0:
        raise ValueError(f"{name} is a 0-d scalar ({_describe(value)}); pass an array of pixels.")
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}); pass an array with pixels.")
    if array.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimensions, got shape {array.shape}."
        )
    if max(array.shape) < 2:
        raise ValueError(
            f"{name} has shape {array.shape}: a single pixel carries no positional information. "
            "Pass images with at least 2 pixels along some axis."
        )
    if not allow_nonfinite and array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values; replace or mask them.")
    if array.dtype == np.float16:  # neither FFTW nor scipy.ndimage computes in half precision
        return array.astype(np.float32)
    return array


def check_same_shape(first: np.ndarray, second: np.ndarray, names: tuple[str, str]) -> None:
    """Raise a ``ValueError`` unless the two arrays have the same shape."""
    if first.shape != second.shape:
        raise ValueError(
            f"{names[0]} has shape {first.shape} but {names[1]} has shape {second.shape}; "
            "they must match. Crop or pad one of them "
            "(or reproject FITS images onto a common grid)."
        )


def check_error(error, shape: tuple[int, ...], name: str) -> float | np.ndarray | None:
    """Validate a 1-sigma noise given as ``None``, a positive scalar or a per-pixel map.

    Returns ``None``, a float or a float64 array of ``shape``. NaN in a map is
    allowed and marks pixels to ignore; zero, negative or infinite values are
    rejected. A map of one value everywhere is that scalar: the two take different
    paths through the stages (a map weighs pixel by pixel), and a pair must not
    depend on which form its noise was given in.
    """
    if error is None:
        return None
    if isinstance(error, numbers.Number) and not isinstance(error, bool):
        if isinstance(error, complex):
            raise TypeError(f"{name} must be real, got {error!r}.")
        value = float(error)
        if not np.isfinite(value) or value <= 0:
            raise ValueError(
                f"{name} must be a positive finite 1-sigma noise, got {value!r}. "
                "Use error=None to estimate the noise from the data."
            )
        return value
    if not isinstance(error, str | bytes) and np.ndim(error) <= 1 and np.size(error) == 1:
        # A 0-d or one-element numeric array is a scalar noise.
        value = np.asarray(error).reshape(-1)[0]
        if isinstance(value, np.generic) and value.dtype.kind in "iuf":
            return check_error(value.item(), shape, name)
    array = as_image(error, name)
    if array.shape != tuple(shape):
        raise ValueError(
            f"{name} has shape {array.shape} but the images have shape {tuple(shape)}; "
            "pass a scalar or a per-pixel map of the image's shape."
        )
    array = np.asarray(array, dtype=np.float64)
    finite = np.isfinite(array)
    if np.any(np.isinf(array)) or np.any(array[finite] <= 0):
        raise ValueError(
            f"{name} must be positive where finite: found zero, negative or infinite values "
            f"(min {np.nanmin(array)!r}). Mark pixels to ignore with NaN or a mask instead."
        )
    if not finite.any():
        raise ValueError(f"{name} is NaN everywhere: no pixel has a usable noise value.")
    if finite.all() and array.min() == array.max():
        return float(array.flat[0])
    return array


def check_choice(value, name: str, choices: Sequence[str]) -> str:
    """Raise a ``ValueError`` unless ``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}; got {_describe(value)}.")
    return value


def check_upsample_factor(value) -> int | str:
    """``"auto"`` or an integer >= 1."""
    if isinstance(value, str):
        if value == "auto":
            return value
        raise ValueError(f"upsample_factor must be 'auto' or an integer >= 1, got {value!r}.")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"upsample_factor must be 'auto' or an integer >= 1, got {_describe(value)}."
        )
    if not float(value).is_integer() or value < 1:
        raise ValueError(
            f"upsample_factor must be 'auto' or an integer >= 1, got {value!r}. "
            "For 1/100 pixel sampling use upsample_factor=100."
        )
    return int(value)


def check_prefilter(value) -> bool | float:
    """``True``, ``False`` or a strength from 0 to 1."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if not isinstance(value, numbers.Real):
        raise TypeError(
            f"prefilter must be True, False or a strength from 0 to 1, got {_describe(value)}."
        )
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(
            f"prefilter must be True, False or a strength from 0 to 1, got {value!r}. "
            "Use True to let the noise choose the strength."
        )
    return float(value)


def check_shift(shift, ndim: int, name: str = "shift") -> np.ndarray:
    """A finite shift with one entry per axis (a scalar applies to every axis)."""
    try:
        array = np.asarray(shift, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be numbers, one per axis; got {_describe(shift)}.") from None
    if array.ndim == 0:
        array = np.full(ndim, float(array))
    if array.shape != (ndim,):
        raise ValueError(
            f"{name} must have one value per axis ({ndim}), got {_describe(shift)}. "
            "Shifts are in numpy axis order: (dy, dx) in 2-D."
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {_describe(shift)}.")
    return array


def check_max_shift(value, shape: tuple[int, ...]) -> np.ndarray | None:
    """``None`` or a positive number (or one per axis) of pixels."""
    if value is None:
        return None
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"max_shift must be None or numbers of pixels, got {_describe(value)}."
        ) from None
    if array.ndim == 0:
        array = np.full(len(shape), float(array))
    if array.shape != (len(shape),):
        raise ValueError(
            f"max_shift must be a number or one number per axis ({len(shape)}), "
            f"got {_describe(value)}."
        )
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"max_shift must be finite and >= 0, got {_describe(value)}.")
    return array


def data_unit(image: np.ndarray) -> float:
    """The unit the core measures ``image`` in: 1 for ordinary data, else the power of
    two nearest the spread of its finite pixels (their largest magnitude when they
    are constant; 1 when none is finite).

    Sums of squares of data around 1e20 or 1e-25 (column densities, cgs fluxes)
    overflow single precision or underflow the calibration; a power of two rescales
    them exactly. The spread is read on at most 65536 evenly spaced pixels.
    """
    sample = np.ravel(image)[:: max(1, image.size // 65536)]
    sample = sample[np.isfinite(sample)] if sample.dtype.kind == "f" else sample
    if sample.size == 0:
        finite = np.asarray(image)[np.isfinite(image)]
        if finite.size == 0:
            return 1.0
        sample = finite
    with np.errstate(over="ignore", invalid="ignore"):
        spread = float(np.std(sample, dtype=np.float64))
    if not (np.isfinite(spread) and spread > 0):
        spread = float(np.max(np.abs(sample)))
    if not (np.isfinite(spread) and spread > 0):
        return 1.0
    exponent = int(np.round(np.log2(spread)))
    if UNIT_RANGE[0] <= exponent <= UNIT_RANGE[1]:
        return 1.0
    return float(2.0**exponent)


def in_unit(value, unit: float, name: str | None = None):
    """``value`` (an image, or with ``name`` a checked error) divided by ``unit``.

    An error is checked against the data's spread: beyond ``ERROR_RANGE`` either
    way its square cannot be held next to the data's, and the message says so.
    Integer and boolean pixels become float64: differences and squares of unsigned
    pixels would wrap round, and booleans have no difference at all.
    """
    if value is None:
        return None
    if np.ndim(value) and np.asarray(value).dtype.kind in "biu":
        value = np.asarray(value, dtype=np.float64)
    if name is not None:
        ratio = float(np.nanmax(value) if np.ndim(value) else value) / unit
        small = float(np.nanmin(value) if np.ndim(value) else value) / unit
        if ratio > ERROR_RANGE or small < 1 / ERROR_RANGE:
            raise ValueError(
                f"{name} spans {small:.3g} to {ratio:.3g} times the data's unit ({unit:.3g}: "
                f"1, or a power of two near the reference's spread), beyond {ERROR_RANGE:.0e} "
                "either way: no shift can be measured with that noise, or none needs it. "
                f"Give {name} in the images' units, or error=None to estimate it."
            )
    if unit == 1.0:
        return value
    if np.ndim(value) == 0:
        return float(value) / unit
    return np.divide(value, np.asarray(unit, dtype=np.result_type(value, np.float32)))
