"""The full chi-squared map: brute-force definition for every boundary, layout, weights."""

import numpy as np
import pytest
import scipy.ndimage as ndi

from napari_imreg.core import chi2_map

MODES = {"wrap": "grid-wrap", "constant": "constant", "reflect": "reflect", "nearest": "nearest"}


def brute_force(reference, moving, weight, mode):
    shape = reference.shape
    center = [(n - 1) // 2 for n in shape]
    out = np.empty(shape)
    for index in np.ndindex(*shape):
        shift = [i - c for i, c in zip(index, center, strict=True)]
        # the model is the reference translated by -shift: model(x) = reference(x + shift)
        model = ndi.shift(reference, [-s for s in shift], order=0, mode=MODES[mode])
        out[index] = np.sum(weight * (moving - model) ** 2)
    return out


@pytest.mark.parametrize("shape", [(6, 6), (7, 7), (6, 9), (5, 8)])
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("error_kind", ["none", "scalar", "map"])
def test_matches_brute_force(shape, mode, error_kind):
    rng = np.random.default_rng(0)
    reference, moving = rng.normal(size=shape), rng.normal(size=shape)
    error = {"none": None, "scalar": 0.5, "map": rng.uniform(0.5, 2.0, shape)}[error_kind]
    weight = 1.0 if error is None else 1.0 / np.asarray(error) ** 2
    result = chi2_map(reference, moving, error=error, boundary=mode)
    np.testing.assert_allclose(
        result.chi2, brute_force(reference, moving, weight, mode), atol=1e-9
    )
    np.testing.assert_allclose(result.term1 + result.term2 + result.term3, result.chi2)
    assert result.center == tuple((n - 1) // 2 for n in shape)


@pytest.mark.parametrize("shape", [(16, 16), (15, 17)])
def test_layout_minimum_at_center_plus_shift(shape):
    rng = np.random.default_rng(1)
    reference = rng.normal(size=shape)
    moving = np.roll(reference, (2, -3), axis=(0, 1))  # moving = reference translated by +d
    result = chi2_map(reference, moving)
    minimum = np.unravel_index(int(result.chi2.argmin()), shape)
    # the registration shift is -d: index center + (-d)
    assert tuple(int(i) for i in minimum) == (result.center[0] - 2, result.center[1] + 3)
    assert result.chi2.min() == pytest.approx(0.0, abs=1e-9)
    assert np.isscalar(result.term3)


def test_bad_error_pixels_get_no_weight():
    rng = np.random.default_rng(2)
    reference, moving = rng.normal(size=(8, 8)), rng.normal(size=(8, 8))
    error = np.ones((8, 8))
    error[1, 1], error[2, 2], error[3, 3] = 0.0, np.nan, -1.0
    weight = np.ones((8, 8))
    weight[1, 1] = weight[2, 2] = weight[3, 3] = 0.0
    result = chi2_map(reference, moving, error=error)
    np.testing.assert_allclose(result.chi2, brute_force(reference, moving, weight, "wrap"))


def test_zero_mean_and_read_only_inputs():
    rng = np.random.default_rng(3)
    reference, moving = rng.normal(size=(8, 8)) + 5, rng.normal(size=(8, 8)) - 2
    reference.setflags(write=False)
    moving.setflags(write=False)
    result = chi2_map(reference, moving, zero_mean=True)
    expected = chi2_map(reference - reference.mean(), moving - moving.mean())
    np.testing.assert_allclose(result.chi2, expected.chi2)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"boundary": "mirror"}, ValueError, "boundary"),
        ({"error": 0.0}, ValueError, "positive"),
        ({"error": np.ones((2, 2))}, ValueError, "error has shape"),
    ],
)
def test_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        chi2_map(np.ones((4, 4)), np.ones((4, 4)), **kwargs)
    with pytest.raises(ValueError, match="shape"):
        chi2_map(np.ones((4, 4)), np.ones((4, 5)))


def test_slice_covariance_has_the_delta_chi2_of_the_slice_through_the_minimum():
    # chi2 = x^T C^-1 x for a Gaussian; on the slice where the leading components stay
    # at the minimum (0), its delta-chi2 at y must be y^T S^-1 y with S the slice's covariance.
    from napari_imreg.core import slice_covariance

    rng = np.random.default_rng(7)
    root = rng.standard_normal((3, 3))
    covariance = root @ root.T + 0.1 * np.eye(3)
    slice_cov = slice_covariance(covariance)
    inverse = np.linalg.inv(covariance)
    for y in rng.standard_normal((5, 2)):
        point = np.concatenate([[0.0], y])
        assert point @ inverse @ point == pytest.approx(y @ np.linalg.solve(slice_cov, y))
    # The slice is narrower than the marginal wherever the components correlate.
    assert np.all(np.diag(slice_cov) <= np.diag(covariance)[1:] + 1e-12)
    assert slice_covariance(np.zeros((3, 3))) is None
