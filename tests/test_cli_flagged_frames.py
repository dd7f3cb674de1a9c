"""The ``stack`` command on frames the core flags (``measured`` False) though their shift
and error are finite: the CSV says which, and the run exits 3 naming them.

A scene repeating every 10 px along x: each frame's match a period away fits as well, so
the core flags every frame but the reference, with a finite error widened to reach the
rival. Before the stack kept ``measured``, the command judged frames by "is it finite"
and called these measurements.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from napari_imreg._shift_table import load_shift_table
from napari_imreg.cli import main
from napari_imreg.core import RegistrationWarning, make_extended, make_shifted
from napari_imreg.core._binned_pairs import load_scene, make_binned_pair


def test_flagged_frames_are_written_false_and_exit_3_naming_them(tmp_path, capsys):
    tile = make_extended((64, 10), seed=15)
    scene = np.tile(tile, (1, 7))[:, :64]
    stack = np.stack(
        [make_shifted(scene, (0.4 * i, 0.7 * i), noise=0.05, seed=i) for i in range(4)]
    )
    np.save(tmp_path / "stack.npy", stack)
    output = tmp_path / "shifts.csv"
    argv = ["stack", str(tmp_path / "stack.npy"), "-o", str(output), "--no-progress"]
    with pytest.warns(RegistrationWarning, match="not significantly better than the other"):
        status = main(argv)
    assert status == 3
    error = capsys.readouterr().err
    assert "flagged" in error
    assert "(frames 1, 2, 3)" in error
    with open(output, newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["measured"] for row in rows] == ["True", "False", "False", "False"]
    table = load_shift_table(output)
    np.testing.assert_array_equal(table.measured, [True, False, False, False])
    assert np.all(np.isfinite(table.errors))
    # The y shift, unrivalled, is still right within its error.
    assert np.all(np.abs(table.shifts[:, 0] - 0.4 * np.arange(4)) <= 4 * table.errors[:, 0] + 1e-9)


@pytest.mark.parametrize(("frame_axis", "rows_axis"), [(0, 1), (1, 0)])
def test_a_frames_axis_is_named_as_the_files(tmp_path, capsys, frame_axis, rows_axis):
    # Frames of 4 rows hold no shift along their rows, a frame's axis 0: each moved frame
    # is flagged with a warning naming that axis, which the command names as the file's
    # (the command shows a warning's text once).
    pair = make_binned_pair(load_scene("camera"), (4, 120), (-1, 1), bin_factor=2, rng=2, snr=30)
    stack = np.stack([pair.reference, *[pair.moving] * 4], axis=frame_axis)
    np.save(tmp_path / "rows.npy", stack)
    argv = ["stack", str(tmp_path / "rows.npy"), "--axis", str(frame_axis), "--no-progress"]
    with pytest.warns(RegistrationWarning) as caught:
        status = main([*argv, "-o", str(tmp_path / "shifts.csv")])
    assert status == 3
    held = [str(w.message) for w in caught if "not held by the images" in str(w.message)]
    assert held
    assert all(f"along axis {rows_axis} of the stack:" in message for message in held)
    assert stack.shape[rows_axis] == 4
