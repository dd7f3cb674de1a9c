"""Real scenes shipped inside other installed packages: a second set nobody tuned on.

Astronomy first, because its data rarely look like photographs: a globular cluster and
two solar images taken by spacecraft, a radio map, then a screenshot and a press photo.
Every file is test or resource data of a package the project installs (astropy, and
reproject, pyavm and napari through the ``fits`` and ``bench`` extras):

* ``m13``: the globular cluster M13, a 300² optical image (astropy's FITS tests);
* ``aia171``: the Sun at 171 Å from SDO/AIA, 128² (reproject's tests);
* ``secchi``: a STEREO/SECCHI image, 128², 14-bit counts (reproject's tests);
* ``radio``: a 192² radio map in the zenithal perspective projection (astropy's modeling
  tests); the pixels outside the projection, NaN in the file, hold the map's minimum;
* ``screenshot``: napari's own screenshot resource (text and widgets, sharp edges, the
  green channel);
* ``eso``: an ESO press photograph, 248 × 320, luminance (pyavm's tests).
"""

from __future__ import annotations

import warnings
from functools import cache
from importlib.util import find_spec
from pathlib import Path

import numpy as np

SCENES = ("m13", "aia171", "secchi", "radio", "screenshot", "eso")

_FILES = {
    "m13": ("astropy", "io/fits/hdu/compressed/tests/data/m13.fits"),
    "aia171": ("reproject", "tests/data/aia_171_level1.fits"),
    "secchi": ("reproject", "tests/data/secchi_l0_a.fits"),
    "radio": ("astropy", "modeling/tests/data/1904-66_AZP.fits"),
    "screenshot": ("napari", "resources/multichannel_cells.png"),
    "eso": ("pyavm", "tests/data/eso_eso1723a_320.png"),
}


def _path(name: str) -> Path:
    package, relative = _FILES[name]
    spec = find_spec(package)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"scene {name!r} needs the package {package!r} installed")
    path = Path(spec.origin).parent / relative
    if not path.is_file():
        raise FileNotFoundError(f"scene {name!r}: {path} is not in this {package} version")
    return path


@cache
def load(name: str) -> np.ndarray:
    """A packaged scene as a float64 single-channel array with its minimum at 0."""
    path = _path(name)
    if path.suffix == ".fits":
        from astropy.io import fits

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the files' WCS keywords are not read here
            image = np.asarray(fits.getdata(path), dtype=np.float64)
        image = np.where(np.isfinite(image), image, np.nanmin(image))
    else:
        import skimage.color
        import skimage.io

        pixels = skimage.io.imread(path)
        if name == "screenshot":
            image = pixels[..., 1].astype(np.float64)
        else:
            image = skimage.color.rgb2gray(pixels[..., :3])
    return image - image.min()
