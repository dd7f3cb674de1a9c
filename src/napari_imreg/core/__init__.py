"""The registration core: pure numpy / scipy / astropy, no napari or Qt.

Shifts are in numpy axis order (``(dy, dx)`` in 2-D) and are the translation
that registers the moving image onto the reference. One function per method:
:func:`register` (chi-squared, calibrated errors; :func:`register_periodic` for
images taken as periodic, as the reference package does), :func:`register_dft`
(cross-correlation peak by DFT upsampling) and :func:`register_taylor`
(cross-correlation peak refined by a Taylor expansion). FITS images register
through :func:`register_fits` (files) or :func:`register_wcs` (arrays plus a WCS),
and FITS files are read and written by :func:`read_fits` and :func:`write_fits`. Stacks
register through :func:`register_stack` and :func:`iter_register_stack` (in worker
processes kept between calls with :class:`StackWorkers`). The stages
of :func:`register` are private modules, one per stage (see docs/architecture.md).
"""

from ._apply import apply_shift, apply_shifts
from ._axis_messages import AxisMessage
from ._chi2map import Chi2Map, chi2_map
from ._crosscorr import register_dft, register_periodic, register_taylor
from ._deltachi2 import delta_chi2_levels, slice_covariance
from ._fits import (
    FitsImage,
    FitsRegistration,
    MatchedImages,
    error_from_uncertainty,
    header_for_shifted_data,
    load_wcs,
    match_wcs,
    read_fits,
    read_fits_image,
    register_fits,
    register_wcs,
    wcs_from_header,
    write_fits,
)
from ._fourier import fourier_shift, fourier_zoom, upsampled_dft
from ._options import Options
from ._register import Registrar, register
from ._result import RegistrationResult, RegistrationWarning, StackResult
from ._stack import iter_register_stack, register_stack
from ._stack_pool import StackWorkers
from ._synthetic import make_crop_pair, make_extended, make_shifted

__all__ = [
    "AxisMessage",
    "Chi2Map",
    "FitsImage",
    "FitsRegistration",
    "MatchedImages",
    "Options",
    "Registrar",
    "RegistrationResult",
    "RegistrationWarning",
    "StackResult",
    "StackWorkers",
    "apply_shift",
    "apply_shifts",
    "chi2_map",
    "delta_chi2_levels",
    "error_from_uncertainty",
    "fourier_shift",
    "fourier_zoom",
    "header_for_shifted_data",
    "iter_register_stack",
    "load_wcs",
    "make_crop_pair",
    "make_extended",
    "make_shifted",
    "match_wcs",
    "read_fits",
    "read_fits_image",
    "register",
    "register_dft",
    "register_fits",
    "register_periodic",
    "register_stack",
    "register_taylor",
    "register_wcs",
    "slice_covariance",
    "upsampled_dft",
    "wcs_from_header",
    "write_fits",
]
