"""Synthetic test images of the reference notebook, from the core's generator."""

from __future__ import annotations

import numpy as np

from ...core import make_extended as _core_extended
from ...core import make_shifted
from ...core._filters import convolve_fft, make_kernel

__all__ = [
    "compare_methods",
    "edge_weight",
    "make_extended",
    "make_offset_extended",
    "plot_compare_methods",
]

_METHODS = ("register_images", "cross_correlation_shifts", "gaussian fit", "chi2_shift")


def _legacy_seed() -> int:
    """A seed drawn from numpy's global generator, so ``np.random.seed`` still applies."""
    return int(np.random.randint(0, 2**31 - 1))  # noqa: NPY002 - honours np.random.seed


def make_extended(imsize, imsize2=None, powerlaw=2.0):
    """A random image of extended emission with a power-law power spectrum.

    Parameters
    ----------
    imsize : int
        Number of columns (x).
    imsize2 : int, optional
        Number of rows (y); default `imsize`.
    powerlaw : float
        Index of the power spectrum, ``P(k) ~ k**-powerlaw``.

    Returns
    -------
    np.ndarray
        ``(imsize2, imsize)`` image with zero mean and unit standard deviation (the
        reference's current version returned images with a standard deviation near 3e-4,
        so its ``noise=`` arguments meant signal-to-noise ratios of thousands). Seeded from
        numpy's global generator: ``np.random.seed`` makes it reproducible.

    Examples
    --------
    >>> image = make_extended(64, 48)
    >>> image.shape, round(float(image.std()), 6)
    ((48, 64), 1.0)
    """
    rows = int(imsize) if imsize2 is None else int(imsize2)
    return _core_extended((rows, int(imsize)), power=powerlaw, seed=_legacy_seed())


def edge_weight(imsize, smoothsize=5, power=2):
    """A square weight that falls off towards the edges: smoothed ones, to a power.

    Examples
    --------
    >>> w = edge_weight(16)
    >>> bool(w[8, 8] > w[0, 0])
    True
    """
    size = int(imsize)
    kernel = make_kernel([size + size % 2] * 2, width=smoothsize)
    return convolve_fft(np.ones((size, size)), kernel) ** power


def make_offset_extended(img, xsh, ysh, noise=1.0, mode="wrap", noise_taper=False):
    """`img` translated by ``(xsh, ysh)`` pixels (periodically), plus Gaussian noise.

    Parameters
    ----------
    img : np.ndarray
        The image.
    xsh, ysh : float
        The translation, x first: registering the result against `img` with
        :func:`~napari_imreg.image_registration.chi2_shift` gives ``(xsh, ysh)``.
    noise : float
        Standard deviation of the added noise.
    mode : 'wrap'
        Only the periodic (Fourier) shift is provided, as in the reference (which ignored
        this argument); other values raise ValueError.
    noise_taper : bool
        Make the noise grow towards the edges (divided by :func:`edge_weight`).

    Examples
    --------
    >>> image = make_extended(32)
    >>> moved = make_offset_extended(image, 3, -2, noise=0)
    >>> bool(np.allclose(moved, np.roll(image, (-2, 3), axis=(0, 1))))
    True
    """
    if mode != "wrap":
        raise ValueError(f"mode must be 'wrap' (a periodic Fourier shift), got {mode!r}.")
    img = np.asarray(img, dtype=float)
    moved = make_shifted(img, (-ysh, -xsh))
    if not noise:
        return moved
    deviations = np.random.default_rng(_legacy_seed()).standard_normal(img.shape) * noise
    if noise_taper:
        deviations /= edge_weight(img.shape[0])
    return moved + deviations


def compare_methods(im1, im2, ntests=100, noise=np.std, usfac=201, **kwargs):
    """Register `im2` plus fresh noise `ntests` times with each method of the notebook.

    Parameters
    ----------
    im1, im2 : np.ndarray
        The reference and the offset image.
    ntests : int
        Number of noise realisations.
    noise : callable or float
        The noise level added, or a function of `im2` giving it (default its std).
    usfac : int
        Upsampling factor of :func:`~napari_imreg.image_registration.register_images`.
    **kwargs
        Passed to every method.

    Returns
    -------
    offsets, errors : np.ndarray
        ``(ntests, 8)`` arrays with the columns of the reference: ``register_images``
        (dx, dy), ``cross_correlation_shifts`` (dx, dy), the Gaussian fit (always 0, not
        provided) and ``chi2_shift`` (dx, dy); `errors` holds the matching 1-sigma errors.
        Seeded from numpy's global generator.

    Examples
    --------
    >>> image = make_extended(32)
    >>> moved = make_offset_extended(image, 1.5, 2, noise=0)
    >>> offsets, errors = compare_methods(image, moved, ntests=2, noise=0.05)
    >>> offsets.shape, bool(np.allclose(offsets[:, 6:], [1.5, 2], atol=0.05))
    ((2, 8), True)
    """
    from ..chi2_shifts import chi2_shift
    from ..cross_correlation_shifts import cross_correlation_shifts
    from ..register_images import register_images

    level = noise(im2) if callable(noise) else float(noise)
    rng = np.random.default_rng(_legacy_seed())
    offsets, errors = [], []
    for _ in range(int(ntests)):
        noisy = im2 + rng.standard_normal(im2.shape) * level
        dxr, dyr, edxr, edyr = register_images(
            im1, noisy, usfac=usfac, return_error=True, **kwargs
        )
        dxc, dyc, edxc, edyc = cross_correlation_shifts(
            im1, noisy, errim2=level, return_error=True, **kwargs
        )
        dxx, dyx, edxx, edyx = chi2_shift(im1, noisy, err=level, return_error=True, **kwargs)
        offsets.append([dxr, dyr, dxc, dyc, 0.0, 0.0, dxx, dyx])
        errors.append([edxr, edyr, edxc, edyc, 0.0, 0.0, edxx, edyx])
    return np.array(offsets), np.array(errors)


def plot_compare_methods(offsets, eoffsets, dx=None, dy=None, fig1=1, fig2=2, legend=True):
    """Plot the output of :func:`compare_methods` and print how well the errors match.

    Figure `fig1` shows every measured offset of each method, figure `fig2` the mean
    offset of each method with its mean reported error; a black X marks ``(dx, dy)``.
    The Gaussian-fit columns (not provided) are left out. Needs matplotlib.

    Returns
    -------
    stds, error_means : np.ndarray
        The scatter of the offsets and the mean reported errors, per column (8 values,
        as printed). Their ratio should be near 1 when the errors are right.
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is in the test extra
        raise ImportError(
            "plot_compare_methods needs matplotlib: pip install matplotlib "
            "(or the napari-imreg[napari] extra)."
        ) from exc
    offsets = np.asarray(offsets, dtype=float)
    eoffsets = np.asarray(eoffsets, dtype=float)
    stds = offsets.std(axis=0)
    error_means = eoffsets.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = error_means / stds
    print("Standard Deviations: ", stds)
    print("Error Means: ", error_means)
    print("emeans/stds: ", ratios)
    shown = [0, 1, 3]
    for number, summary in ((fig1, False), (fig2, True)):
        figure = plt.figure(number)
        figure.clf()
        axes = figure.add_subplot(111)
        for method in shown:
            x, y = offsets[:, 2 * method], offsets[:, 2 * method + 1]
            if summary:
                axes.errorbar(
                    x.mean(),
                    y.mean(),
                    xerr=eoffsets[:, 2 * method].mean(),
                    yerr=eoffsets[:, 2 * method + 1].mean(),
                    marker="o",
                    label=_METHODS[method],
                )
            else:
                axes.plot(x, y, ".", alpha=0.5, label=_METHODS[method])
        if dx is not None and dy is not None:
            axes.plot(dx, dy, "kx", markersize=12, label="true offset")
        axes.set_xlabel("dx (pixels)")
        axes.set_ylabel("dy (pixels)")
        if legend:
            axes.legend(loc="best")
    return stds, error_means
