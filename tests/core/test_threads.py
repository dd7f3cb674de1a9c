"""The stack's thread pools start every thread at once, with Ctrl-C held back meanwhile, so
that an interrupt cannot leave a thread the interpreter waits for at exit; a stack leaves
no thread registering once it returns or raises, and a fork waits for the core's locks, so
that a forked worker never starts with one held (core._threads)."""

from __future__ import annotations

import collections
import os
import signal
import sys
import threading
import time

import dask.threaded
import numpy as np
import pytest

from napari_imreg.core import _stack_processes, register_stack
from napari_imreg.core._axis_messages import AxisValueError
from napari_imreg.core._threads import fork_safe_lock, interrupt_held, started_pool


def _named(prefix):
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


def test_every_thread_of_the_pool_runs_before_any_work_is_submitted():
    pool = started_pool(3, "started-pool-test")
    try:
        assert len(_named("started-pool-test")) == 3
        # Work submitted now runs on those threads: no new one is started.
        names = {pool.submit(lambda: threading.current_thread().name).result() for _ in range(20)}
        assert len(_named("started-pool-test")) == 3
        assert names <= {t.name for t in _named("started-pool-test")}
    finally:
        pool.shutdown(wait=True)
    assert _named("started-pool-test") == []


def test_a_ctrl_c_inside_the_held_block_reaches_the_handler_as_the_block_ends():
    # Another thread is alive, as BLAS's and dask's are: the kernel may hand it the
    # signal (a mask on the main thread alone held nothing back then). The handler in
    # place is one that records when it ran, whatever the test session had installed.
    release = threading.Event()
    bystander = threading.Thread(target=release.wait)
    bystander.start()
    reached, calls = [], []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: calls.append(len(reached)))
    try:
        with interrupt_held():
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # bytecodes at which an unheld signal would be handled
                reached.append(sys.getrecursionlimit())
        reached.append("after")
    finally:
        signal.signal(signal.SIGINT, previous)
        release.set()
        bystander.join()
    assert calls == [1000]  # once, when the block ended


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
@pytest.mark.parametrize("make", [fork_safe_lock, threading.Lock], ids=["fork-safe", "plain"])
def test_a_fork_waits_for_a_fork_safe_lock_another_thread_holds(make):
    # Another thread holds the lock as the process forks. The child has only the forking
    # thread: a plain lock stays held there for good; a fork-safe one is released.
    lock, held = make(), threading.Event()

    def hold():
        with lock:
            held.set()
            time.sleep(0.3)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    child = os.fork()
    if child == 0:  # the child: exit 0 if it can take the lock
        os._exit(0 if lock.acquire(timeout=1.0) else 1)
    holder.join()
    _, status = os.waitpid(child, 0)
    assert (os.waitstatus_to_exitcode(status) == 0) == (make is fork_safe_lock)


def test_a_stack_that_raises_leaves_no_thread_registering(monkeypatch):
    # Frames of 3 rows are too short for the overlap mode: every frame raises. Threads,
    # not processes; dask's shared pools emptied so that a pool kept from another test
    # cannot hide one made here.
    monkeypatch.setattr(_stack_processes, "forking_available", lambda: False)
    monkeypatch.setattr(dask.threaded, "pools", collections.defaultdict(dict))
    stack = np.random.default_rng(1).normal(size=(40, 3, 48))
    before = set(threading.enumerate())
    with pytest.raises(AxisValueError):
        register_stack(stack, num_workers=2).compute()
    assert set(threading.enumerate()) - before == set()
