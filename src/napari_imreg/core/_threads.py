"""A thread pool that Ctrl-C cannot leave with a thread the interpreter waits for forever.

``ThreadPoolExecutor`` starts its threads one at a time, from ``submit``, and only then
records each one where its shutdown at exit will find it. A ``KeyboardInterrupt`` that
lands between the two (the caller's thread is the one that handles signals) leaves a
thread that nobody wakes and that the interpreter joins at exit: the process hangs after
saying it was interrupted (seen in about 1 of 10 CLI runs interrupted as their first frame
was submitted; cpython issue 125886 is the same race in the process pool). Here every
thread is started at once with SIGINT held back, so ``submit`` never starts one later.

A fork copies only the thread that forks: a lock another thread held at that moment stays
held in the child, and the child's first use of it waits forever (seen: a stack's forked
worker stuck in the BLAS limit's lock, which a thread left over from an earlier stack held
as the workers were forked). The locks of the core's process-wide state are
made by :func:`fork_safe_lock`, which a fork waits for.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor


@contextlib.contextmanager
def interrupt_held() -> Iterator[None]:
    """A Ctrl-C (SIGINT) during the block delivered when the block ends, in the main
    thread; elsewhere nothing changes (other threads never see KeyboardInterrupt).

    The signal is caught by a handler of our own for the block, not masked: a mask
    holds it back from one thread only, and the kernel hands it to another (BLAS's,
    dask's), whose interrupt the main thread then raises all the same.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is None  # a handler Python cannot put back
    ):
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            if callable(previous):
                previous(signal.SIGINT, caught[-1])
            elif previous == signal.SIG_DFL:
                os.kill(os.getpid(), signal.SIGINT)


def started_pool(workers: int, name: str) -> ThreadPoolExecutor:
    """A ``ThreadPoolExecutor`` of ``workers`` threads, all of them running already."""
    pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
    everyone = threading.Barrier(workers + 1)
    with interrupt_held():
        # Each task holds its thread until all are running, so that every submit
        # finds no idle thread and starts a new one.
        for _ in range(workers):
            pool.submit(everyone.wait)
        everyone.wait()
    return pool


def fork_safe_lock() -> threading.Lock:
    """A lock that a fork of this process waits for, so that no child starts with it
    held by a thread the child does not have."""
    lock = threading.Lock()
    os.register_at_fork(
        before=lock.acquire, after_in_parent=lock.release, after_in_child=lock.release
    )
    return lock
