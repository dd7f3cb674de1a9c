"""register_stack, iter_register_stack and apply_shifts against known drifts.

The truth is built independently of the registration: each frame is the same
synthetic image moved by a known drift (``make_shifted``), plus noise.
"""

from __future__ import annotations

import warnings

import dask
import dask.array as da
import numpy as np
import pytest
from dask.callbacks import Callback

from napari_imreg.core import (
    RegistrationWarning,
    StackResult,
    apply_shift,
    apply_shifts,
    iter_register_stack,
    make_extended,
    make_shifted,
    register,
    register_stack,
)

NOISE = 0.05


def _drift(frames: int, ndim: int, seed: int, step: float = 0.6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    drift = np.cumsum(rng.normal(0.0, step, (frames, ndim)), axis=0)
    return drift - drift[0]


def _stack(shape, drift, *, seed=0, noise=NOISE, dtype=np.float64):
    image = make_extended(shape, seed=seed)
    frames = [make_shifted(image, d, noise=noise, seed=seed + 1 + i) for i, d in enumerate(drift)]
    return image, np.stack(frames).astype(dtype)


def _assert_within(measured, truth, errors, *, sigmas=5.0, floor=1e-6):
    deviation = np.abs(np.asarray(measured) - truth)
    assert np.all(deviation <= sigmas * np.asarray(errors) + floor), (deviation, errors)


class _CountTasks(Callback):
    def __init__(self):
        super().__init__()
        self.count = 0

    def _posttask(self, key, result, dsk, state, worker_id):
        self.count += 1


# ------------------------------------------------------------------ known drifts


@pytest.mark.parametrize("boundary", ["wrap", "overlap"])
@pytest.mark.parametrize("reference", [0, 4, -1])
def test_frame_reference_recovers_known_drift(boundary, reference):
    drift = _drift(7, 2, seed=1)
    _, stack = _stack((96, 80), drift)
    result = register_stack(stack, reference=reference, boundary=boundary)
    index = reference % len(drift)
    truth = drift - drift[index]
    assert isinstance(result, StackResult)
    assert result.shifts.shape == result.errors.shape == (7, 2)
    assert result.chi2.shape == result.dof.shape == result.noise.shape == (7,)
    _assert_within(result.shifts, truth, np.maximum(result.errors, 1e-3))
    # The reference frame is the reference: zero by definition.
    assert np.all(result.shifts[index] == 0)
    assert np.all(result.errors[index] == 0)
    others = np.delete(np.arange(7), index)
    assert np.all(result.errors[others] > 0)
    assert result.reference == index
    assert result.boundary == boundary


def test_previous_accumulates_drift_and_propagates_errors():
    drift = _drift(9, 2, seed=2)
    _, stack = _stack(96, drift)
    result = register_stack(stack, reference="previous", boundary="wrap")
    _assert_within(result.shifts, drift, np.maximum(result.errors, 1e-3))
    # Each step is its own registration of neighbours, both ways: the drift adds the
    # steps up, and their variances (each the mean of the two ways').
    forward = [register(stack[i - 1], stack[i], boundary="wrap") for i in range(1, len(stack))]
    reverse = [register(stack[i], stack[i - 1], boundary="wrap") for i in range(1, len(stack))]
    pairs = list(zip(forward, reverse, strict=True))
    steps = np.array([(f.shift - r.shift) / 2 for f, r in pairs])
    variances = np.array([(np.square(f.error) + np.square(r.error)) / 2 for f, r in pairs])
    np.testing.assert_allclose(result.shifts[1:], np.cumsum(steps, axis=0), atol=1e-12)
    expected = np.vstack([np.zeros(2), np.sqrt(np.cumsum(variances, axis=0))])
    np.testing.assert_allclose(result.errors, expected, rtol=1e-9)
    assert np.all(np.diff(result.errors, axis=0) > 0)


def test_mean_reference_measures_drift_about_the_mean():
    drift = _drift(8, 2, seed=3, step=0.3)
    _, stack = _stack(96, drift)
    result = register_stack(stack, reference="mean", boundary="wrap")
    # The mean frame sits near the mean drift (blurred): compare drifts about the mean.
    measured = result.shifts - result.shifts.mean(axis=0)
    np.testing.assert_allclose(measured, drift - drift.mean(axis=0), atol=0.05)
    assert np.all(result.errors > 0)


def _real_drift_stack(scene: str, frames: int = 12, reach: int = 8):
    """Frames of a real scene (64² binned 4x4, SNR 30) whose windows drift by up to
    ``reach`` full-resolution pixels (2 binned): exact shifts, frame 0 at zero."""
    from napari_imreg.core._binned_pairs import load_scene, make_binned_pair

    image = load_scene(scene)
    rng = np.random.default_rng(3)
    stack, truth = [], [np.zeros(2)]
    for k in range(frames - 1):
        move = rng.integers(-reach, reach + 1, size=2)
        pair = make_binned_pair(image, (64, 64), move, rng=k, snr=30, start=(40, 40))
        stack.extend([pair.reference] if k == 0 else [])
        stack.append(pair.moving)
        truth.append(pair.shift)
    return np.stack(stack), np.array(truth)


@pytest.mark.parametrize("scene", ["moon", "brick"])
def test_mean_reference_is_as_sharp_as_one_frame_on_a_drifting_real_stack(scene):
    """The plain mean of frames drifting by 2 px is blurred, and frames registered onto
    it were 0.04-0.05 px off (6-10x the first frame's scatter). Onto the mean of the
    frames moved by those shifts, the drift about its mean is as accurate as onto
    the first frame, within the errors."""
    stack, truth = _real_drift_stack(scene)
    onto_mean = register_stack(stack, reference="mean")
    onto_first = register_stack(stack, reference=0)
    off = onto_mean.shifts - truth
    off -= off.mean(axis=0)
    first_off = (onto_first.shifts - truth)[1:]
    rms = np.sqrt(np.mean(off**2))
    assert rms < 1.5 * np.sqrt(np.mean(first_off**2)) + 0.003
    assert np.all(np.abs(off) < 4 * onto_mean.errors)


def test_array_reference_and_agreement_with_pair_registration():
    drift = _drift(5, 2, seed=4)
    image, stack = _stack(64, drift)
    result = register_stack(stack, reference=image, boundary="overlap", error=NOISE)
    for index, frame in enumerate(stack):
        pair = register(image, frame, boundary="overlap", error=NOISE, reference_error=NOISE)
        np.testing.assert_allclose(result.shifts[index], pair.shift, atol=1e-9)
        np.testing.assert_allclose(result.errors[index], pair.error, rtol=1e-9)
    assert result.noise is None
    assert result.reference == "array"


def _crops(frames: int, size: int, seed: int):
    """A non-periodic stack: ``size``² crops of a larger scene, drifting, with noise."""
    drift = _drift(frames, 2, seed=seed, step=1.5)
    scene = make_extended(size + 128, seed=seed)
    inner = slice(64, 64 + size)
    shifted = [make_shifted(scene, d, noise=NOISE, seed=seed + 1 + i) for i, d in enumerate(drift)]
    return drift, np.stack([frame[inner, inner] for frame in shifted])


@pytest.mark.parametrize("how", ["threads", "dask", "iterator"])
def test_default_mode_frames_equal_pair_registrations(how):
    """The default mode (overlap chosen, noise unknown, binned search, noise windows,
    outliers, residual errors): each frame's result is that of ``register(reference,
    frame)``, whatever the reference's work kept between frames (issue 15)."""
    drift, stack = _crops(5, 256, seed=21)
    if how == "iterator":
        results = [r for _, r in iter_register_stack(stack, num_workers=2)]
        shifts, errors = [r.shift for r in results], [r.error for r in results]
        assert {r.boundary for r in results[1:]} == {"overlap"}
    else:
        data = da.from_array(stack, chunks=(2, -1, -1)) if how == "dask" else stack
        result = register_stack(data, num_workers=2)
        shifts, errors = np.asarray(result.shifts), np.asarray(result.errors)
        assert result.boundary == "overlap"
    for index in range(1, len(stack)):
        pair = register(stack[0], stack[index])
        np.testing.assert_allclose(shifts[index], pair.shift, rtol=0, atol=1e-12)
        np.testing.assert_allclose(errors[index], pair.error, rtol=1e-12)
        if how == "iterator":
            ours, theirs = results[index].significance, pair.significance
            assert (ours.z, ours.p_value, ours.n_eff) == (theirs.z, theirs.p_value, theirs.n_eff)
    _assert_within(shifts, drift, errors, floor=0.02)


def test_volumes():
    drift = _drift(4, 3, seed=5, step=0.8)
    _, stack = _stack((20, 24, 28), drift)
    result = register_stack(stack, boundary="wrap")
    assert result.shifts.shape == (4, 3)
    _assert_within(result.shifts, drift, np.maximum(result.errors, 1e-3))


def test_frame_axis_anywhere():
    drift = _drift(5, 2, seed=6)
    _, stack = _stack(64, drift)
    first = register_stack(stack, boundary="wrap")
    last = register_stack(np.moveaxis(stack, 0, -1), axis=-1, boundary="wrap")
    np.testing.assert_allclose(last.shifts, first.shifts, atol=1e-12)
    assert last.axis == 2


def test_per_frame_error_maps_and_float32_input():
    drift = _drift(4, 2, seed=7)
    _, stack = _stack(64, drift, dtype=np.float32)
    errors = np.full(stack.shape, NOISE)
    errors[2] *= 2.0  # one noisier frame: its error must grow accordingly
    result = register_stack(stack, error=errors, boundary="wrap")
    pair = register(
        stack[0], stack[2], error=errors[2], reference_error=errors[0], boundary="wrap"
    )
    np.testing.assert_allclose(result.shifts[2], pair.shift, atol=1e-9)
    np.testing.assert_allclose(result.errors[2], pair.error, rtol=1e-9)
    assert np.all(result.errors[2] > result.errors[1])


def test_errors_are_calibrated_over_noise_realisations():
    """The spread of the measured drift over noise draws matches the reported 1-sigma."""
    image = make_extended(64, seed=11)
    truth = np.array([0.37, -1.21])
    frames = [image] + [make_shifted(image, truth, noise=0.1, seed=100 + i) for i in range(60)]
    noisy_reference = make_shifted(image, (0, 0), noise=0.1, seed=99)
    frames[0] = noisy_reference
    result = register_stack(np.stack(frames), boundary="wrap", error=0.1)
    pulls = (result.shifts[1:] - truth) / result.errors[1:]
    # Shared reference noise makes the frames' errors correlated; the spread of
    # the pulls about their mean is the per-frame (moving-noise) part.
    assert 0.4 < np.std(pulls) < 1.3


def test_input_is_not_modified_and_read_only_input_works():
    drift = _drift(4, 2, seed=8)
    _, stack = _stack(48, drift)
    copy = stack.copy()
    stack.setflags(write=False)
    register_stack(stack, boundary="wrap")
    apply_shifts(stack, np.zeros((4, 2)))
    np.testing.assert_array_equal(stack, copy)


# ------------------------------------------------------------------------ dask


@pytest.mark.parametrize("reference", [1, "mean", "previous"])
def test_dask_input_is_lazy_and_matches_numpy(reference):
    drift = _drift(9, 2, seed=9)
    _, stack = _stack(64, drift)
    reads = []

    def counted(block):
        reads.append(block.shape[0])
        return block

    lazy_stack = da.from_array(stack, chunks=(2, 32, 64)).map_blocks(
        counted, meta=np.empty((0, 0, 0))
    )
    with _CountTasks() as tasks:
        result = register_stack(lazy_stack, reference=reference, boundary="wrap")
    assert tasks.count == 0
    assert reads == []
    assert result.is_lazy
    assert isinstance(result.shifts, da.Array)
    assert result.shifts.shape == (9, 2)
    computed = result.compute(scheduler="threads")
    eager = register_stack(stack, reference=reference, boundary="wrap")
    for name in ("shifts", "errors", "chi2", "dof", "noise"):
        np.testing.assert_allclose(getattr(computed, name), getattr(eager, name), rtol=1e-10)
    assert not computed.is_lazy


def test_dask_error_maps_and_reference_array():
    drift = _drift(6, 2, seed=10)
    image, stack = _stack(48, drift)
    errors = np.full(stack.shape, NOISE)
    eager = register_stack(stack, reference="mean", error=errors, boundary="wrap")
    lazy = register_stack(
        da.from_array(stack, chunks=(2, 48, 48)),
        reference="mean",
        error=da.from_array(errors, chunks=(3, 48, 48)),
        boundary="wrap",
    ).compute()
    np.testing.assert_allclose(lazy.shifts, eager.shifts, atol=1e-10)
    np.testing.assert_allclose(lazy.errors, eager.errors, rtol=1e-10)
    with_array = register_stack(
        da.from_array(stack, chunks=(4, 48, 48)), reference=da.from_array(image), boundary="wrap"
    )
    assert with_array.is_lazy
    _assert_within(with_array.compute().shifts, drift, 1e-2)


def test_local_cluster():
    distributed = pytest.importorskip("distributed")
    drift = _drift(6, 2, seed=12)
    _, stack = _stack(48, drift)
    lazy = register_stack(da.from_array(stack, chunks=(2, 48, 48)), boundary="wrap")
    eager = register_stack(stack, boundary="wrap")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        computed = lazy.compute(scheduler=client)
        aligned = apply_shifts(
            da.from_array(stack, chunks=(2, 48, 48)), lazy.shifts, boundary="wrap"
        ).compute(scheduler=client)
    np.testing.assert_allclose(computed.shifts, eager.shifts, atol=1e-10)
    np.testing.assert_allclose(aligned[3], apply_shift(stack[3], eager.shifts[3], boundary="wrap"))


# ------------------------------------------------------------------ the iterator


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("reference", [0, 2, "mean", "previous"])
def test_iterator_matches_register_stack(reference, workers):
    """One worker or several (frames registered in threads, yielded in order)."""
    drift = _drift(5, 2, seed=13)
    _, stack = _stack(48, drift)
    whole = register_stack(stack, reference=reference, boundary="wrap")
    items = list(
        iter_register_stack(stack, reference=reference, boundary="wrap", num_workers=workers)
    )
    assert [index for index, _ in items] == list(range(5))
    np.testing.assert_allclose([r.shift for _, r in items], whole.shifts, atol=1e-10)
    np.testing.assert_allclose([r.error for _, r in items], whole.errors, rtol=1e-9)


@pytest.mark.parametrize("workers", [1, 2])
def test_iterator_reads_only_what_is_asked(workers):
    """Frames are read as they are asked for, the workers at most ``workers`` ahead."""
    drift = _drift(6, 2, seed=14)
    _, stack = _stack(48, drift)
    reads = []

    def counted(block):
        reads.append(block.shape[0])
        return block

    lazy = da.from_array(stack, chunks=(1, 48, 48)).map_blocks(counted, meta=np.empty((0, 0, 0)))
    iterator = iter_register_stack(lazy, boundary="wrap", num_workers=workers)
    assert reads == []
    first_two = [next(iterator), next(iterator)]
    assert [i for i, _ in first_two] == [0, 1]
    assert first_two[0][1].method == "reference"
    assert len(reads) <= 2 + workers
    iterator.close()  # abandoned: the workers' frames not started are dropped
    assert len(reads) <= 2 + workers


# ------------------------------------------------------------------ apply_shifts


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_apply_shifts_aligns_the_stack(dtype):
    drift = _drift(5, 2, seed=15)
    _image, stack = _stack(64, drift, noise=0.0, dtype=dtype)
    result = register_stack(stack, boundary="wrap")
    aligned = apply_shifts(stack, result, boundary="wrap")
    assert aligned.dtype == dtype
    assert aligned.shape == stack.shape
    tolerance = 1e-3 if dtype == np.float32 else 1e-6
    for frame in aligned:
        np.testing.assert_allclose(frame, stack[0], atol=tolerance)


def test_apply_shifts_is_lazy_for_dask():
    drift = _drift(4, 2, seed=16)
    _, stack = _stack(48, drift)
    result = register_stack(da.from_array(stack, chunks=(2, 48, 48)), boundary="wrap")
    with _CountTasks() as tasks:
        aligned = apply_shifts(da.from_array(stack, chunks=(2, 48, 48)), result.shifts)
    assert tasks.count == 0
    assert isinstance(aligned, da.Array)
    expected = [apply_shift(f, s) for f, s in zip(stack, result.compute().shifts, strict=True)]
    np.testing.assert_allclose(aligned.compute(), np.stack(expected), atol=1e-12)


@pytest.mark.parametrize("lazy", [False, True])
def test_apply_shifts_keeps_the_frames_around_one_that_was_not_measured(lazy):
    drift = _drift(4, 2, seed=17)
    _image, stack = _stack(48, drift, noise=0.0)
    stack[2] = np.nan  # a dropped frame: register_stack cannot measure it
    with pytest.warns(RegistrationWarning, match="frame 2 was not measured"):
        result = register_stack(stack, boundary="wrap")
    assert np.isnan(result.shifts[2]).all()
    frames = da.from_array(stack, chunks=(1, 48, 48)) if lazy else stack
    aligned = np.asarray(apply_shifts(frames, result, boundary="wrap"))
    assert np.isnan(aligned[2]).all()  # where that frame belongs is unknown
    for index in (0, 1, 3):
        np.testing.assert_allclose(aligned[index], stack[0], atol=1e-6)


def test_apply_shifts_on_another_axis():
    stack = np.zeros((1, 6, 2))
    stack[0, 2, :] = 1.0
    moved = apply_shifts(stack, [(0.0, 1.0), (0.0, -1.0)], axis=2, order=1)
    np.testing.assert_allclose(moved[0, :, 0], [0, 0, 0, 1, 0, 0])
    np.testing.assert_allclose(moved[0, :, 1], [0, 1, 0, 0, 0, 0])


# ------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"axis": 3}, ValueError, "axis=3 is out of range"),
        ({"axis": 1.5}, TypeError, "axis must be an integer"),
        ({"reference": 12}, ValueError, "reference=12 is not a frame"),
        ({"reference": "median"}, ValueError, "reference must be one of"),
        ({"reference": np.zeros((5, 5))}, ValueError, "reference has shape"),
        ({"reference": None}, TypeError, "reference must be a frame index"),
        ({"error": np.ones((3, 3))}, ValueError, "error has shape"),
        ({"error": -1.0}, ValueError, "error must be a positive"),
        ({"boundary": "reflect"}, ValueError, "boundary must be one of"),
        ({"upsample_factor": 0}, ValueError, "upsample_factor"),
        ({"max_shift": -2}, ValueError, "max_shift"),
        ({"num_workers": 0}, ValueError, "num_workers must be >= 1"),
    ],
)
def test_register_stack_rejects_bad_options(kwargs, error, match):
    stack = np.zeros((3, 16, 16))
    with pytest.raises(error, match=match):
        register_stack(stack, **kwargs)


@pytest.mark.parametrize(
    ("stack", "error", "match"),
    [
        (np.zeros((16, 16)), ValueError, "3 dimensions"),
        (np.zeros((2, 3, 4, 5, 6)), ValueError, "3 dimensions"),
        (np.zeros((2, 8, 8), dtype=complex), TypeError, "complex"),
        (da.zeros((2, 8, 8), dtype=complex), TypeError, "real numbers"),
        ("frames.tif", TypeError, "string"),
    ],
)
def test_register_stack_rejects_bad_stacks(stack, error, match):
    with pytest.raises(error, match=match):
        register_stack(stack)


@pytest.mark.parametrize(
    ("shifts", "kwargs", "match"),
    [
        (np.zeros((2, 2)), {}, r"shifts has shape \(2, 2\)"),
        (np.zeros((3, 3)), {}, "one row of 2 values"),
        (np.array([[0.0, 0.0], [np.nan, 1.0], [0.0, 0.0]]), {}, r"shifts\[1\] must be finite"),
        (np.array([[0.0, 0.0], [0.0, 0.0], [np.inf, np.inf]]), {}, r"shifts\[2\] must be finite"),
        (np.zeros((3, 2)), {"order": 7}, "order must be an integer"),
        (np.zeros((3, 2)), {"boundary": "edge"}, "boundary must be one of"),
    ],
)
def test_apply_shifts_rejects_bad_input(shifts, kwargs, match):
    with pytest.raises(ValueError, match=match):
        apply_shifts(np.zeros((3, 8, 8)), shifts, **kwargs)


def test_single_frame_stack():
    stack = make_extended(32, seed=3)[None]
    result = register_stack(stack, reference="previous")
    assert result.shifts.shape == (1, 2)
    assert np.all(result.shifts == 0)
    lazy = register_stack(da.from_array(stack), reference="previous").compute()
    assert np.all(lazy.shifts == 0)


def test_compute_is_one_pass():
    drift = _drift(6, 2, seed=17)
    _, stack = _stack(48, drift)
    calls = []

    def counted(block):
        calls.append(1)
        return block

    lazy = da.from_array(stack, chunks=(3, 48, 48)).map_blocks(counted, meta=np.empty((0, 0, 0)))
    result = register_stack(lazy, boundary="wrap")
    with dask.config.set(scheduler="sync"):
        result.compute()
    assert len(calls) == 2  # each chunk read once for shifts, errors, chi2, dof and noise


def _stack_with_a_blank_frame(blank: int = 3):
    image = make_extended(48, seed=4)
    drift = [(0.3 * i, -0.2 * i) for i in range(6)]
    stack = np.stack([make_shifted(image, d, noise=0.01, seed=i) for i, d in enumerate(drift)])
    stack[blank] = np.nan
    return stack, np.array(drift)


def _the_warning_names_the_frame(record, blank: int) -> None:
    messages = [w for w in record if issubclass(w.category, RegistrationWarning)]
    assert len(messages) == 1
    assert f"frame {blank} was not measured" in str(messages[0].message)
    assert messages[0].filename == __file__  # at the caller, not inside the core


def _check_blank_frame(shifts, errors, drift, blank, *, relative=False) -> None:
    """Only the blank frame is lost: with ``"previous"`` the frame after it is registered
    onto the one before it (the drift went on from there)."""
    lost = np.arange(len(drift)) == blank
    assert np.isnan(shifts[lost]).all()
    assert np.isinf(errors[lost]).all()
    kept, truth = shifts[~lost], drift[~lost]
    if relative:  # against the mean frame, only the differences between frames are known
        kept, truth = kept - kept[0], truth - truth[0]
    np.testing.assert_allclose(kept, truth, atol=0.02)
    assert np.isfinite(errors[~lost]).all()


@pytest.mark.parametrize("reference", [0, 5, "previous", "mean"])
@pytest.mark.parametrize("lazy", [False, True])
def test_a_frame_with_no_valid_pixel_is_reported_and_the_others_kept(reference, lazy):
    stack, drift = _stack_with_a_blank_frame()
    if reference == 5:
        drift = drift - drift[5]
    relative = reference == "mean"  # the mean frame sits near the mean drift
    source = da.from_array(stack, chunks=(2, 48, 48)) if lazy else stack
    with pytest.warns(RegistrationWarning) as record:
        result = register_stack(source, reference=reference).compute()
    _the_warning_names_the_frame(record, 3)
    _check_blank_frame(result.shifts, result.errors, drift, 3, relative=relative)


@pytest.mark.parametrize("reference", [0, "previous", "mean"])
def test_the_iterator_reports_a_frame_with_no_valid_pixel(reference):
    stack, drift = _stack_with_a_blank_frame()

    with pytest.warns(RegistrationWarning) as record:
        results = [result for _, result in iter_register_stack(stack, reference=reference)]
    _the_warning_names_the_frame(record, 3)
    shifts = np.array([r.shift for r in results])
    errors = np.array([r.error for r in results])
    _check_blank_frame(shifts, errors, drift, 3, relative=reference == "mean")
    assert results[3].method == "unmeasured"


@pytest.mark.parametrize("path", ["numpy", "dask", "iterator"])
def test_previous_bridges_the_drift_over_dropped_frames(path):
    """Two dropped frames of zeros in a real drifting stack: each later frame is
    registered onto the last frame whose drift is known, so only the dropped frames
    are lost (every later drift used to be NaN), and the later drifts are right."""
    stack, truth = _real_drift_stack("moon", frames=9, reach=6)
    stack[[3, 6]] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RegistrationWarning)
        if path == "iterator":
            results = [r for _, r in iter_register_stack(stack, reference="previous")]
            shifts = np.array([r.shift for r in results])
            errors = np.array([r.error for r in results])
        else:
            source = da.from_array(stack, chunks=(2, 64, 64)) if path == "dask" else stack
            result = register_stack(source, reference="previous").compute()
            shifts, errors = np.asarray(result.shifts), np.asarray(result.errors)
    lost = np.isin(np.arange(len(stack)), [3, 6])
    assert np.isnan(shifts[lost]).all()
    assert np.isinf(errors[lost]).all()
    assert np.all(np.abs(shifts[~lost] - truth[~lost]) <= 4 * errors[~lost] + 1e-12)


def test_a_blank_first_frame_is_named_with_previous_and_the_drift_starts_after_it():
    stack, drift = _stack_with_a_blank_frame(blank=0)
    with pytest.warns(RegistrationWarning) as record:
        result = register_stack(stack, reference="previous")
    said = [str(warning.message) for warning in record]
    assert any("frame 0 was not measured" in message for message in said)
    assert any("the drifts are measured from frame 1" in message for message in said)
    np.testing.assert_array_equal(result.shifts[1], 0.0)
    _check_blank_frame(result.shifts, result.errors, drift - drift[1], blank=0)
