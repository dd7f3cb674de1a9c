"""Real-scene FITS pairs with known pointing offsets, from scikit-image's Hubble deep field.

Two 512² windows of the image, the second displaced by a whole number of full-resolution
pixels, are each binned 4x4 into 128² images, so the offset between them is known exactly
to 1/4 binned pixel. Independent Gaussian noise stands for the two exposures' own noise.

Run as a script to print the accuracy of the drop-in's and the core's FITS registration on
these pairs (``PYTHONPATH=src python tests/image_registration/_hubble.py``); pointing
PYTHONPATH at an older checkout gives the figures before a change.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits

BIN = 4
SIZE = 128  # binned pixels
CORNER = (150, 200)  # full-resolution (row, column) of the reference window
NOISE = 0.01  # per binned pixel, in units of the binned scene's standard deviation
# pointing offsets in full-resolution pixels (rows, columns): binned, 1/4-pixel fractions
OFFSETS = [(5, -7), (13, 2), (-9, 11), (2, 3), (-14, -6), (21, -17)]


def scene() -> np.ndarray:
    """The Hubble deep field in grey, float64, full resolution."""
    from skimage import data

    return data.hubble_deep_field().astype(float).mean(axis=2)


def sky_header(*, crpix=(SIZE / 2 + 0.5, SIZE / 2 + 0.5)) -> fits.Header:
    """A TAN header for a 128² binned window, 0.16 arcsec per binned pixel."""
    return fits.Header(
        {
            "NAXIS": 2,
            "NAXIS1": SIZE,
            "NAXIS2": SIZE,
            "CTYPE1": "RA---TAN",
            "CTYPE2": "DEC--TAN",
            "CUNIT1": "deg",
            "CUNIT2": "deg",
            "CRVAL1": 189.2,
            "CRVAL2": 62.2,
            "CRPIX1": crpix[0],
            "CRPIX2": crpix[1],
            "CDELT1": -0.16 / 3600,
            "CDELT2": 0.16 / 3600,
        }
    )


def binned_window(image: np.ndarray, corner) -> np.ndarray:
    row, col = corner
    window = image[row : row + SIZE * BIN, col : col + SIZE * BIN]
    return window.reshape(SIZE, BIN, SIZE, BIN).mean(axis=(1, 3))


def pair(offset, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference and moving images, and the truth as the core's shift ``(dy, dx)``.

    The moving window starts `offset` full-resolution pixels further along (rows,
    columns): its pixel ``p`` sees what the reference's pixel ``p + offset / 4`` sees, so
    the translation that registers it onto the reference is ``offset / 4`` binned pixels.
    """
    full = scene()
    reference = binned_window(full, CORNER)
    moving = binned_window(full, (CORNER[0] + offset[0], CORNER[1] + offset[1]))
    rng = np.random.default_rng(seed)
    scale = NOISE * reference.std()
    reference = reference + rng.normal(0.0, scale, reference.shape)
    moving = moving + rng.normal(0.0, scale, moving.shape)
    return reference, moving, np.asarray(offset, dtype=float) / BIN


def write_pair(directory, offset, seed: int, *, moving_crpix=None):
    """Write a pair as FITS files; returns their paths and the truth ``(dy, dx)``."""
    reference, moving, truth = pair(offset, seed)
    header = sky_header()
    moving_header = header if moving_crpix is None else sky_header(crpix=moving_crpix)
    paths = (f"{directory}/reference_{seed}.fits", f"{directory}/moving_{seed}.fits")
    fits.writeto(paths[0], reference, header, overwrite=True)
    fits.writeto(paths[1], moving, moving_header, overwrite=True)
    return paths, truth


def _accuracy() -> None:
    import tempfile

    import napari_imreg.image_registration as ir
    from napari_imreg.core import _fits as core_fits

    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for seed, offset in enumerate(OFFSETS):
            (file1, file2), truth = write_pair(directory, offset, seed)
            xoff, yoff, _, _, exoff, eyoff = ir.FITS_tools.register_fits(file1, file2)[:6]
            dropin = np.array([-yoff, -xoff]) - truth, np.array([eyoff, exoff])
            result = core_fits.register_fits(file1, file2)
            core = np.asarray(result.shift) - truth, np.asarray(result.error)
            rows.append((offset, dropin, core))
    print("offset (full-res px)  drop-in register_fits: off (px), error   core register_fits")
    for offset, (d_off, d_err), (c_off, c_err) in rows:
        print(
            f"{offset!s:>10}  {np.round(d_off, 4)!s:>18} {np.round(d_err, 4)!s:>18}"
            f"  {np.round(c_off, 4)!s:>18} {np.round(c_err, 4)!s:>18}"
        )
    for name, index in (("drop-in", 1), ("core", 2)):
        off = np.array([row[index][0] for row in rows])
        err = np.array([row[index][1] for row in rows])
        print(
            f"{name}: largest |off| {np.abs(off).max():.4f} px, median error "
            f"{np.median(err):.4f} px, largest |off|/error {np.abs(off / err).max():.1f}"
        )


if __name__ == "__main__":
    _accuracy()
