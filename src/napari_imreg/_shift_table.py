"""The shift table: one CSV row per frame, written and read by the command line and the widget.

Columns, shifts in pixels and numpy axis order (the translation that registers each frame
onto the reference)::

    frame, shift_y, shift_x, error_y, error_x[, chi2, dof[, noise]]

Volumes have ``shift_z`` first; more than three axes are named ``axis0``, ``axis1``... Values
are written with every digit (``repr``), so a table read back gives the same numbers; a value
not measured is ``nan`` and an unconstrained error ``inf``. The reader takes the ``shift_``
and ``error_`` columns in the order they come, so it also reads the earlier widget tables
(``shift_0, shift_1``).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import TextIO

import numpy as np

from napari_imreg.core._atomic import staged

__all__ = ["axis_names", "load_shifts_csv", "save_shifts_csv", "write_shift_rows"]


def axis_names(ndim: int) -> tuple[str, ...]:
    """Names of the shift components: ``("y", "x")``, ``("z", "y", "x")``, else ``axis0``...

    Examples
    --------
    >>> axis_names(2), axis_names(4)[:2]
    (('y', 'x'), ('axis0', 'axis1'))
    """
    return ("z", "y", "x")[-ndim:] if ndim <= 3 else tuple(f"axis{i}" for i in range(ndim))


def write_shift_rows(
    stream: TextIO,
    shifts: np.ndarray,
    errors: np.ndarray | None = None,
    *,
    chi2: np.ndarray | None = None,
    dof: np.ndarray | None = None,
    noise: np.ndarray | None = None,
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
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(header)
    for index, row in enumerate(np.concatenate(columns, axis=1)):
        writer.writerow([index, *(repr(float(value)) for value in row)])


def save_shifts_csv(
    path: str | os.PathLike,
    shifts: np.ndarray,
    errors: np.ndarray | None = None,
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
        write_shift_rows(stream, shifts, errors)
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
        If the file is empty, has no ``shift_`` columns, or holds a value that is not a number.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "old.csv"
    >>> _ = path.write_text("frame,shift_0,shift_1,error_0,error_1\\n0,1.5,-2.0,0.1,0.2\\n")
    >>> load_shifts_csv(path)[0].tolist()
    [[1.5, -2.0]]
    """
    path = Path(path)
    with path.open(newline="") as stream:
        rows = list(csv.reader(stream))
    if not rows:
        raise ValueError(f"{str(path)!r} is empty; expected a header and one row per frame.")
    header = rows[0]
    shift_columns = [i for i, name in enumerate(header) if name.startswith("shift_")]
    error_columns = [i for i, name in enumerate(header) if name.startswith("error_")]
    if not shift_columns:
        raise ValueError(
            f"{str(path)!r} has no shift_ columns (header {header}); expected a shift table "
            "written by napari-imreg (frame, shift_y, shift_x, ...)."
        )
    try:
        table = np.array([[float(value) for value in row] for row in rows[1:]], dtype=float)
        table = table.reshape(-1, len(header))
    except ValueError as exc:
        raise ValueError(f"{str(path)!r} holds a row that is not all numbers: {exc}") from exc
    shifts = table[:, shift_columns]
    if len(error_columns) == len(shift_columns):
        return shifts, table[:, error_columns]
    return shifts, np.full_like(shifts, np.nan)
