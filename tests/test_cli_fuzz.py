"""The command line given what it cannot register: one line naming what is wrong, exit
status 1, and no output written."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from astropy.io import fits

from napari_imreg.cli import main
from napari_imreg.core import make_extended, make_shifted


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    image = make_extended(32, seed=0)
    stack = np.stack(
        [make_shifted(image, (0.3 * i, -0.2 * i), noise=0.02, seed=i) for i in range(5)]
    ).astype(np.float32)
    np.save(folder / "stack.npy", stack)
    np.save(folder / "one_frame.npy", stack[:1])
    np.save(folder / "image.npy", image)
    np.save(folder / "four_d.npy", np.stack([stack, stack], axis=1))  # (5, 2, 32, 32)
    fits.writeto(folder / "empty.fits", np.zeros((0, 32, 32), np.float32))
    colour = np.clip(stack[..., None] * 40 + 128, 0, 255).astype(np.uint8).repeat(3, axis=-1)
    tifffile.imwrite(folder / "rgb.tif", colour, photometric="rgb")
    (folder / "text.npy").write_text("frame,shift_y\n0,1.5\n")
    np.save(folder / "small_mask.npy", np.zeros((10, 10), dtype=bool))
    return folder


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stack", "one_frame.npy"], "has 1 frame(s) along axis 0 (shape (1, 32, 32)); a stack"),
        (["stack", "image.npy"], "has shape (32, 32), needs at least 3 dimensions"),
        (
            ["stack", "four_d.npy", "--axis", "0"],
            "four_d.npy: frames of shape (2, 32, 32) along axis 0: reference is too small to "
            "register without wrapping: axis 1 of the stack has 2",
        ),
        (["stack", "empty.fits"], "HDU 0 has no pixels (NAXIS3 = 0)"),
        (["stack", "rgb.tif"], "rgb.tif: holds colour images (3 samples per pixel, shape"),
        (["pair", "text.npy", "image.npy"], "text.npy: is not a .npy file"),
        (["stack", "text.npy"], "text.npy: is not a .npy file"),
        (
            ["stack", "stack.npy", "--mask", "small_mask.npy", "--registered", "r.zarr"],
            "has shape (10, 10), but must have the shape of one frame (32, 32) or the stack",
        ),
        (["pair", "image.npy", "image.npy", "--mask", "small_mask.npy"], "shape of the images"),
    ],
    ids=[
        "one frame",
        "2-D to stack",
        "4-D, axis 0",
        "empty FITS cube",
        "RGB TIFF",
        "pair, not npy",
        "stack, not npy",
        "stack, mask shape",
        "pair, mask shape",
    ],
)
def test_what_cannot_be_registered_is_named_in_one_line(
    inputs, argv, message, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # the default outputs would go here
    argv = [str(inputs / a) if (inputs / a).exists() else a for a in argv]
    status = main([*argv, "--no-progress"] if argv[0] == "stack" else argv)
    assert status == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("napari-imreg: error: ")
    assert message in lines[0]
    assert list(tmp_path.iterdir()) == []  # no table, no registered stack
