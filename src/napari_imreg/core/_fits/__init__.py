"""Images with a world coordinate system: FITS files at the edge, arrays plus a WCS inside.

The stages, each usable on its own: read files (:mod:`._files`, with the header bookkeeping of
:mod:`._header`), take a header, image or WCS from whatever the caller holds (:mod:`._sources`),
measure and cover footprints (:mod:`._grid`), bring two images onto one grid (:mod:`._match`),
and register them (:mod:`._register_wcs`). This package gathers their names for the core, the
drop-in and the napari reader and writer.
"""

from ._files import (
    FITS_SUFFIXES,
    FitsImage,
    choose_image,
    image_hdu,
    is_fits_path,
    looks_like_fits,
    read_fits,
    read_fits_image,
    write_fits,
)
from ._grid import (
    header_overlap,
    pixel_scale,
    pixel_to_world_offset,
    reproject_to_header,
)
from ._header import ImageKind, error_from_uncertainty, header_for_shifted_data, wcs_from_header
from ._match import MatchedImages, match_images, match_wcs
from ._register_wcs import FitsRegistration, register_fits, register_wcs, world_unit
from ._sources import load_data, load_header, load_wcs

__all__ = [
    "FITS_SUFFIXES",
    "FitsImage",
    "FitsRegistration",
    "ImageKind",
    "MatchedImages",
    "choose_image",
    "error_from_uncertainty",
    "header_for_shifted_data",
    "header_overlap",
    "image_hdu",
    "is_fits_path",
    "load_data",
    "load_header",
    "load_wcs",
    "looks_like_fits",
    "match_images",
    "match_wcs",
    "pixel_scale",
    "pixel_to_world_offset",
    "read_fits",
    "read_fits_image",
    "register_fits",
    "register_wcs",
    "reproject_to_header",
    "wcs_from_header",
    "world_unit",
    "write_fits",
]
