"""Running a widget's work in a napari thread worker: progress, cancel, notifications."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from napari.qt.threading import create_worker
from napari.utils import progress
from napari.utils.notifications import show_warning


def notify_warning(warning: tuple) -> None:
    """A warning raised in the worker thread (``warnings.showwarning`` arguments)."""
    show_warning(str(warning[0]))


def start_worker(
    widget: Any,
    function: Callable,
    *args: Any,
    total: int,
    desc: str,
    yielded: Callable,
    errored: Callable,
    finished: Callable,
    count: Callable[[Any], int] | None = None,
    warned: Callable[[tuple], None] = notify_warning,
) -> Any:
    """Run ``function(*args)`` off the GUI thread with a progress bar.

    Each yielded value goes to ``yielded`` on the GUI thread and moves the progress bar by
    ``count(value)`` steps (one step each if ``count`` is None); errors and warnings become
    napari notifications (warnings through ``warned``, given ``warnings.showwarning``'s
    arguments). The widget's ``worker`` is set, its run button disabled and its
    cancel button enabled until ``finished`` re-enables them.
    """
    worker = create_worker(
        function,
        *args,
        _start_thread=False,
        _connect={
            "yielded": yielded,
            "errored": errored,
            "warned": warned,
            "finished": finished,
        },
    )
    bar = progress(total=total, desc=desc)
    worker.yielded.connect(lambda value: bar.update(1 if count is None else count(value)))
    worker.finished.connect(bar.close)
    worker.pbar = bar
    widget.worker = worker
    widget._run_button.enabled = False
    widget._cancel_button.enabled = True
    worker.start()
    return worker
