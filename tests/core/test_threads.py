"""The stack's thread pools start every thread at once, with Ctrl-C held back meanwhile, so
that an interrupt cannot leave a thread the interpreter waits for at exit (core._threads)."""

from __future__ import annotations

import os
import signal
import sys
import threading

from napari_imreg.core._threads import interrupt_held, started_pool


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
