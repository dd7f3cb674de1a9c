"""FITS_tools: overlap headers, reprojection and FITS registration, thin calls into the core.

Reprojection needs the optional `reproject` package: ``pip install 'napari-imreg[fits]'``.
"""

from . import hcongrid
from .fits_overlap import fits_overlap, header_overlap
from .load_header import get_cd, load_data, load_header
from .match_images import match_fits, project_to_header, register_fits

__all__ = [
    "fits_overlap",
    "get_cd",
    "hcongrid",
    "header_overlap",
    "load_data",
    "load_header",
    "match_fits",
    "project_to_header",
    "register_fits",
]
