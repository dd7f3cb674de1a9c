"""The registration core: pure numpy / scipy / astropy, no napari or Qt.

Shifts are in numpy axis order (``(dy, dx)`` in 2-D) and are the translation
that registers the moving image onto the reference. One function per method:
:func:`register` (chi-squared, calibrated errors), :func:`register_dft`
(cross-correlation peak by DFT upsampling) and :func:`register_taylor`
(cross-correlation peak refined by a Taylor expansion). FITS tools are in
:mod:`napari_imreg.core.fits` (astropy); stacks are :func:`register_stack` and
:func:`iter_register_stack`. The stages of :func:`register` are private modules,
one per stage (see docs/architecture.md).
"""

from ._apply import apply_shift, apply_shifts
from ._deltachi2 import delta_chi2_levels
from ._options import Options
from ._register import Registrar, register
from ._result import RegistrationResult, RegistrationWarning, StackResult
from ._stack import iter_register_stack, register_stack
from .chi2map import Chi2Map, chi2_map
from .crosscorr import register_dft, register_taylor
from .fourier import fourier_shift, fourier_zoom, upsampled_dft
from .synthetic import make_crop_pair, make_extended, make_shifted

__all__ = [
    "Chi2Map",
    "Options",
    "Registrar",
    "RegistrationResult",
    "RegistrationWarning",
    "StackResult",
    "apply_shift",
    "apply_shifts",
    "chi2_map",
    "delta_chi2_levels",
    "fourier_shift",
    "fourier_zoom",
    "iter_register_stack",
    "make_crop_pair",
    "make_extended",
    "make_shifted",
    "register",
    "register_dft",
    "register_stack",
    "register_taylor",
    "upsampled_dft",
]
