"""The ``napari-imreg`` command line on small files of every supported format."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile
import zarr
from astropy.io import fits

from napari_imreg.cli import main
from napari_imreg.core import make_extended, make_shifted

SHIFT = (1.25, -0.5)
DRIFT = np.cumsum(np.full((5, 2), (0.4, -0.3)), axis=0) - (0.4, -0.3)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    image = make_extended(64, seed=0)
    moving = make_shifted(image, SHIFT, noise=0.02, seed=1)
    stack = np.stack(
        [make_shifted(image, d, noise=0.02, seed=2 + i) for i, d in enumerate(DRIFT)]
    ).astype(np.float32)
    paths = {
        "ref.npy": image,
        "mov.npy": moving,
        "stack.npy": stack,
    }
    for name, data in paths.items():
        np.save(folder / name, data)
    fits.writeto(folder / "ref.fits", image.astype(">f4"))
    fits.writeto(folder / "mov.fits", moving.astype(">f4"))
    fits.writeto(folder / "stack.fits", stack.astype(">f4"))
    tifffile.imwrite(folder / "ref.tif", image.astype(np.float32))
    tifffile.imwrite(folder / "mov.tif", moving.astype(np.float32))
    tifffile.imwrite(folder / "stack.tif", stack)
    target = zarr.open_array(
        str(folder / "stack.zarr"), mode="w", shape=stack.shape, chunks=(2, 64, 64), dtype="f4"
    )
    target[:] = stack
    (folder / "bad.tif").write_bytes(b"not a tiff")
    return folder, image, stack


def _rows(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.mark.parametrize("kind", ["npy", "fits", "tif"])
def test_pair_prints_shift_and_error(files, kind, capsys):
    folder, _, _ = files
    status = main(["pair", str(folder / f"ref.{kind}"), str(folder / f"mov.{kind}"), "--json"])
    assert status == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["axes"] == ["y", "x"]
    error = np.asarray(payload["error"])
    assert np.all(error > 0)
    assert np.all(np.abs(np.asarray(payload["shift"]) - SHIFT) < 5 * error + 1e-3)


def test_a_flagged_pair_exits_3_with_its_finite_answer_and_why(tmp_path, capsys):
    # A scene repeating every 10 px along x: a match a period away fits as well, so the
    # core flags the answer (measured False) with a finite error widened to reach it. The
    # command line said "measured" from finite values alone.
    tile = make_extended((64, 10), seed=15)
    scene = np.tile(tile, (1, 7))[:, :64]
    np.save(tmp_path / "ref.npy", scene)
    np.save(tmp_path / "mov.npy", make_shifted(scene, (1.3, 2.6), noise=0.05, seed=16))
    status = main(["pair", str(tmp_path / "ref.npy"), str(tmp_path / "mov.npy"), "--json"])
    assert status == 3
    payload = json.loads(capsys.readouterr().out)
    assert payload["measured"] is False
    assert "flagged" in payload["why_not_measured"]
    assert np.all(np.isfinite(payload["error"]))
    assert payload["error"][1] > 5
    assert abs(payload["shift"][0] - 1.3) < 4 * payload["error"][0]


def test_pair_text_output(files, capsys):
    folder, _, _ = files
    assert (
        main(["pair", str(folder / "ref.npy"), str(folder / "mov.npy"), "--boundary", "wrap"]) == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("shift (dy, dx) = (+1.2")
    assert "±" in out


@pytest.mark.parametrize("name", ["stack.npy", "stack.fits", "stack.tif", "stack.zarr"])
def test_stack_writes_csv(files, name, tmp_path, capsys):
    folder, _, _ = files
    output = tmp_path / "shifts.csv"
    status = main(["stack", str(folder / name), "-o", str(output), "--boundary", "wrap"])
    assert status == 0
    rows = _rows(output)
    assert [int(r["frame"]) for r in rows] == list(range(len(DRIFT)))
    shifts = np.array([[float(r["shift_y"]), float(r["shift_x"])] for r in rows])
    errors = np.array([[float(r["error_y"]), float(r["error_x"])] for r in rows])
    assert np.all(np.abs(shifts - DRIFT) <= 5 * errors + 1e-3)
    assert set(rows[0]) >= {"chi2", "dof", "noise"}
    assert "written to" in capsys.readouterr().err


@pytest.mark.parametrize("registered", ["aligned.zarr", "aligned.tif"])
def test_stack_writes_registered_stack(files, registered, tmp_path):
    folder, _, stack = files
    target = tmp_path / registered
    argv = ["stack", str(folder / "stack.tif"), "-o", str(tmp_path / "s.csv")]
    argv += ["--boundary", "wrap", "--registered", str(target), "--reference", "previous"]
    assert main(argv) == 0
    if registered.endswith(".zarr"):
        aligned = zarr.open_array(str(target), mode="r")[:]
    else:
        aligned = tifffile.imread(target)
    assert aligned.shape == stack.shape
    assert aligned.dtype == np.float32
    # Aligned frames match the first frame far better than the raw ones do.
    raw = np.abs(stack[-1] - stack[0])[8:-8, 8:-8].mean()
    fixed = np.abs(aligned[-1] - aligned[0])[8:-8, 8:-8].mean()
    assert fixed < raw / 3


def test_stack_to_stdout_with_reference_file_and_mean(files, capsys):
    folder, _, _ = files
    argv = ["stack", str(folder / "stack.npy"), "-o", "-", "--reference", str(folder / "ref.npy")]
    assert main([*argv, "--no-progress"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("frame,shift_y,shift_x,error_y,error_x")
    assert len(lines) == 1 + len(DRIFT)
    assert main(["stack", str(folder / "stack.npy"), "-o", "-", "--reference", "mean"]) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["pair", "{f}/ref.npy", "{f}/missing.npy"], "does not exist"),
        (["pair", "{f}/ref.npy", "{f}/stack.npy"], "must match"),
        (["stack", "{f}/ref.npy"], "needs at least 3 dimensions"),
        (["stack", "{f}/stack.npy", "--reference", "99"], "reference=99 is not a frame"),
        (["stack", "{f}/stack.npy", "--reference", "median"], "not a frame index"),
        (
            ["stack", "{f}/stack.npy", "--boundary", "reflect"],
            "boundary must be one of 'auto', 'overlap', 'wrap'",
        ),
        (["stack", "{f}/stack.npy", "--axis", "5"], "axis=5 is out of range"),
        (["stack", "{f}/stack.npy", "--registered", "out.png"], "use a name ending in .zarr"),
        (
            ["stack", "{f}/stack.npy", "--upsample-factor", "zero"],
            "upsample_factor must be 'auto' or an integer",
        ),
        (["stack", "{f}/bad.tif"], "bad.tif: cannot read it as tiff"),
        (["stack", "{f}/stack.zarr", "--dataset", "nope"], ""),
        (["frobnicate"], "No such command"),
    ],
)
def test_bad_input_exits_nonzero_with_one_line(
    files, argv, message, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # nothing may be written, but never into the repository
    folder, _, _ = files
    status = main([a.format(f=folder) for a in argv])
    assert status != 0
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("napari-imreg: error: ")
    assert message in lines[0]


def test_console_script_runs(files, tmp_path):
    folder, _, _ = files
    command = [
        sys.executable,
        "-c",
        "import sys; from napari_imreg.cli import main; sys.exit(main())",
    ]
    done = subprocess.run(
        [*command, "pair", str(folder / "ref.npy"), str(folder / "mov.npy")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("shift (dy, dx)")
    failed = subprocess.run(
        [*command, "stack", str(folder / "nothing.tif")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert failed.returncode != 0
    assert len(failed.stderr.strip().splitlines()) == 1


def test_help(capsys):
    assert main(["--help"]) == 0
    assert "pair" in capsys.readouterr().out
