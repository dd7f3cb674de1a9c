"""A stack registered in worker processes kept between calls (StackWorkers): the same
results as in threads, its warnings and errors at the caller, nothing left behind.

The truth is a crop window of one scene moved by a known drift (sub-pixel, by a
Fourier shift of the scene), so the frames do not wrap and take the overlap mode.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import numpy as np
import pytest
from _drift import drifting_stack

from napari_imreg.core import (
    RegistrationWarning,
    StackWorkers,
    iter_register_stack,
)
from napari_imreg.core._stack_pool import SEGMENT_PREFIX

pytestmark = pytest.mark.skipif(
    not StackWorkers.available(), reason="worker processes need a fork server (not Windows)"
)


def _rows(pairs) -> np.ndarray:
    return np.array(
        [
            np.concatenate([result.shift, result.error, result.covariance.ravel()])
            for _, result in pairs
        ]
    )


def _segments() -> list[str]:
    return glob.glob(f"/dev/shm/{SEGMENT_PREFIX}*")


@pytest.fixture(scope="module")
def workers():
    with StackWorkers(2) as workers:
        yield workers


def _masks(shape):
    masks = np.zeros(shape, dtype=bool)
    masks[:, :4] = True  # a band each frame sets aside
    return masks


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"reference": 3},
        {"reference": "mean"},
        {"reference": "previous"},
        {"error": 0.05},
        {"error": "per frame"},
        {"mask": "per frame"},
        {"reference": "previous", "mask": "per frame"},
    ],
    ids=str,
)
def test_processes_give_the_results_of_threads(options, workers):
    stack, drift = drifting_stack(12, 64)
    if options.get("error") == "per frame":
        options = {**options, "error": np.full(stack.shape, 0.05)}
    if options.get("mask") == "per frame":
        options = {**options, "mask": _masks(stack.shape)}
    in_processes = _rows(iter_register_stack(stack, processes=workers, **options))
    assert workers.started
    in_threads = _rows(iter_register_stack(stack, num_workers=2, **options))
    np.testing.assert_array_equal(in_processes, in_threads)
    if options.get("reference", 0) in (0, "previous"):
        shifts, errors = in_processes[:, :2], in_processes[:, 2:4]
        assert np.all(np.abs(shifts - drift) <= 5 * errors + 1e-9)
    assert _segments() == []


def test_a_workers_warning_reaches_the_caller(workers):
    stack, drift = drifting_stack(12, 64)
    stack[5] = np.nan
    with pytest.warns(RegistrationWarning, match="frame 5 was not measured"):
        rows = _rows(iter_register_stack(stack, processes=workers))
    assert np.all(np.isnan(rows[5, :2]))
    kept = np.delete(np.arange(12), 5)
    assert np.all(np.abs(rows[kept, :2] - drift[kept]) <= 5 * rows[kept, 2:4] + 1e-9)


def test_a_workers_error_is_raised_at_the_caller(workers):
    stack, _ = drifting_stack(12, 64)
    stack[0] = np.nan  # the reference
    with pytest.raises(ValueError, match="reference has no valid pixel"):
        list(iter_register_stack(stack, processes=workers))
    # np.zeros refuses a negative shape, in the worker
    with pytest.raises(ValueError, match="negative dimensions"):
        list(workers.in_order(np.zeros, {}, [{"shape": 2}, {"shape": -1}]))
    assert _segments() == []
    assert [list(row) for row in workers.in_order(np.zeros, {}, [{"shape": 2}])] == [[0, 0]]


def test_a_worker_that_dies_stops_the_run_and_the_next_starts_afresh():
    stack, drift = drifting_stack(12, 64)
    with StackWorkers(2) as workers:
        list(workers.in_order(np.zeros, {}, [{"shape": 1}]))
        before = workers.pids()
        with pytest.raises(RuntimeError, match="ended unexpectedly"):
            list(workers.in_order(os.abort, {}, [{}]))
        assert not workers.started
        assert _segments() == []
        rows = _rows(iter_register_stack(stack, processes=workers))
        assert set(workers.pids()).isdisjoint(before)
    assert np.all(np.abs(rows[:, :2] - drift) <= 5 * rows[:, 2:4] + 1e-9)


def test_stopping_early_cancels_and_closing_ends_the_workers():
    stack, drift = drifting_stack(40, 64)
    workers = StackWorkers(2)
    frames = iter_register_stack(stack, processes=workers)
    first = [next(frames) for _ in range(3)]
    pids = workers.pids()
    assert pids
    assert _segments() != []
    frames.close()
    assert _segments() == []
    for index, result in first:
        assert np.all(np.abs(result.shift - drift[index]) <= 5 * result.error + 1e-9)
    workers.close()
    for pid in pids:  # ended and reaped by the fork server
        with pytest.raises(ProcessLookupError):
            _wait_gone(pid)


def _wait_gone(pid: int) -> None:
    """Raise ProcessLookupError once ``pid`` is gone (at most a few seconds)."""
    import time

    for _ in range(500):
        os.kill(pid, 0)
        time.sleep(0.01)


def test_small_stacks_stay_in_threads():
    stack, drift = drifting_stack(6, 64)
    workers = StackWorkers(2)
    rows = _rows(iter_register_stack(stack, processes=workers))
    assert not workers.started
    assert np.all(np.abs(rows[:, :2] - drift) <= 5 * rows[:, 2:4] + 1e-9)


def test_the_workers_do_not_run_the_callers_script(tmp_path):
    # A napari session's main script may be a user's, with no __main__ guard: run by
    # each worker, it would open a viewer (here: start workers of its own) there.
    log = tmp_path / "runs.txt"
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import numpy as np\n"
        "from napari_imreg.core import StackWorkers\n"
        f"with open({str(log)!r}, 'a') as out:\n"
        "    out.write('run\\n')\n"
        "with StackWorkers(2) as workers:\n"
        "    chunks = [{'shape': 1}, {'shape': 2}, {'shape': 3}]\n"
        "    print(sum(len(z) for z in workers.in_order(np.zeros, {}, chunks)))\n"
    )
    path = os.pathsep.join(sys.path)
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        timeout=120,
        check=True,
    )
    assert done.stdout.split() == ["6"]
    assert log.read_text() == "run\n"


def test_workers_are_checked():
    with pytest.raises(ValueError, match="workers must be >= 1"):
        StackWorkers(0)
    with pytest.raises(TypeError, match="processes must be a StackWorkers"):
        iter_register_stack(np.zeros((12, 8, 8)), processes=2)
