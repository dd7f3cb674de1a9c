"""Units don't matter (issue 13, item 4): the same real pair in any unit gives the
same shift and error, and errors too small or too large to square say so."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from napari_imreg.core import register

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import hostile_pairs


@pytest.fixture(scope="module")
def pair():
    return hostile_pairs.make_pair("camera", "clean", rng=np.random.default_rng(5))


@pytest.fixture(scope="module")
def baseline(pair):
    return register(pair.reference, pair.moving)


@pytest.mark.parametrize("factor", [1e-30, 1e-26, 1e-12, 1e16, 1e21, 1e30])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_units_give_the_same_shift_and_error(pair, baseline, factor, dtype):
    result = register(
        (pair.reference * factor).astype(dtype), (pair.moving * factor).astype(dtype)
    )
    np.testing.assert_allclose(result.shift, baseline.shift, atol=0.01 * baseline.error.min())
    np.testing.assert_allclose(result.error, baseline.error, rtol=0.01)
    assert result.noise == pytest.approx(baseline.noise * factor, rel=0.01)


@pytest.mark.parametrize("factor", [1e-30, 1e30])
def test_units_with_errors_given(pair, factor):
    noise = 0.03 * float(np.std(pair.reference))
    given = register(pair.reference, pair.moving, error=noise, reference_error=noise)
    scaled = register(
        pair.reference * factor,
        pair.moving * factor,
        error=noise * factor,
        reference_error=np.full(pair.reference.shape, noise * factor),
    )
    np.testing.assert_allclose(scaled.shift, given.shift, atol=0.01 * given.error.min())
    np.testing.assert_allclose(scaled.error, given.error, rtol=0.01)


@pytest.mark.parametrize("error", [1e-300, 1e300])
def test_errors_beyond_double_precision_say_so(pair, error):
    with pytest.raises(ValueError, match=r"error spans .* the data's unit"):
        register(pair.reference, pair.moving, error=error)


@pytest.mark.parametrize("factor", [1e-7, 1e7])
def test_a_moving_image_in_other_units_than_the_reference(pair, baseline, factor):
    # The gain is fitted: a moving image 1e-7 of the reference's brightness (counts
    # against a calibrated flux) is the same pair. Its centred power was judged
    # against the reference's and taken for flat: every such pair was unmeasured.
    result = register(pair.reference, pair.moving * factor)
    assert result.measured
    np.testing.assert_allclose(result.shift, baseline.shift, atol=0.01 * baseline.error.min())
    np.testing.assert_allclose(result.error, baseline.error, rtol=0.02)
    assert result.scale == pytest.approx(baseline.scale / factor, rel=1e-6)
