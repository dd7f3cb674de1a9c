"""A drop-in replacement for the ``image_registration`` package.

Replace ``import image_registration`` with
``import napari_imreg.image_registration as image_registration`` and scripts run unchanged:
same names, parameters, defaults, ``(dx, dy, ...)`` return order and sign (the offset of
image 2 from image 1), and the same number of returned values for every ``return_*``
flag. Every function is a thin call into :mod:`napari_imreg.core`, so the answers are the
core's: continuous sub-pixel shifts and calibrated 1-sigma errors. See
``docs/migration.md`` for the conventions and for what changed and why.
"""

from . import FITS_tools, chi2_shifts, fft_tools, iterative_zoom, tests
from .chi2_shifts import chi2_shift, chi2_shift_iterzoom, chi2n_map
from .cross_correlation_shifts import cross_correlation_shifts, cross_correlation_shifts_FITS
from .register_images import register_images

__all__ = [
    "FITS_tools",
    "chi2_shift",
    "chi2_shift_iterzoom",
    "chi2_shifts",
    "chi2n_map",
    "cross_correlation_shifts",
    "cross_correlation_shifts_FITS",
    "fft_tools",
    "iterative_zoom",
    "register_images",
    "tests",
]
