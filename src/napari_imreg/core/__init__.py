"""The registration core: pure numpy / scipy / astropy, no napari or Qt.

Shifts are in numpy axis order (``(dy, dx)`` in 2-D) and are the translation
that registers the moving image onto the reference.
"""

from .fourier import fourier_shift, fourier_zoom, upsampled_dft
from .register import (
    Registrar,
    RegistrationResult,
    RegistrationWarning,
    apply_shift,
    register,
)
from .synthetic import make_crop_pair, make_extended, make_shifted

__all__ = [
    "Registrar",
    "RegistrationResult",
    "RegistrationWarning",
    "apply_shift",
    "fourier_shift",
    "fourier_zoom",
    "make_crop_pair",
    "make_extended",
    "make_shifted",
    "register",
    "upsampled_dft",
]
