"""Masks in register_stack and iter_register_stack, on real crop-and-bin frames.

Each frame is a window of a real scene moved by a known whole number of
full-resolution pixels and binned 4x4, so the drift is known exactly. A bright
region fixed on the detector and hot pixels that differ from frame to frame pull
the answer towards the detector's frame when they are not masked; masked, the
drift is that of the clean scene. The core's outlier stage is off here: it would
set the hot pixels aside by itself.
"""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest

from napari_imreg.core import RegistrationWarning, iter_register_stack, register_stack
from napari_imreg.core._binned_pairs import bin_image, load_scene

FRAMES, SIZE, BIN = 6, 64, 4


@pytest.fixture(scope="module")
def drifting():
    """A clean stack of a real scene, its true positions (binned px) and its std."""
    rng = np.random.default_rng(0)
    scene = load_scene("camera")
    walk = np.cumsum(rng.integers(-5, 6, size=(FRAMES, 2)), axis=0)
    walk -= walk[0]
    side = SIZE * BIN
    corner = [(n - side) // 2 for n in scene.shape]
    stack = np.stack(
        [
            bin_image(
                scene[corner[0] + dy : corner[0] + dy + side, corner[1] + dx :][:, :side], BIN
            )
            for dy, dx in walk
        ]
    )
    std = float(stack[0].std())
    stack = stack + rng.normal(0.0, 0.03 * std, stack.shape)
    return stack, walk / BIN, std


@pytest.fixture(scope="module")
def contaminated(drifting):
    """The stack with a bright region fixed on the detector and hot pixels in each
    frame; the mask of the region, and the masks of each frame (region and hot pixels)."""
    stack, truth, std = drifting
    region = np.zeros(stack.shape[1:], dtype=bool)
    region[20:30, 34:44] = True
    hot = np.zeros(stack.shape, dtype=bool)
    rng = np.random.default_rng(5)
    for frame in hot:
        frame[tuple(rng.integers(0, SIZE, size=(2, 12)))] = True
    bad = stack.copy()
    bad[:, region] += 20 * std
    bad[hot] += 50 * std
    return bad, truth, region, hot | region


def _relative(shifts, truth):
    """Each frame's drift from frame 0, measured and true: independent of the reference."""
    return np.abs((shifts - shifts[0]) - (truth - truth[0])).max()


def _quiet(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RegistrationWarning)
        return register_stack(outliers=False, **kwargs)


@pytest.mark.parametrize("reference", [0, 3, "mean", "previous"])
def test_a_mask_per_frame_keeps_contamination_from_moving_the_drift(
    drifting, contaminated, reference
):
    stack, truth, _, masks = contaminated
    unmasked = _quiet(stack=stack, reference=reference)
    masked = _quiet(stack=stack, reference=reference, mask=masks)
    clean = _quiet(stack=drifting[0], reference=reference)
    assert _relative(unmasked.shifts, truth) > 0.5  # the contamination moves it
    # As the clean stack, within the errors. The mean frame's own place depends on the
    # pixels averaged: against it, compare the drifts about their mean.
    here, there = masked.shifts, clean.shifts
    if reference == "mean":
        here, there = here - here.mean(axis=0), there - there.mean(axis=0)
    assert np.all(np.abs(here - there) <= np.maximum(masked.errors, 0.02))
    if reference != "mean":  # the mean frame's own position is not known exactly
        assert _relative(masked.shifts, truth) < 0.1
        exact = truth - (truth[reference] if isinstance(reference, int) else truth[0])
        deviation = np.abs(masked.shifts - exact)
        assert np.all(deviation <= 5 * masked.errors + 1e-9)


@pytest.mark.parametrize("reference", [1, "mean", "previous"])
def test_one_mask_for_every_frame(drifting, reference):
    stack, truth, std = drifting
    region = np.zeros(stack.shape[1:], dtype=bool)
    region[8:40, 40:52] = True
    bad = stack.copy()
    bad[:, region] += 20 * std
    assert _relative(_quiet(stack=bad, reference=reference).shifts, truth) > 0.5
    masked = _quiet(stack=bad, reference=reference, mask=region)
    assert _relative(masked.shifts, truth) < (0.2 if reference == "mean" else 0.1)


@pytest.mark.parametrize("reference", [0, "mean", "previous"])
def test_dask_masks_are_lazy_and_match_numpy(contaminated, reference):
    stack, _, _, masks = contaminated
    eager = _quiet(stack=stack, reference=reference, mask=masks)
    reads = []

    def counted(block):
        reads.append(block.shape[0])
        return block

    lazy_masks = da.from_array(masks, chunks=(3, -1, -1)).map_blocks(
        counted, meta=np.empty((0, 0, 0), dtype=bool)
    )
    lazy = _quiet(
        stack=da.from_array(stack, chunks=(2, -1, -1)), reference=reference, mask=lazy_masks
    )
    assert isinstance(lazy.shifts, da.Array)
    assert reads == []  # nothing read until computed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RegistrationWarning)
        shifts, errors = lazy.shifts.compute(), lazy.errors.compute()
    np.testing.assert_allclose(shifts, eager.shifts, atol=1e-9)
    np.testing.assert_allclose(errors, eager.errors, rtol=1e-9)


@pytest.mark.parametrize("reference", [2, "mean", "previous"])
def test_the_iterator_masks_as_register_stack_does(contaminated, reference):
    stack, _, _, masks = contaminated
    whole = _quiet(stack=stack, reference=reference, mask=masks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RegistrationWarning)
        items = list(iter_register_stack(stack, reference=reference, mask=masks, outliers=False))
    np.testing.assert_allclose([r.shift for _, r in items], whole.shifts, atol=1e-9)


def test_a_mask_stack_along_another_axis(contaminated):
    stack, _, _, masks = contaminated
    first = _quiet(stack=stack, mask=masks)
    last = _quiet(stack=np.moveaxis(stack, 0, -1), axis=-1, mask=np.moveaxis(masks, 0, -1))
    np.testing.assert_allclose(last.shifts, first.shifts, atol=1e-9)


def test_a_reference_mask_for_a_given_reference(contaminated):
    """As in register, (reference_mask, mask) masks the reference by its own mask."""
    stack, truth, region, masks = contaminated
    reference = stack[0].copy()
    unmasked_reference = _quiet(stack=stack, reference=reference, mask=masks)
    paired = _quiet(stack=stack, reference=reference, mask=(region | masks[0], masks))
    assert _relative(unmasked_reference.shifts, truth) > 0.1
    assert _relative(paired.shifts, truth) < 0.1


def test_a_fully_masked_frame_is_reported_and_the_others_kept(contaminated):
    stack, truth, _, masks = contaminated
    masks = masks.copy()
    masks[4] = True
    with pytest.warns(RegistrationWarning, match="frame 4 was not measured"):
        result = register_stack(stack, mask=masks, outliers=False)
    assert np.all(np.isnan(result.shifts[4]))
    kept = [0, 1, 2, 3, 5]
    assert _relative(result.shifts[kept], truth[kept]) < 0.1


def test_input_masks_are_not_modified(contaminated):
    stack, _, _, masks = contaminated
    masks = masks.copy()
    masks.setflags(write=False)
    before = masks.copy()
    _quiet(stack=stack, reference="mean", mask=masks)
    np.testing.assert_array_equal(masks, before)


@pytest.mark.parametrize(
    ("mask", "kwargs", "error", "match"),
    [
        (np.zeros((64, 64)), {}, TypeError, "mask must be a boolean"),
        (da.zeros((6, 64, 64)), {}, TypeError, "mask must be a boolean dask"),
        (np.zeros((32, 64), dtype=bool), {}, ValueError, r"mask has shape \(32, 64\)"),
        (np.zeros((5, 64, 64), dtype=bool), {}, ValueError, "one frame .* or the stack"),
        (
            (np.zeros((64, 64), dtype=bool), np.zeros((64, 64), dtype=bool)),
            {"reference": "previous"},
            ValueError,
            "does not apply to reference='previous'",
        ),
        ((np.zeros((6, 64, 64), dtype=bool), None), {}, ValueError, r"mask\[0\] has shape"),
    ],
)
def test_bad_masks_are_refused(mask, kwargs, error, match):
    stack = np.zeros((6, 64, 64))
    with pytest.raises(error, match=match):
        register_stack(stack, mask=mask, **kwargs)
    with pytest.raises(error, match=match):
        iter_register_stack(stack, mask=mask, **kwargs)
