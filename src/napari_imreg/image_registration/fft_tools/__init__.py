"""fft_tools: the reference package's Fourier tools, each a thin call into the core.

Submodules: ``shift``, ``zoom``, ``upsample``, ``scale``, ``convolve_nd``, ``correlate2d``,
``downsample``, ``smooth_tools``, ``fast_ffts``.
"""

from . import convolve_nd, downsample, fast_ffts, scale, shift, smooth_tools, upsample, zoom
from .correlate2d import correlate2d
from .fast_ffts import get_ffts
from .shift import shift2d, shiftnd
from .smooth_tools import smooth
from .upsample import dftups, upsample_image

__all__ = [
    "convolve_nd",
    "correlate2d",
    "dftups",
    "downsample",
    "fast_ffts",
    "get_ffts",
    "scale",
    "shift",
    "shift2d",
    "shiftnd",
    "smooth",
    "smooth_tools",
    "upsample",
    "upsample_image",
    "zoom",
]
