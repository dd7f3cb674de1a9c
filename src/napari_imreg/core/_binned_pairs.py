"""Exactly shifted pairs cut from a real scene: two crop windows, then binning.

A pair made here has a true shift known exactly, with no interpolation or Fourier
model involved: the moving window is the reference window moved by a whole number
``k`` of full-resolution pixels, and both are binned ``b`` times on every axis, so
the true shift of the binned pair is ``k / b`` pixels. Real scenes are not
band-limited, are truncated at the crop edges and alias when binned: exactly what
a registration method meets on real data and what a band-limited synthetic image
hides. Used by the tests and by ``benchmarks/real_accuracy.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

#: The scikit-image scenes shipped in its wheel, by kind.
SCENE_GROUPS = {
    "microscopy": ("cell", "immunohistochemistry", "retina", "microaneurysms"),
    "astronomy": ("hubble_deep_field", "moon"),
    "photograph": ("astronaut", "camera", "cat", "chelsea", "coffee", "rocket", "horse", "clock"),
    "texture": ("brick", "grass", "gravel"),
    "document": ("page", "text", "coins"),
}


@dataclass(frozen=True)
class BinnedPair:
    """A reference, a moving image, the shift between them and their noise.

    Attributes
    ----------
    reference, moving : numpy.ndarray
        The noisy binned images (float64).
    shift : numpy.ndarray
        The true shift, numpy axis order, with the sign of :func:`register`: the
        translation that registers ``moving`` onto ``reference``.
    reference_variance, moving_variance : numpy.ndarray
        The true per-pixel noise variance of each image (the noise was drawn from it).
    reference_clean, moving_clean : numpy.ndarray
        The noiseless binned images.
    """

    reference: np.ndarray
    moving: np.ndarray
    shift: np.ndarray
    reference_variance: np.ndarray
    moving_variance: np.ndarray
    reference_clean: np.ndarray
    moving_clean: np.ndarray

    def given_noise(self, maps: bool = True) -> dict:
        """:func:`register`'s ``error`` and ``reference_error`` from the true noise:
        the per-pixel maps, or with ``maps=False`` the scalars of their mean variance."""
        if maps:
            return {
                "error": np.sqrt(self.moving_variance),
                "reference_error": np.sqrt(self.reference_variance),
            }
        return {
            "error": float(np.sqrt(np.mean(self.moving_variance))),
            "reference_error": float(np.sqrt(np.mean(self.reference_variance))),
        }


def load_scene(name: str) -> np.ndarray:
    """A scikit-image data scene as a float64 single-channel array.

    Colour scenes become their luminance (``skimage.color.rgb2gray``); a greyscale
    scene stays as it is.

    Parameters
    ----------
    name : str
        The name of a function of :mod:`skimage.data` (e.g. ``"camera"``).

    Returns
    -------
    numpy.ndarray
        The scene, 2-D, float64, in its own units.
    """
    import skimage.color
    import skimage.data

    image = np.asarray(getattr(skimage.data, name)(), dtype=np.float64)
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        image = skimage.color.rgb2gray(image[..., :3] / max(image.max(), 1e-300))
    return image


def bin_image(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean of ``factor`` pixels along every axis (the shape must divide)."""
    shape = []
    for n in image.shape:
        shape += [n // factor, factor]
    out = image.reshape(shape)
    return out.mean(axis=tuple(range(1, 2 * image.ndim, 2)))


def make_binned_pair(
    scene: np.ndarray,
    shape,
    offset,
    *,
    bin_factor: int = 4,
    rng: np.random.Generator | int | None = None,
    noise: Literal["gaussian", "poisson", "none"] = "gaussian",
    snr: float = 10.0,
    counts: float | None = None,
    start=None,
) -> BinnedPair:
    """Cut an exactly shifted pair out of a real scene and add noise.

    Parameters
    ----------
    scene : numpy.ndarray
        The full-resolution scene, any dimension.
    shape : sequence of int
        Shape of each binned image.
    offset : sequence of int
        Whole full-resolution pixels by which the moving window is moved against
        the reference window, per axis. The true shift is ``offset / bin_factor``.
    bin_factor : int
        Full-resolution pixels per binned pixel along each axis (default 4).
    rng : numpy.random.Generator or int, optional
        Source of the crop position (when ``start`` is None) and of the noise.
    noise : {"gaussian", "poisson", "none"}
        Gaussian noise of one std everywhere, or Poisson noise of the scene
        rescaled to ``counts`` (mean counts per binned pixel), or none.
    snr : float
        Gaussian noise: the binned reference's std divided by the noise std.
        Poisson noise with ``counts`` None: the mean counts are ``snr**2`` (the
        signal-to-noise per pixel of the mean level).
    counts : float, optional
        Poisson noise: mean counts per binned pixel.
    start : sequence of int, optional
        Full-resolution corner of the reference window (default: random, with room
        for the offset).

    Returns
    -------
    BinnedPair
        The images, the true shift ``offset / bin_factor`` (sign of
        :func:`register`) and the variance maps.

    Examples
    --------
    >>> import numpy as np
    >>> scene = np.add.outer(np.arange(64.0), np.arange(64.0)) ** 2
    >>> pair = make_binned_pair(scene, (8, 8), (3, -2), noise="none", start=(16, 16))
    >>> pair.shift.tolist()
    [0.75, -0.5]
    """
    rng = np.random.default_rng(rng)
    scene = np.asarray(scene, dtype=np.float64)
    offset = np.asarray(offset, dtype=int)
    full = np.asarray(shape, dtype=int) * bin_factor
    if start is None:
        low = np.maximum(0, -offset)
        high = np.asarray(scene.shape) - full - np.maximum(0, offset)
        if np.any(high < low):
            raise ValueError(
                f"scene of shape {scene.shape} is too small for binned shape {tuple(shape)}"
                f" at bin_factor={bin_factor} and offset={tuple(offset)}; use a smaller shape"
            )
        start = [int(rng.integers(lo, hi + 1)) for lo, hi in zip(low, high, strict=True)]
    start = np.asarray(start, dtype=int)
    ref_win = tuple(slice(s, s + n) for s, n in zip(start, full, strict=True))
    mov_win = tuple(slice(s + o, s + o + n) for s, o, n in zip(start, offset, full, strict=True))
    # The moving window starts k pixels further, so moving(x - k/b) = reference(x):
    # the shift that registers moving onto reference is +k/b.
    ref_clean = bin_image(scene[ref_win], bin_factor)
    mov_clean = bin_image(scene[mov_win], bin_factor)
    if noise == "none":
        ref_var = np.zeros_like(ref_clean)
        mov_var = np.zeros_like(mov_clean)
        ref, mov = ref_clean.copy(), mov_clean.copy()
    elif noise == "gaussian":
        sigma = ref_clean.std() / snr
        ref_var = np.full_like(ref_clean, sigma**2)
        mov_var = np.full_like(mov_clean, sigma**2)
        ref = ref_clean + rng.normal(0.0, sigma, ref_clean.shape)
        mov = mov_clean + rng.normal(0.0, sigma, mov_clean.shape)
    elif noise == "poisson":
        level = snr**2 if counts is None else counts
        # Counts proportional to the scene, with a small pedestal so no pixel has zero rate.
        low = min(ref_clean.min(), mov_clean.min())
        span = max(ref_clean.mean(), mov_clean.mean()) - low
        span = span if span > 0 else 1.0

        def scale(values):
            return level * (0.05 + 0.95 * (values - low) / span)

        ref_clean, mov_clean = scale(ref_clean), scale(mov_clean)
        ref_var, mov_var = ref_clean.copy(), mov_clean.copy()
        ref = rng.poisson(ref_clean).astype(np.float64)
        mov = rng.poisson(mov_clean).astype(np.float64)
    else:
        raise ValueError(f"noise must be 'gaussian', 'poisson' or 'none', got {noise!r}")
    return BinnedPair(
        reference=ref,
        moving=mov,
        shift=offset / bin_factor,
        reference_variance=ref_var,
        moving_variance=mov_var,
        reference_clean=ref_clean,
        moving_clean=mov_clean,
    )
