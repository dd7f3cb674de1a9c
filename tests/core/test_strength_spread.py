"""The unfiltered pipeline as a witness of a bias every strongly filtered answer shares
(undersampled, sharp scenes shipped with the installed packages: a SECCHI frame, the
nuclei of napari's multichannel cells)."""

import importlib.util
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from napari_imreg.core import register
from napari_imreg.core._binned_pairs import make_binned_pair
from napari_imreg.core._strength_spread import spread_bound

# The seed of the sixth set of scenes (a scratch runner of heldout_accuracy.py's trials).
SIXTH_SEED = 6666


def _package_file(package: str, relative: str) -> Path:
    """A data file shipped inside an installed ``package`` (not imported), else skip."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{package} is not installed")
    path = Path(spec.submodule_search_locations[0]) / relative
    if not path.is_file():
        pytest.skip(f"{relative} is not shipped with {package}")
    return path


def _secchi() -> np.ndarray:
    """STEREO/SECCHI's level-0 frame shipped with reproject (a sharp solar limb)."""
    fits = pytest.importorskip("astropy.io.fits")
    path = _package_file("reproject", "tests/data/secchi_l0_a.fits")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a BLANK keyword on float data, ignored
        with fits.open(path, memmap=False) as hdus:
            image = np.asarray(hdus[0].data, dtype=np.float64)
    return image - image.min()


def _nuclei() -> np.ndarray:
    """The nuclei channel of napari's multichannel cells (sharp text and widgets)."""
    io = pytest.importorskip("skimage.io")
    path = _package_file("napari", "resources/multichannel_cells.png")
    image = io.imread(path)[..., 2].astype(np.float64)
    return image - image.min()


def _pair(scene, *, noise, snr, noise_index, trial, side, factor):
    """The sixth set's pair of ``trial``: a window moved by whole full-resolution pixels
    (up to 3 binned pixels), binned ``factor`` times: its shift is exact."""
    rng = np.random.default_rng([SIXTH_SEED, noise_index, round(snr * 10), trial])
    offset = rng.integers(-3 * factor, 3 * factor + 1, 2)
    return make_binned_pair(
        scene, (side, side), offset, bin_factor=factor, rng=rng, noise=noise, snr=snr
    )


@pytest.mark.parametrize(
    ("load", "noise", "noise_index", "snr", "trial", "side", "factor"),
    [
        (_secchi, "poisson", 1, 100.0, 30, 36, 3),
        (_nuclei, "gaussian", 0, 100.0, 32, 64, 3),
    ],
)
def test_errors_cover_a_bias_the_strong_filters_share(
    load, noise, noise_index, snr, trial, side, factor
):
    # The answer is filtered at strength 0.9-1 and so is its floor check's witness:
    # the two agree to 0.001 px, the truth lay 4.6 and 5.9 reported errors away (the
    # noise given as one number; the residual's chi2/dof 152 and 820). The unfiltered
    # pipeline disagrees by 0.02-0.05 px, far beyond the noise of the difference.
    pair = _pair(
        load(),
        noise=noise,
        snr=snr,
        noise_index=noise_index,
        trial=trial,
        side=side,
        factor=factor,
    )
    errors = {
        "error": float(np.sqrt(np.mean(pair.moving_variance))),
        "reference_error": float(np.sqrt(np.mean(pair.reference_variance))),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = register(pair.reference, pair.moving, **errors)
    assert result.measured
    assert result.filter_strength >= 0.5
    pull = (result.shift - pair.shift) / result.error
    assert np.all(np.abs(pull) < 4.0), pull


def _estimate(shift, variance):
    """A result-like estimate: its shift and a diagonal covariance."""
    return SimpleNamespace(
        shift=np.asarray(shift, dtype=np.float64), covariance=np.eye(2) * variance
    )


def test_spread_bound_counts_a_difference_beyond_its_noise_only():
    rng = np.random.default_rng(7)
    shift, variance, unfiltered_variance = np.zeros(2), 1e-4, 5e-4
    # Hausman's noise of the difference: sqrt(5e-4 - 1e-4) = 0.02 px per axis.
    noise_only = [
        spread_bound(
            shift, np.eye(2) * variance, _estimate(rng.normal(0.0, 0.02, 2), unfiltered_variance)
        )
        for _ in range(200)
    ]
    assert sum(np.any(bound > 0) for bound in noise_only) <= 1
    biased = spread_bound(
        shift, np.eye(2) * variance, _estimate([0.15, 0.01], unfiltered_variance)
    )
    # The difference beyond its noise on the axis apart; nothing on the other.
    np.testing.assert_allclose(np.sqrt(np.diag(biased)), [np.sqrt(0.15**2 - 4e-4), 0.0])
    assert not np.any(spread_bound(shift, np.eye(2) * variance, None))
