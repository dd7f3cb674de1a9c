"""The FFT backend against numpy.fft: values, padding, untouched inputs, threads, fast shapes."""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from threadpoolctl import ThreadpoolController

from napari_imreg.core import _fft
from napari_imreg.core._stack import check_workers

SHAPES = [(16,), (15,), (8, 6), (7, 9), (4, 5, 6)]


def _atol(expected, dtype=np.float64) -> float:
    # FFT round-off grows like eps * log2(n) times the largest value.
    eps = np.finfo(dtype).eps
    return 50 * eps * max(float(np.abs(expected).max()), 1.0)


def _axes(shape):
    return tuple(range(len(shape)))


def _mixed(shape):
    return (shape[0] - 2, *(n + 2 for n in shape[1:]))


def _padded(shape):
    return tuple(n + 3 for n in shape)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("pad", ["none", "larger", "mixed"])
def test_rfftn_and_fftn_match_numpy(shape, pad):
    rng = np.random.default_rng(0)
    real = rng.standard_normal(shape)
    cplx = real + 1j * rng.standard_normal(shape)
    # "mixed": the first axis is cropped, the others zero-padded (numpy's meaning of s).
    s = {"none": None, "larger": _padded(shape), "mixed": _mixed(shape)}[pad]
    expected = np.fft.rfftn(real, s=s, axes=_axes(shape))
    np.testing.assert_allclose(_fft.rfftn(real, s=s), expected, rtol=0, atol=_atol(expected))
    expected = np.fft.fftn(cplx, s=s, axes=_axes(shape))
    np.testing.assert_allclose(_fft.fftn(cplx, s=s), expected, rtol=0, atol=_atol(expected))
    expected = np.fft.ifftn(cplx, s=s, axes=_axes(shape))
    np.testing.assert_allclose(_fft.ifftn(cplx, s=s), expected, rtol=0, atol=_atol(expected))


@pytest.mark.parametrize("shape", SHAPES)
def test_irfftn_with_another_output_shape(shape):
    # The spectrum of one shape inverted onto another: numpy pads or crops it.
    rng = np.random.default_rng(8)
    spectrum = np.fft.rfftn(rng.standard_normal(shape), axes=_axes(shape))
    for s in (_padded(shape), _mixed(shape)):
        expected = np.fft.irfftn(spectrum, s=s, axes=_axes(shape))
        np.testing.assert_allclose(
            _fft.irfftn(spectrum, s=s), expected, rtol=0, atol=_atol(expected)
        )


@pytest.mark.parametrize("shape", SHAPES)
def test_irfftn_matches_numpy_and_inverts_rfftn(shape):
    rng = np.random.default_rng(1)
    real = rng.standard_normal(shape)
    spectrum = np.fft.rfftn(real)
    out = _fft.irfftn(spectrum, s=shape)
    np.testing.assert_allclose(
        out, np.fft.irfftn(spectrum, s=shape, axes=_axes(shape)), rtol=0, atol=_atol(real)
    )
    np.testing.assert_allclose(out, real, rtol=0, atol=_atol(real))
    padded = _padded(shape)
    spectrum = _fft.rfftn(real, s=padded)
    np.testing.assert_allclose(
        _fft.irfftn(spectrum, s=padded),
        np.fft.irfftn(
            np.fft.rfftn(real, s=padded, axes=_axes(shape)), s=padded, axes=_axes(shape)
        ),
        rtol=0,
        atol=_atol(real),
    )


def test_dtypes_follow_the_input():
    real32 = np.random.default_rng(2).standard_normal((6, 8)).astype(np.float32)
    spectrum = _fft.rfftn(real32)
    assert spectrum.dtype == np.complex64
    assert _fft.irfftn(spectrum, s=real32.shape).dtype == np.float32
    np.testing.assert_allclose(
        spectrum, np.fft.rfftn(real32), rtol=0, atol=_atol(spectrum, np.float32)
    )
    # Integers compute in float64.
    ints = np.arange(12).reshape(3, 4)
    assert _fft.rfftn(ints).dtype == np.complex128
    np.testing.assert_allclose(_fft.rfftn(ints), np.fft.rfftn(ints), rtol=0, atol=1e-12)


@pytest.mark.parametrize("func", ["rfftn", "irfftn", "fftn", "ifftn"])
def test_inputs_are_not_modified(func):
    rng = np.random.default_rng(3)
    shape = (12, 10)
    if func == "rfftn":
        data = rng.standard_normal(shape)
        kwargs = {}
    else:
        # A complex-to-real FFTW transform may overwrite its input: check it does not.
        data = (
            np.fft.rfftn(rng.standard_normal(shape))
            if func == "irfftn"
            else (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))
        )
        kwargs = {"s": shape} if func == "irfftn" else {}
    original = data.copy()
    readonly = data.copy()
    readonly.setflags(write=False)
    first = getattr(_fft, func)(data, **kwargs)
    np.testing.assert_array_equal(data, original)
    second = getattr(_fft, func)(readonly, **kwargs)
    np.testing.assert_array_equal(readonly, original)
    np.testing.assert_array_equal(first, second)


def test_results_are_not_overwritten_by_later_calls():
    rng = np.random.default_rng(4)
    first_in, second_in = rng.standard_normal((2, 8, 8))
    first = _fft.rfftn(first_in)
    kept = first.copy()
    _fft.rfftn(second_in)  # same shape: the same cached plan and buffers
    np.testing.assert_array_equal(first, kept)


def test_works_from_several_threads_at_once():
    rng = np.random.default_rng(5)
    shapes = [(32, 32), (30, 20), (64,), (9, 10, 11)] * 6
    arrays = [rng.standard_normal(shape) for shape in shapes]

    def job(array):
        spectrum = _fft.rfftn(array)
        return spectrum, _fft.irfftn(spectrum, s=array.shape)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(job, arrays))
    for array, (spectrum, back) in zip(arrays, results, strict=True):
        expected = np.fft.rfftn(array)
        np.testing.assert_allclose(spectrum, expected, rtol=0, atol=_atol(expected))
        np.testing.assert_allclose(back, array, rtol=0, atol=_atol(array))


def test_plan_cache_is_bounded():
    for n in range(4, 4 + 2 * _fft._PLAN_CACHE_SIZE):
        _fft.rfftn(np.ones(n))
    if _fft.BACKEND == "pyfftw":
        assert len(_fft._local.plans) <= _fft._PLAN_CACHE_SIZE


@pytest.mark.skipif(_fft.BACKEND != "pyfftw", reason="plans and buffers are pyfftw's")
def test_plans_let_go_by_the_cache_are_freed_at_once():
    # A plan holds its buffers and a buffer knows the plan that last wrote it: held
    # strongly, plan and buffer made a cycle that kept both (and an FFT-sized array)
    # alive after the cache dropped the plan, until the garbage collector's next round.
    import gc

    gc.collect()
    gc.disable()
    try:
        for n in range(4, 4 + 2 * _fft._PLAN_CACHE_SIZE):
            _fft.rfftn(np.ones(n), s=(n + 3,))  # padded: the plan writes its input buffer
            _fft.irfftn(np.ones(n // 2 + 1, dtype=complex), s=(n,))
        unreachable = gc.collect()
    finally:
        gc.enable()
    assert len(_fft._local.plans) <= _fft._PLAN_CACHE_SIZE
    assert unreachable == 0


def test_explicit_threads():
    array = np.random.default_rng(6).standard_normal((16, 16))
    expected = np.fft.fftn(array)
    np.testing.assert_allclose(_fft.fftn(array, threads=2), expected, rtol=0, atol=_atol(expected))
    assert _fft.threads_for(10, 3) == 3
    assert _fft.threads_for(10) == 1  # small transforms stay single-threaded
    with pytest.raises(ValueError, match="threads must be >= 1, got 0"):
        _fft.threads_for(10, 0)


def _is_smooth(n: int) -> bool:
    for p in (2, 3, 5):
        while n % p == 0:
            n //= p
    return n == 1


@pytest.mark.parametrize("shape", [(1,), (7, 11), (13, 17, 97), (127,), (1000, 1001), (257,)])
def test_next_fast_shape_is_the_smallest_smooth_shape(shape):
    fast = _fft.next_fast_shape(shape)
    assert len(fast) == len(shape)
    for n, m in zip(shape, fast, strict=True):
        assert m >= n
        assert _is_smooth(m)
        assert not any(_is_smooth(k) for k in range(n, m))


def test_aligned_inputs_are_read_in_place_and_never_written():
    # An array from _fft.empty is transformed where it lies; a later transform of a
    # misaligned array (copied into the plan's buffer) must not write into it.
    rng = np.random.default_rng(9)
    first = _fft.empty((24, 20))
    first[...] = rng.standard_normal(first.shape)
    kept = first.copy()
    np.testing.assert_allclose(_fft.rfftn(first), np.fft.rfftn(kept), rtol=0, atol=_atol(kept))
    other = np.zeros(24 * 20 + 1)[1:].reshape(24, 20)  # misaligned by 8 bytes
    other[...] = rng.standard_normal(other.shape)
    np.testing.assert_allclose(_fft.rfftn(other), np.fft.rfftn(other), rtol=0, atol=_atol(other))
    np.testing.assert_array_equal(first, kept)


def test_inverse_scale_and_scratch_output():
    rng = np.random.default_rng(10)
    shape = (16, 12)
    spectrum = np.fft.rfftn(rng.standard_normal(shape))
    expected = np.fft.irfftn(spectrum, s=shape, axes=(0, 1))
    scaled = _fft.irfftn(spectrum, s=shape, scale=-2.5)
    np.testing.assert_allclose(scaled, -2.5 * expected, rtol=0, atol=_atol(expected))
    scratch = _fft.irfftn(spectrum, s=shape, scratch=True)
    np.testing.assert_allclose(scratch, expected, rtol=0, atol=_atol(expected))
    # A scratch result is the plan's buffer: the next scratch call reuses it, a
    # normal call returns an array of its own.
    assert _fft.irfftn(2 * spectrum, s=shape, scratch=True) is scratch or _fft.BACKEND != "pyfftw"
    assert not np.shares_memory(_fft.irfftn(spectrum, s=shape), scratch)


def test_padded_inverse_is_right_call_after_call():
    # A complex-to-real transform overwrites its input buffer, padding included:
    # every call must start from a clean, zero-padded buffer.
    rng = np.random.default_rng(11)
    small, s = (6, 5), (10, 12)
    for _ in range(3):
        spectrum = rng.standard_normal(small) + 1j * rng.standard_normal(small)
        expected = np.fft.irfftn(spectrum, s=s, axes=(0, 1))
        np.testing.assert_allclose(
            _fft.irfftn(spectrum, s=s), expected, rtol=0, atol=_atol(expected)
        )


@pytest.mark.parametrize("user_value", [None, "ACTIVE"])
def test_import_leaves_the_environment_as_it_was(user_value):
    # The OpenMP wait policy is set only while pyfftw loads, and never over the user's.
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if user_value is not None:
        env["OMP_WAIT_POLICY"] = user_value
    code = (
        "import os; import napari_imreg.core._fft; "
        "print(os.environ.get('OMP_WAIT_POLICY', 'unset'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == (user_value or "unset")


def test_transforms_of_one_size_share_buffers_safely():
    # A padded forward transform and an inverse of the padded size share their
    # buffers: the inverse's scratch output must not leak into the forward's padding.
    rng = np.random.default_rng(12)
    small, s = (6, 5), (10, 12)
    for _ in range(2):
        image = rng.standard_normal(small)
        expected = np.fft.rfftn(image, s=s, axes=(0, 1))
        np.testing.assert_allclose(_fft.rfftn(image, s=s), expected, rtol=0, atol=_atol(expected))
        noise = np.fft.rfftn(rng.standard_normal(s), axes=(0, 1))
        _fft.irfftn(noise, s=s, scratch=True)  # fills the shared real buffer
    np.testing.assert_allclose(_fft.rfftn(image, s=s), expected, rtol=0, atol=_atol(expected))


@pytest.mark.parametrize("shape", [(50,), (30, 41), (12, 10, 14)])
def test_rfftn_with_weights_equals_the_weighted_copy(shape):
    # The weights act in the transform's own buffer: the input is left alone, the
    # padding stays zero from one call to the next, and other weights follow.
    rng = np.random.default_rng(9)
    array = rng.normal(size=shape)
    array.setflags(write=False)
    padded = tuple(n + 7 for n in shape)
    axes = tuple(range(len(shape)))
    for _ in range(2):
        weights = [np.where(rng.random(n) < 0.3, rng.random(n), 1.0) for n in shape]
        product = array
        for axis, weight in enumerate(weights):
            product = product * weight.reshape([-1 if a == axis else 1 for a in axes])
        expected = np.fft.rfftn(product, s=padded, axes=axes)
        np.testing.assert_allclose(
            _fft.rfftn(array, s=padded, weights=weights), expected, atol=1e-12
        )
        np.testing.assert_allclose(
            _fft.rfftn(array, s=padded), np.fft.rfftn(array, s=padded, axes=axes), atol=1e-12
        )


def test_scipy_fallback_applies_weights_too(monkeypatch):
    # Without pyfftw the transforms are scipy's; the weights then act on a copy.
    array = np.random.default_rng(10).normal(size=(20, 17))
    weights = [np.linspace(0.2, 1.0, 20), np.ones(17)]
    expected = _fft.rfftn(array * weights[0][:, None], s=(25, 24))
    monkeypatch.setattr(_fft, "pyfftw", None)
    np.testing.assert_allclose(
        _fft.rfftn(array, s=(25, 24), weights=weights), expected, atol=1e-12
    )
    assert np.all(weights[0] == np.linspace(0.2, 1.0, 20))


def test_cores_fall_back_to_the_cpu_count_without_affinity(monkeypatch):
    # macOS and Windows have no sched_getaffinity: every core counts, for the FFT
    # threads and the stack's workers alike (the stack used to fall back to 1).
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 7)
    assert _fft.available_cores() == 7
    assert _fft.threads_for(1 << 20) == 7
    assert check_workers(None) == 7


def _blas_threads():
    return [info["num_threads"] for info in ThreadpoolController().select(user_api="blas").info()]


def test_blas_limit_holds_until_its_last_user_leaves():
    # Two users whose spans overlap, as two stack tasks on two threads: the first to
    # leave must not lift the limit under the second.
    before = _blas_threads()
    first, second = _fft.one_blas_thread(), _fft.one_blas_thread()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert all(n == 1 for n in _blas_threads())
    second.__exit__(None, None, None)
    assert _blas_threads() == before


def test_blas_limit_holds_in_a_worker_thread_after_the_main_thread_used_it():
    # OpenBLAS 0.3.30 ignores a worker thread's process-wide setting once the main
    # thread has made one; the limit must hold there all the same.
    before = _blas_threads()
    if not before or max(before) < 2:
        pytest.skip("BLAS runs on one thread here already")
    with _fft.one_blas_thread():
        pass
    seen = {}

    def worker():
        with _fft.one_blas_thread():
            seen["inside"] = _blas_threads()
        seen["after"] = _blas_threads()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(worker).result()
    assert all(n == 1 for n in seen["inside"])
    assert seen["after"] == before
    assert _blas_threads() == before


@pytest.mark.parametrize("n", [1024, 4096, 8192])
def test_a_length_one_axis_with_any_stride_is_transformed(n):
    # numpy calls these views C-contiguous, but their length-1 axis has a stride
    # FFTW's plan was not made with ("Invalid input striding" before).
    rows = _fft.empty((3, n))
    rows[:] = np.random.default_rng(n).normal(size=(3, n))
    for view in (rows[::2][:1], rows[1:2], rows[:, None, :][0]):
        assert view.shape == (1, n)
        np.testing.assert_allclose(_fft.rfftn(view), np.fft.rfftn(view), rtol=1e-9, atol=1e-8)
        spectrum = _fft.fftn(view.astype(complex))
        np.testing.assert_allclose(spectrum, np.fft.fftn(view), rtol=1e-9, atol=1e-8)
