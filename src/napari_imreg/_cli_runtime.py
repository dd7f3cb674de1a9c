"""What the ``stack`` command runs with: the check that no output overwrites an input or an
existing file, the dask scheduler (local or reached at an address), the frame progress bar, and
an error message put on one line (as every command reports it).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable
from pathlib import Path

import click


def check_outputs(
    outputs: Iterable[tuple[str, str | os.PathLike]],
    inputs: Iterable[str | os.PathLike],
    *,
    overwrite: bool,
) -> None:
    """Refuse outputs that would replace an input, each other, or (without ``overwrite``) a file,
    and outputs whose folder does not exist or is a file (found before the work, not when
    writing).

    Parameters
    ----------
    outputs : iterable of (str, path)
        Each output with the name of the option that chose it (``"--output"``).
    inputs : iterable of path
        Every file or folder read. An output is refused if it is one of them (compared by
        inode, so links count), holds one (a folder replaced would take it along), or lies
        inside one (the array of a zarr group).
    overwrite : bool
        Whether existing outputs may be replaced.

    Raises
    ------
    ValueError
        Naming the option, the path and what to do instead.
    """
    sources = [Path(p) for p in inputs]
    seen: dict[Path, str] = {}
    for option, path in outputs:
        path = Path(path)
        resolved = path.resolve()
        for source in sources:
            if _same(path, source) or _related(resolved, source.resolve()):
                raise ValueError(
                    f"{option} {path} would replace the input {source}; "
                    "choose another name for the output."
                )
        if resolved in seen:
            raise ValueError(
                f"{option} {path} is also given to {seen[resolved]}; "
                "give each output its own name."
            )
        seen[resolved] = option
        if not resolved.parent.is_dir():
            problem = "is a file" if resolved.parent.exists() else "does not exist"
            raise ValueError(
                f"{option} {path}: the folder {path.parent} {problem}; "
                "choose a name in an existing folder."
            )
        if path.exists() and not overwrite:
            raise ValueError(
                f"{option} {path} already exists; pass --overwrite to replace it, "
                "or choose another name."
            )


def _same(path: Path, source: Path) -> bool:
    try:
        return path.exists() and source.exists() and os.path.samefile(path, source)
    except OSError:
        return False


def _related(output: Path, source: Path) -> bool:
    """The same path, or one inside the other (a folder replaced takes its contents along)."""
    return output == source or output in source.parents or source in output.parents


@contextlib.contextmanager
def dask_config(compute_options):
    import dask

    with dask.config.set(**compute_options):
        yield


@contextlib.contextmanager
def dask_scheduler(address, workers, timeout):
    """Keyword arguments for ``dask.compute``: local threads, or a distributed client.

    The local threads are started at once (``core._threads``): a Ctrl-C as dask starts
    one of its own could leave it for the interpreter to wait for at exit, forever.
    """
    if address is None:
        from dask.system import CPU_COUNT

        from napari_imreg.core._threads import started_pool

        pool = started_pool(workers or CPU_COUNT, "napari-imreg-dask")
        try:
            yield {"scheduler": "threads", "pool": pool}
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return
    with _connect(address, timeout) as client:
        yield {"scheduler": client}


def _connect(address: str, timeout: float):
    """A ``distributed.Client`` for ``address``, or a clear error within ``timeout`` seconds."""
    try:
        from distributed import Client
    except ImportError:
        raise click.ClickException(
            "--scheduler needs dask.distributed: pip install 'napari-imreg[distributed]'."
        ) from None
    outcome = {}

    def attempt():
        try:
            outcome["client"] = Client(address, timeout=f"{timeout}s")
        except BaseException as exc:  # any failure is reported below
            outcome["error"] = exc

    # A peer that is not a scheduler can hold Client() past its own timeout (an HTTP server
    # never answers the handshake); a daemon thread lets this wait end, and Ctrl-C with it.
    thread = threading.Thread(target=attempt, name="napari-imreg-connect", daemon=True)
    thread.start()
    thread.join(timeout)
    if "client" in outcome:
        return outcome["client"]
    error = outcome.get("error")
    if error is None:
        reason = f"no answer as a dask scheduler within {timeout:g} s"
    elif isinstance(error, OSError):
        reason = f"{type(error).__name__}: {one_line(str(error))}"
    else:  # a reply in another protocol, read as dask's (a "3 EiB" frame length, say)
        reason = f"it answered, but not as a dask scheduler ({type(error).__name__})"
    raise click.ClickException(
        f"--scheduler {address}: cannot connect ({reason}). Give the address of a running "
        "dask.distributed scheduler (tcp://HOST:8786), or leave --scheduler out to run here."
    )


class FrameProgress:
    """A tqdm bar advanced by the registration tasks of a dask computation."""

    def __init__(self, total: int, description: str, disable):
        self.total = total
        self.description = description
        self.disable = disable

    def __enter__(self):
        from dask.callbacks import Callback
        from tqdm import tqdm

        from napari_imreg.core._stack_graph import TASK_PREFIX

        self.bar = tqdm(
            total=self.total, unit="frame", desc=self.description, disable=self.disable
        )
        bar = self.bar

        class _Tasks(Callback):
            def _posttask(self, key, result, dsk, state, worker_id):
                name = key[0] if isinstance(key, tuple) else key
                if str(name).startswith(TASK_PREFIX) and hasattr(result, "shape"):
                    bar.update(int(result.shape[0]))

        self.callback = _Tasks()
        self.callback.__enter__()
        return self

    def finish(self):
        self.bar.update(self.total - self.bar.n)

    def __exit__(self, *exc):
        self.callback.__exit__(*exc)
        self.bar.close()
        return False


def one_line(message: str) -> str:
    """The message with its line breaks and runs of spaces made single spaces."""
    return " ".join(message.split())
