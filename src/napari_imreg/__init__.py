"""napari-imreg: sub-pixel image registration with calibrated error bars.

The headless API (no napari or Qt needed) is re-exported here from
:mod:`napari_imreg.core`; the napari plugin lives in the private adapter modules
and is found by napari through ``napari.yaml``. Shifts are in numpy axis order and
register the moving image onto the reference.

>>> from napari_imreg import make_crop_pair, register
>>> reference, moving = make_crop_pair(64, (1.5, -0.75), noise=0.05, seed=1)
>>> result = register(reference, moving)
>>> bool(abs(result.shift - (1.5, -0.75)).max() < 5 * result.error.max())
True
"""

from importlib.metadata import PackageNotFoundError, version

from .core import (
    Registrar,
    RegistrationResult,
    RegistrationWarning,
    StackResult,
    apply_shift,
    apply_shifts,
    fourier_shift,
    fourier_zoom,
    make_crop_pair,
    make_extended,
    make_shifted,
    register,
    register_stack,
    upsampled_dft,
)

try:
    __version__ = version("napari-imreg")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "unknown"

__all__ = [
    "Registrar",
    "RegistrationResult",
    "RegistrationWarning",
    "StackResult",
    "__version__",
    "apply_shift",
    "apply_shifts",
    "fourier_shift",
    "fourier_zoom",
    "make_crop_pair",
    "make_extended",
    "make_shifted",
    "register",
    "register_stack",
    "upsampled_dft",
]
