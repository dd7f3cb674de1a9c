"""The command line ignores a FITS file's DQ/MASK flags and takes ``--mask FILE``."""

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
