"""A virtual X display (Xvfb) for screenshots when there is no screen.

napari needs an OpenGL context to draw its canvas; with no X server there is none, so the
headless main job and the screenshot script start their own Xvfb. ``-displayfd`` lets Xvfb pick
a free display number and tell us which, so concurrent runs do not collide.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

#: Screen size of the virtual display (pixels).
SCREEN = (1600, 1000)


def has_display() -> bool:
    """Whether a display server is set in the environment (X11 or Wayland)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def ensure_runtime_dir() -> None:
    """Give Qt a private ``XDG_RUNTIME_DIR`` if none is set (silences a Qt warning)."""
    if not os.environ.get("XDG_RUNTIME_DIR"):
        path = tempfile.mkdtemp(prefix="napari-imreg-xdg-")
        os.chmod(path, 0o700)
        os.environ["XDG_RUNTIME_DIR"] = path


@contextmanager
def virtual_display(size: tuple[int, int] = SCREEN, timeout: float = 20.0) -> Iterator[str]:
    """Run the body with ``DISPLAY`` pointing at a fresh Xvfb server; stop it afterwards.

    If a display is already set, it is used as it is and nothing is started.

    Raises
    ------
    RuntimeError
        If there is no display and ``Xvfb`` is not installed or does not start.
    """
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise RuntimeError(
            "No display and no Xvfb to make one: install it (apt-get install xvfb), or run "
            "with a display."
        )
    read_end, write_end = os.pipe()
    command = [xvfb, "-displayfd", str(write_end), "-screen", "0", f"{size[0]}x{size[1]}x24"]
    command += ["-nolisten", "tcp"]
    process = subprocess.Popen(
        command, pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    os.close(write_end)
    try:
        number = _read_display_number(read_end, process, timeout)
        os.environ["DISPLAY"] = f":{number}"
        yield os.environ["DISPLAY"]
    finally:
        os.close(read_end)
        os.environ.pop("DISPLAY", None)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - Xvfb ignores SIGTERM
            process.kill()
            process.wait()


def _read_display_number(fd: int, process: subprocess.Popen, timeout: float) -> int:
    import select

    text = b""
    while not text.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise RuntimeError(f"Xvfb did not start within {timeout} s.")
        chunk = os.read(fd, 16)
        if not chunk:
            raise RuntimeError(f"Xvfb exited with code {process.poll()} before starting.")
        text += chunk
    return int(text.strip())
