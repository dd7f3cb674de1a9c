"""Synthetic test images: extended emission with a power-law spectrum, and shifted copies.

These are the images of the reference package's comparison notebook, scaled to
zero mean and unit standard deviation so that a ``noise`` argument is a
signal-to-noise ratio. Every function takes a ``seed`` and is reproducible.
"""

from __future__ import annotations

import numpy as np

from ._fourier import fourier_shift
from ._validation import check_shift

__all__ = ["make_crop_pair", "make_extended", "make_shifted"]


def _as_shape(shape) -> tuple[int, ...]:
    dims = (int(shape), int(shape)) if np.ndim(shape) == 0 else tuple(int(n) for n in shape)
    if not dims or any(n < 2 for n in dims):
        raise ValueError(f"shape must have every length >= 2, got {shape!r}.")
    return dims


def make_extended(shape, *, power: float = 2.0, seed=None) -> np.ndarray:
    """A random image of extended emission: a Gaussian field with a power-law spectrum.

    Parameters
    ----------
    shape : int or sequence of int
        Image shape; an integer gives a square 2-D image.
    power : float
        Power-law index ``alpha`` of the power spectrum, ``P(k) ~ |k|**-alpha``.
        2 gives the cloud-like images of the reference notebook; 0 is white noise.
    seed : int or numpy.random.Generator, optional
        Random seed.

    Returns
    -------
    numpy.ndarray
        float64 image, periodic, with zero mean and unit standard deviation and
        no power at the Nyquist frequency of even-length axes (so that sub-pixel
        shifted copies are exact).

    Examples
    --------
    >>> image = make_extended(64, seed=0)
    >>> image.shape, round(float(image.std()), 6), abs(float(image.mean())) < 1e-12
    ((64, 64), 1.0, True)
    """
    dims = _as_shape(shape)
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(dims)
    spectrum = np.fft.rfftn(white)
    k2 = np.zeros(spectrum.shape)
    for axis, n in enumerate(dims):
        freq = np.fft.rfftfreq(n) if axis == len(dims) - 1 else np.fft.fftfreq(n)
        k2 = k2 + (freq**2).reshape([-1 if a == axis else 1 for a in range(len(dims))])
    with np.errstate(divide="ignore"):
        amplitude = np.where(k2 > 0, k2 ** (-power / 4.0), 0.0)
    for axis, n in enumerate(dims):
        if n % 2 == 0:
            # No power at the Nyquist frequency: a sub-pixel shift of a real image
            # cannot keep that term, so shifted copies would not be exact.
            index = [slice(None)] * len(dims)
            index[axis] = n // 2
            amplitude[tuple(index)] = 0.0
    image = np.fft.irfftn(spectrum * amplitude, s=dims, axes=tuple(range(len(dims))))
    image -= image.mean()
    return image / image.std()


def make_shifted(image, shift, *, noise: float = 0.0, seed=None) -> np.ndarray:
    """A copy of ``image`` displaced by ``-shift`` (periodically), plus white noise.

    Built so that registering the result against ``image`` gives ``shift``:
    ``register(image, make_shifted(image, s)).shift`` is ``s``.

    Parameters
    ----------
    image : array_like
        The reference image.
    shift : float or sequence of float
        The registration shift to build in, numpy axis order.
    noise : float
        Standard deviation of the Gaussian noise added.
    seed : int or numpy.random.Generator, optional
        Random seed of the noise.

    Examples
    --------
    >>> import numpy as np
    >>> image = make_extended(32, seed=1)
    >>> moving = make_shifted(image, (2, -3))
    >>> np.allclose(np.roll(moving, (2, -3), axis=(0, 1)), image)
    True
    """
    array = np.asarray(image, dtype=np.float64)
    offsets = check_shift(shift, array.ndim)
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}.")
    moved = fourier_shift(array, -offsets)
    if noise:
        moved = moved + noise * np.random.default_rng(seed).standard_normal(array.shape)
    return moved


def make_crop_pair(
    shape,
    shift,
    *,
    noise: float = 0.0,
    reference_noise: float = 0.0,
    power: float = 2.0,
    seed=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Two non-periodic crops of one larger scene, offset by a known sub-pixel shift.

    This is what real telescope or microscope images look like: their edges do
    not wrap. The moving crop is taken where the reference crop would be after
    moving by ``-shift``, so registering it against the reference gives ``shift``.

    Parameters
    ----------
    shape : int or sequence of int
        Shape of each crop.
    shift : float or sequence of float
        The registration shift to build in, numpy axis order.
    noise, reference_noise : float
        Standard deviation of the white noise added to the moving and to the
        reference crop (the scene has unit standard deviation).
    power : float
        Power-law index of the scene (see :func:`make_extended`).
    seed : int, optional
        Random seed of the scene and the noise.

    Returns
    -------
    reference, moving : numpy.ndarray
        float64 crops of ``shape``.

    Examples
    --------
    >>> reference, moving = make_crop_pair(48, (1.5, -2.0), seed=3)
    >>> reference.shape == moving.shape == (48, 48)
    True
    """
    dims = _as_shape(shape)
    offsets = check_shift(shift, len(dims))
    rng = np.random.default_rng(seed)
    margin = int(np.ceil(np.abs(offsets).max())) + max(8, max(dims) // 4)
    scene = make_extended(tuple(n + 2 * margin for n in dims), power=power, seed=rng)
    window = tuple(slice(margin, margin + n) for n in dims)
    reference = scene[window].copy()
    moving = fourier_shift(scene, -offsets)[window]
    if noise:
        moving = moving + noise * rng.standard_normal(dims)
    if reference_noise:
        reference = reference + reference_noise * rng.standard_normal(dims)
    return reference, moving
