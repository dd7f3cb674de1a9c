"""hcongrid: resample an image from one header's grid onto another's, answered by the core."""

from __future__ import annotations

from ...core import _fits as core_fits

__all__ = ["hcongrid"]


def hcongrid(image, header1, header2, preserve_bad_pixels=True, **kwargs):
    """Resample `image`, on the grid of `header1`, onto the grid of `header2`.

    A thin call of :func:`napari_imreg.core._fits.reproject_to_header` (needs the optional
    `reproject` package: ``pip install 'napari-imreg[fits]'``). NaNs stay NaN whatever
    `preserve_bad_pixels`; `kwargs` go to ``reproject.reproject_interp``.
    """
    return core_fits.reproject_to_header(
        (image, core_fits.load_header(header1)), header2, **kwargs
    )
