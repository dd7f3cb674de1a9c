"""The command line ignores a FITS file's DQ/MASK flags and takes ``--mask FILE``, for
pairs and for stacks."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits
from skimage.data import camera

#: The crop offset of the moving image in the camera scene: the shift that registers it.
TRUTH = (3.0, -5.0)
SIZE = 128


def _scene():
    """A real scene cut twice with a known offset, and the same hot pixels in both (a
    detector's), bright enough to pull an unmasked registration to zero shift."""
    image = camera().astype(np.float64)
    rng = np.random.default_rng(7)
    y, x = 150, 200
    dy, dx = (int(t) for t in TRUTH)
    reference = image[y : y + SIZE, x : x + SIZE] + rng.normal(0, 2, (SIZE, SIZE))
    moving = image[y + dy : y + dy + SIZE, x + dx : x + dx + SIZE] + rng.normal(0, 2, (SIZE, SIZE))
    hot = np.zeros((SIZE, SIZE), dtype=bool)
    hot.flat[rng.choice(SIZE * SIZE, 30, replace=False)] = True
    reference[hot] += 1e4
    moving[hot] += 1e4
    return reference, moving, hot


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-masks")
    reference, moving, hot = _scene()
    dq = np.where(hot, 1024, 0).astype(np.int16)  # an HST-like DQ flag value
    for name, data in (("ref", reference), ("mov", moving)):
        fits.HDUList(
            [
                fits.PrimaryHDU(),
                fits.ImageHDU(data.astype(np.float32), name="SCI"),
                fits.ImageHDU(dq, name="DQ"),
            ]
        ).writeto(folder / f"{name}.fits")
        np.save(folder / f"{name}.npy", data)
    np.save(folder / "hot.npy", hot)
    np.save(folder / "small.npy", hot[:-1])
    return folder


def _cli(*args: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-c",
        "import sys; from napari_imreg.cli import main; sys.exit(main())",
    ]
    return subprocess.run([*command, *args], capture_output=True, text=True, check=False)


def _shift(done: subprocess.CompletedProcess) -> np.ndarray:
    assert done.returncode == 0, done.stderr
    return np.array(json.loads(done.stdout)["shift"])


# --no-outliers: the core's outlier stage would set the hot pixels aside by itself; the
# flags and the mask alone must do it here.
OFF = "--no-outliers"


def test_a_fits_dq_extension_is_used_by_default_and_can_be_turned_off(files):
    ref, mov = str(files / "ref.fits"), str(files / "mov.fits")
    with_dq = _shift(_cli("pair", ref, mov, "--json", OFF))
    np.testing.assert_allclose(with_dq, TRUTH, atol=0.05)
    without = _shift(_cli("pair", ref, mov, "--json", "--no-fits-mask", OFF))
    assert np.max(np.abs(without - TRUTH)) > 1  # the hot pixels win without their flags


def test_mask_file_is_used(files):
    unmasked = _shift(_cli("pair", str(files / "ref.npy"), str(files / "mov.npy"), "--json", OFF))
    assert np.max(np.abs(unmasked - TRUTH)) > 1
    masked = _shift(
        _cli(
            "pair",
            str(files / "ref.npy"),
            str(files / "mov.npy"),
            "--json",
            OFF,
            "--mask",
            str(files / "hot.npy"),
        )
    )
    np.testing.assert_allclose(masked, TRUTH, atol=0.05)


def test_mask_of_the_wrong_shape_is_refused_naming_both_shapes(files):
    done = _cli(
        "pair", str(files / "ref.npy"), str(files / "mov.npy"), "--mask", str(files / "small.npy")
    )
    assert done.returncode != 0
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert "small.npy" in message
    assert f"({SIZE - 1}, {SIZE})" in message
    assert f"({SIZE}, {SIZE})" in message


def test_help_says_the_fits_flags_are_used():
    done = _cli("pair", "--help")
    assert done.returncode == 0
    assert "--mask" in done.stdout
    assert "--no-fits-mask" in done.stdout
    assert "DQ or MASK" in done.stdout


# ------------------------------------------------------------------------- stacks

#: Each frame's crop offset in the camera scene: the shift that registers it onto frame 0.
STACK_TRUTH = np.array([(0, 0), (3, -5), (-4, 2), (6, 4)], dtype=float)


@pytest.fixture(scope="module")
def stack_files(tmp_path_factory):
    """A stack of real crops with known offsets, the same hot pixels in every frame (a
    detector's) and a few of its own in each: as npy, and as a FITS cube with a DQ cube."""
    folder = tmp_path_factory.mktemp("cli-stack-masks")
    image = camera().astype(np.float64)
    rng = np.random.default_rng(8)
    y, x = 150, 200
    frames = np.stack(
        [
            image[y + dy : y + dy + SIZE, x + dx : x + dx + SIZE] + rng.normal(0, 2, (SIZE, SIZE))
            for dy, dx in STACK_TRUTH.astype(int)
        ]
    )
    hot = np.zeros((SIZE, SIZE), dtype=bool)
    hot.flat[rng.choice(SIZE * SIZE, 30, replace=False)] = True
    own = rng.random(frames.shape) < 0.001
    frames[:, hot] += 1e4
    np.save(folder / "fixed.npy", frames)
    frames[own] += 1e4
    np.save(folder / "stack.npy", frames)
    np.save(folder / "hot.npy", hot)
    np.save(folder / "flags.npy", own | hot)
    np.save(folder / "small.npy", hot[:-1])
    fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.ImageHDU(frames.astype(np.float32), name="SCI"),
            fits.ImageHDU(np.where(own | hot, 1024, 0).astype(np.int16), name="DQ"),
        ]
    ).writeto(folder / "stack.fits")
    return folder


def _stack_shifts(done: subprocess.CompletedProcess) -> np.ndarray:
    assert done.returncode == 0, done.stderr
    rows = np.genfromtxt(done.stdout.splitlines(), delimiter=",", names=True)
    return np.stack([rows["shift_y"], rows["shift_x"]], axis=1)


def test_stack_takes_a_mask_file_of_one_frame_or_of_the_stack(stack_files):
    unmasked = _stack_shifts(_cli("stack", str(stack_files / "stack.npy"), "-o", "-", OFF))
    assert np.max(np.abs(unmasked - STACK_TRUTH)) > 1  # the detector's hot pixels win
    # The detector's hot pixels only: one frame's mask for every frame.
    one = ("stack", str(stack_files / "fixed.npy"), "-o", "-", OFF)
    masked = _stack_shifts(_cli(*one, "--mask", str(stack_files / "hot.npy")))
    np.testing.assert_allclose(masked, STACK_TRUTH, atol=0.05)
    # Each frame's own as well: a mask of the stack's shape.
    every = ("stack", str(stack_files / "stack.npy"), "-o", "-", "--reference", "previous", OFF)
    masked = _stack_shifts(_cli(*every, "--mask", str(stack_files / "flags.npy")))
    np.testing.assert_allclose(masked, STACK_TRUTH, atol=0.05)


def test_stack_uses_a_fits_dq_cube_by_default_and_can_turn_it_off(stack_files):
    stack = str(stack_files / "stack.fits")
    with_dq = _stack_shifts(_cli("stack", stack, "-o", "-", OFF))
    np.testing.assert_allclose(with_dq, STACK_TRUTH, atol=0.05)
    without = _stack_shifts(_cli("stack", stack, "-o", "-", "--no-fits-mask", OFF))
    assert np.max(np.abs(without - STACK_TRUTH)) > 1


def test_stack_mask_of_the_wrong_shape_is_refused(stack_files):
    done = _cli("stack", str(stack_files / "stack.npy"), "--mask", str(stack_files / "small.npy"))
    assert done.returncode != 0
    assert "small.npy" in done.stderr
