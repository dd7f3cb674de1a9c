"""Sample data: images with a known shift, to try the registration widgets in one click.

* :func:`extended_pair` is the pair of the ``image_registration`` comparison notebook: a
  100 x 100 power-law ("extended emission") image and a copy offset by (dx, dy) =
  (4.76667, -12.33333) pixels with Gaussian noise of sigma 0.1, plus its noise map. In this
  plugin's convention (the shift that registers the moving image onto the reference, numpy
  axis order) the known shift is ``(12.33333, -4.76667)``.
* :func:`drifting_timelapse` is a stack of frames that drift along a smooth random walk, in two
  channels with the same drift.
* :func:`shifted_hubble` is a real image, the Hubble deep field that scikit-image ships, and a
  copy shifted by a known sub-pixel amount.

The known shifts are in each moving layer's ``metadata["known_shift"]`` (``"known_shifts"``
for the stack, one row per frame). The images are made by the core's
:func:`~napari_imreg.core.make_extended` and :func:`~napari_imreg.core.make_shifted`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_imreg.core import make_extended, make_shifted

LayerData = tuple[Any, dict[str, Any], str]

#: The shift that registers the sample pair's moving image onto its reference, (dy, dx) pixels.
PAIR_SHIFT = (37 / 3, -143 / 30)
PAIR_NOISE = 0.1
#: The shift of the real sample, (dy, dx) pixels.
HUBBLE_SHIFT = (-6.3, 9.45)
HUBBLE_NOISE = 0.01
TIMELAPSE_FRAMES = 16
TIMELAPSE_NOISE = 0.05


def extended_pair() -> list[LayerData]:
    """The extended-emission pair with a known sub-pixel offset, and the moving image's noise."""
    reference = make_extended((100, 100), seed=0)
    moving = make_shifted(reference, PAIR_SHIFT, noise=PAIR_NOISE, seed=1)
    noise_map = np.full(moving.shape, PAIR_NOISE, dtype=moving.dtype)
    return [
        (
            reference,
            {"name": "extended reference", "colormap": "green", "blending": "additive"},
            "image",
        ),
        (
            moving,
            {
                "name": "extended moving",
                "colormap": "magenta",
                "blending": "additive",
                "metadata": {"known_shift": PAIR_SHIFT, "noise": PAIR_NOISE},
            },
            "image",
        ),
        (
            noise_map,
            {
                "name": "extended moving error",
                "visible": False,
                "metadata": {"fits_kind": "error"},
            },
            "image",
        ),
    ]


def drifting_timelapse() -> list[LayerData]:
    """A time-lapse (t, y, x) whose frames drift; two channels share the drift.

    Frame ``t`` is registered onto frame 0 by ``metadata["known_shifts"][t]``.
    """
    rng = np.random.default_rng(7)
    steps = rng.normal(0.0, 0.8, size=(TIMELAPSE_FRAMES, 2))
    steps[0] = 0.0
    drift = np.cumsum(steps, axis=0)
    channels = []
    for channel in range(2):
        base = make_extended((96, 96), seed=10 + channel)
        frames = [
            make_shifted(base, tuple(shift), noise=TIMELAPSE_NOISE, seed=100 * channel + t)
            for t, shift in enumerate(drift)
        ]
        channels.append(np.stack(frames))
    metadata = {"known_shifts": drift, "noise": TIMELAPSE_NOISE}
    return [
        (channels[0], {"name": "drifting stack", "metadata": metadata}, "image"),
        (
            channels[1],
            {
                "name": "drifting stack (channel 2)",
                "colormap": "green",
                "blending": "additive",
                "metadata": metadata,
            },
            "image",
        ),
    ]


def shifted_hubble() -> list[LayerData]:
    """The Hubble deep field (from scikit-image) and a copy shifted by :data:`HUBBLE_SHIFT`.

    Raises
    ------
    ImportError
        If scikit-image, which ships the image, is not installed.
    """
    try:
        from skimage import data
        from skimage.color import rgb2gray
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "The real-image sample needs scikit-image, which ships the Hubble deep field: "
            "pip install scikit-image"
        ) from exc
    # Shift the whole field, then cut the same window from both: the window's edges do not
    # wrap around, as in a real pair of exposures (register with boundary "overlap").
    field = rgb2gray(data.hubble_deep_field())
    window = (slice(200, 456), slice(300, 556))
    reference = field[window]
    moving = make_shifted(field, HUBBLE_SHIFT, noise=HUBBLE_NOISE, seed=3)[window]
    return [
        (
            reference,
            {"name": "hubble reference", "colormap": "green", "blending": "additive"},
            "image",
        ),
        (
            moving,
            {
                "name": "hubble moving",
                "colormap": "magenta",
                "blending": "additive",
                "metadata": {"known_shift": HUBBLE_SHIFT, "noise": HUBBLE_NOISE},
            },
            "image",
        ),
    ]
