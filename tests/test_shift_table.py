"""The one shift-table format: written by the command line and the stack widget, read by both."""

from __future__ import annotations

import io

import numpy as np
import pytest

from napari_imreg._shift_table import (
    load_shift_table,
    load_shifts_csv,
    save_shifts_csv,
    write_shift_rows,
)

# Tables as the two writers before the shared format wrote them (copied from their output).
OLD_WIDGET = "frame,shift_0,shift_1,error_0,error_1\n0,0.0,0.0,0.01,0.02\n1,1.25,-0.5,0.03,0.04\n"
OLD_CLI = (
    "frame,shift_y,shift_x,error_y,error_x,chi2,dof,noise\n"
    "0,0,0,0.0099,0.0101,4095.1,4093,0.02\n"
    "1,1.25,-0.5,0.0102,0.0098,4101.7,4093,0.0201\n"
)


@pytest.mark.parametrize("text", [OLD_WIDGET, OLD_CLI])
def test_old_tables_of_both_writers_are_read(tmp_path, text):
    path = tmp_path / "old.csv"
    path.write_text(text)
    shifts, errors = load_shifts_csv(path)
    np.testing.assert_array_equal(shifts, [[0.0, 0.0], [1.25, -0.5]])
    assert errors.shape == (2, 2)
    assert np.all(errors > 0)


def test_a_table_round_trips_every_digit_and_the_non_finite_values(tmp_path):
    rng = np.random.default_rng(0)
    shifts = rng.normal(size=(4, 3))
    errors = np.abs(rng.normal(size=(4, 3)))
    shifts[2] = np.nan
    errors[2] = np.inf
    path = save_shifts_csv(tmp_path / "s.csv", shifts, errors)
    loaded, loaded_errors = load_shifts_csv(path)
    np.testing.assert_array_equal(loaded, shifts)
    np.testing.assert_array_equal(loaded_errors, errors)
    assert path.read_text().startswith("frame,shift_z,shift_y,shift_x,error_z,error_y,error_x\n")


def test_the_optional_columns_follow_the_errors():
    stream = io.StringIO()
    write_shift_rows(stream, [[1.0, 2.0]], [[0.1, 0.2]], chi2=[3.0], dof=[4.0])
    assert (
        stream.getvalue()
        == "frame,shift_y,shift_x,error_y,error_x,chi2,dof\n0,1.0,2.0,0.1,0.2,3.0,4.0\n"
    )


@pytest.mark.parametrize("text", [OLD_WIDGET, OLD_CLI])
def test_an_old_table_has_no_measured_column(tmp_path, text):
    path = tmp_path / "old.csv"
    path.write_text(text)
    table = load_shift_table(path)
    assert table.measured is None
    np.testing.assert_array_equal(table.shifts, [[0.0, 0.0], [1.25, -0.5]])


def test_measured_round_trips_after_the_other_columns(tmp_path):
    stream = io.StringIO()
    shifts = [[0.0, 0.0], [1.0, 2.0], [np.nan, np.nan]]
    errors = [[0.0, 0.0], [0.1, 0.2], [np.inf, np.inf]]
    measured = [True, False, False]
    write_shift_rows(stream, shifts, errors, chi2=[0.0, 3.0, np.nan], measured=measured)
    header, first, second, _ = stream.getvalue().splitlines()
    assert header.endswith(",chi2,measured")
    assert second == "1,1.0,2.0,0.1,0.2,3.0,False"
    path = tmp_path / "s.csv"
    path.write_text(stream.getvalue())
    table = load_shift_table(path)
    np.testing.assert_array_equal(table.measured, measured)
    np.testing.assert_array_equal(table.shifts, shifts)
    np.testing.assert_array_equal(table.errors, errors)
    assert first.endswith(",True")


def test_a_measured_value_that_is_not_a_boolean_is_refused(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("frame,shift_y,shift_x,measured\n0,1.0,2.0,maybe\n")
    with pytest.raises(ValueError, match="measured value that is not True or False"):
        load_shift_table(path)


def test_a_failed_save_keeps_the_old_table(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(OLD_WIDGET)
    with pytest.raises(ValueError, match="could not convert"):
        save_shifts_csv(path, [[1.0, 2.0]], [["x", 0.2]])
    assert path.read_text() == OLD_WIDGET
    assert [p.name for p in tmp_path.iterdir()] == ["s.csv"]
