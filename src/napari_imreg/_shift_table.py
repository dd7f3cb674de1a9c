"""The shift table: one CSV row per frame, written and read by the command line and the widget.

Columns, shifts in pixels and numpy axis order (the translation that registers each frame
onto the reference)::

    frame, shift_y, shift_x, error_y, error_x[, chi2, dof[, noise]][, measured]

Volumes have ``shift_z`` first; axes before ``z`` are named ``axis0``, ``axis1``... Values
are written with every digit (``repr``), so a table read back gives the same numbers; a value
not measured is ``nan`` and an unconstrained error ``inf``. ``measured`` is ``True`` or
``False``: False where the frame's shift is not a measurement (the core's ``measured``). The
reader takes the ``shift_`` and ``error_`` columns in the order they come, so it also reads
the earlier widget tables (``shift_0, shift_1``), and tables without ``measured``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple, TextIO

import numpy as np

from napari_imreg.core._atomic import staged

__all__ = [
    "ShiftTable",
    "axis_names",
    "is_axis_name",
    "load_shift_table",
    "load_shifts_csv",
    "save_shifts_csv",
    "write_shift_rows",
]

#: How the ``measured`` column writes each value, and the spellings read back.
_WRITTEN = {True: "True", False: "False"}
_READ = {"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False}


class ShiftTable(NamedTuple):
    """A shift table read back.

    Attributes
    ----------
    shifts, errors : numpy.ndarray of shape (frames, ndim)
        ``errors`` is ``nan`` where the file records none.
    measured : numpy.ndarray of shape (frames,) or None
        False where the frame's shift is not a measurement; None for a table written
        without the column.
    """

    shifts: np.ndarray
    errors: np.ndarray
    measured: np.ndarray | None


def axis_names(ndim: int, labels: Sequence[str] | None = None) -> tuple[str, ...]:
    """Names of a shift's components in numpy order: the last three ``z, y, x``, any axis
    before them ``axis0``, ``axis1``... by its numpy index.

    ``labels`` (one per axis: the viewer's axis labels of a layer) names an axis instead
    where its label is a name (:func:`is_axis_name`), not napari's default number; the
    defaults are kept if the names would repeat.

    Examples
    --------
    >>> axis_names(2), axis_names(4)
    (('y', 'x'), ('axis0', 'z', 'y', 'x'))
    >>> axis_names(3, ["t", "-2", "-1"])
    ('t', 'y', 'x')
    """
    defaults = tuple(
        ("z", "y", "x")[axis - ndim + 3] if axis >= ndim - 3 else f"axis{axis}"
        for axis in range(ndim)
    )
    if labels is None:
        return defaults
    labels = [str(label) for label in labels]
    if len(labels) != ndim:
        raise ValueError(f"{len(labels)} axis labels {labels} for {ndim} axes.")
    names = tuple(
        label if is_axis_name(label) else default
        for label, default in zip(labels, defaults, strict=True)
    )
    return names if len(set(names)) == ndim else defaults


def is_axis_name(label: str) -> bool:
    """Whether an axis label is a name, not empty and not napari's default (its index,
    ``"0"`` or ``"-1"``)."""
    label = str(label)
    return bool(label) and not label.lstrip("-").isdigit()


def write_shift_rows(
    stream: TextIO,
    shifts: np.ndarray,
    errors: np.ndarray | None = None,
    *,
    chi2: np.ndarray | None = None,
    dof: np.ndarray | None = None,
    noise: np.ndarray | None = None,
    measured: np.ndarray | None = None,
) -> None:
    """Write the table to an open text stream (standard output, or a file being staged).

    Parameters
    ----------
    stream : text stream
        Opened with ``newline=""``.
    shifts : array of shape (frames, ndim)
        Pixels, numpy axis order.
    errors : array of shape (frames, ndim), optional
        The 1-sigma errors; ``nan`` when not given.
    chi2, dof, noise : array of shape (frames,), optional
        Written as columns when given.
    measured : array of bool of shape (frames,), optional
        Written as a last column of ``True``/``False`` when given.
    """
    shifts = np.atleast_2d(np.asarray(shifts, dtype=float))
    frames, ndim = shifts.shape
    errors = np.full_like(shifts, np.nan) if errors is None else np.asarray(errors, dtype=float)
    names = axis_names(ndim)
    header = ["frame", *(f"shift_{n}" for n in names), *(f"error_{n}" for n in names)]
    columns = [shifts, errors.reshape(frames, ndim)]
    for name, values in (("chi2", chi2), ("dof", dof), ("noise", noise)):
        if values is not None:
            header.append(name)
            columns.append(np.asarray(values, dtype=float).reshape(frames, 1))
    flags = [] if measured is None else [_WRITTEN[bool(v)] for v in np.ravel(measured)]
    if measured is not None:
        header.append("measured")
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(header)
    for index, row in enumerate(np.concatenate(columns, axis=1)):
        writer.writerow([index, *(repr(float(value)) for value in row), *flags[index : index + 1]])


def save_shifts_csv(
    path: str | os.PathLike,
    shifts: np.ndarray,
    errors: np.ndarray | None = None,
    *,
    measured: np.ndarray | None = None,
) -> Path:
    """Write the table to ``path`` (see :func:`write_shift_rows`), replacing it atomically.

    The file appears only once complete: an interrupted write leaves the old one as it was.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    with staged(path) as temporary, temporary.open("w", newline="") as stream:
        write_shift_rows(stream, shifts, errors, measured=measured)
    return path


def load_shifts_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read the shifts and errors of a table written by :func:`save_shifts_csv`.

    Returns
    -------
    shifts, errors : numpy.ndarray of shape (frames, ndim)
        ``errors`` is ``nan`` where the file records none.

    Raises
    ------
    ValueError
        As :func:`load_shift_table`.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "old.csv"
    >>> _ = path.write_text("frame,shift_0,shift_1,error_0,error_1\\n0,1.5,-2.0,0.1,0.2\\n")
    >>> load_shifts_csv(path)[0].tolist()
    [[1.5, -2.0]]
    """
    table = load_shift_table(path)
    return table.shifts, table.errors


def load_shift_table(path: str | os.PathLike) -> ShiftTable:
    """Read a table written by :func:`save_shifts_csv` or the command line.

    Raises
    ------
    ValueError
        If the file is empty, has no ``shift_`` columns, or holds a value that is not a
        number (or, in ``measured``, not ``True``/``False``).
    """
    path = Path(path)
    with path.open(newline="") as stream:
        rows = list(csv.reader(stream))
    if not rows:
        raise ValueError(f"{str(path)!r} is empty; expected a header and one row per frame.")
    header = rows[0]
    flag_column = header.index("measured") if "measured" in header else None
    numeric = [name for i, name in enumerate(header) if i != flag_column]
    shift_columns = [i for i, name in enumerate(numeric) if name.startswith("shift_")]
    error_columns = [i for i, name in enumerate(numeric) if name.startswith("error_")]
    if not shift_columns:
        raise ValueError(
            f"{str(path)!r} has no shift_ columns (header {header}); expected a shift table "
            "written by napari-imreg (frame, shift_y, shift_x, ...)."
        )
    body = [row for row in rows[1:] if row]
    measured = None if flag_column is None else _flags(path, body, flag_column)
    try:
        numbers = [[v for i, v in enumerate(row) if i != flag_column] for row in body]
        table = np.array([[float(value) for value in row] for row in numbers], dtype=float)
        table = table.reshape(-1, len(numeric))
    except ValueError as exc:
        raise ValueError(f"{str(path)!r} holds a row that is not all numbers: {exc}") from exc
    shifts = table[:, shift_columns]
    if len(error_columns) == len(shift_columns):
        errors = table[:, error_columns]
    else:
        errors = np.full_like(shifts, np.nan)
    return ShiftTable(shifts, errors, measured)


def _flags(path: Path, rows: list[list[str]], column: int) -> np.ndarray:
    """The ``measured`` column of ``rows`` as booleans."""
    try:
        return np.array([_READ[row[column].strip().lower()] for row in rows], dtype=bool)
    except (KeyError, IndexError) as exc:
        raise ValueError(
            f"{str(path)!r} has a measured value that is not True or False ({exc})."
        ) from exc
