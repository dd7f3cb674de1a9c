"""Iterative Fourier zoom onto an extremum."""

import numpy as np
import pytest

from napari_imreg.core._iterative_zoom import zoom_to_extremum


def bowl(shape, centre):
    grids = np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij")
    return sum(
        1 - np.cos(2 * np.pi * (g - c) / n) for g, c, n in zip(grids, centre, shape, strict=True)
    )


@pytest.mark.parametrize(
    ("shape", "centre"),
    [((40,), (27.25,)), ((32, 33), (10.3, 20.71)), ((12, 14, 16), (3.2, 7.5, 9.9))],
)
@pytest.mark.parametrize("find", ["min", "max"])
def test_finds_the_extremum(shape, centre, find):
    data = bowl(shape, centre)
    if find == "max":
        data = -data
    result = zoom_to_extremum(data, min_difference=1e-10, find=find)
    np.testing.assert_allclose(result.position, centre, atol=2e-3)
    np.testing.assert_allclose(result.offset, result.position - (np.array(shape) - 1) / 2)
    assert result.zoomed.shape == (10,) * len(shape)
    assert result.zoom == 2.0**result.steps


def test_no_zoom_needed_when_already_resolved():
    result = zoom_to_extremum(bowl((16,), (4.0,)), min_difference=10.0)
    assert result.steps == 0
    assert result.position[0] == 4.0


def test_input_untouched():
    data = bowl((16, 16), (3.3, 4.4))
    data.setflags(write=False)
    zoom_to_extremum(data)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_difference": 0}, "min_difference"),
        ({"zoom_step": 1}, "zoom_step"),
        ({"zoom_shape": 1}, "zoom_shape"),
        ({"find": "median"}, "find"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        zoom_to_extremum(np.arange(8.0), **kwargs)
    with pytest.raises(ValueError, match="NaN"):
        zoom_to_extremum(np.array([1.0, np.nan, 2.0]))
