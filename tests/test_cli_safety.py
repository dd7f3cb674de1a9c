"""The command line never loses what the user had, never hangs, and answers in well-formed JSON.

Each test runs the real ``napari-imreg`` in a subprocess on real files in a temporary folder.
"""

from __future__ import annotations

import http.server
import json
import os
import resource
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from astropy.io import fits

import napari_imreg
from napari_imreg.core import make_extended, make_shifted

SOURCE = str(Path(napari_imreg.__file__).parents[1])
COMMAND = [sys.executable, "-c", "import sys; from napari_imreg.cli import main; sys.exit(main())"]


def _environment():
    # The checkout under test first, whatever is installed.
    path = os.pathsep.join(filter(None, [SOURCE, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def _default_sigint():
    # A child started from a shell's background job inherits SIGINT ignored; restore it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run(*argv, cwd=None):
    return subprocess.run(
        [*COMMAND, *map(str, argv)],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=_environment(),
        timeout=300,
    )


def start(*argv, cwd=None):
    return subprocess.Popen(
        [*COMMAND, *map(str, argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=_environment(),
        preexec_fn=_default_sigint,
    )


def _stack(frames=5, size=48):
    image = make_extended(size, seed=0)
    drift = [(0.3 * i, -0.2 * i) for i in range(frames)]
    return np.stack(
        [make_shifted(image, d, noise=0.02, seed=1 + i) for i, d in enumerate(drift)]
    ).astype(np.float32)


def _snapshot(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (or the file itself) with its bytes."""
    if path.is_file():
        return {path.name: path.read_bytes()}
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if "-partial-" in p.name or "-old-" in p.name]


@pytest.fixture
def folder(tmp_path):
    stack = _stack()
    np.save(tmp_path / "stack.npy", stack)
    tifffile.imwrite(tmp_path / "stack.tif", stack)
    group = zarr.open_group(str(tmp_path / "group.zarr"), mode="w")
    group.create_array("frames", shape=stack.shape, chunks=(1, 48, 48), dtype="f4")[:] = stack
    group.create_array("labels", shape=(4,), dtype="i4")[:] = [1, 2, 3, 4]
    return tmp_path


# ---------------------------------------------------------------- 1, 2: inputs and outputs


@pytest.mark.parametrize(
    ("source", "option", "target"),
    [
        ("group.zarr", "--registered", "group.zarr"),  # the input group itself
        ("group.zarr", "--registered", "group.zarr/frames/x.zarr"),  # inside the array read
        ("group.zarr", "--registered", "group.zarr/aligned.zarr"),  # beside its siblings
        ("stack.tif", "--registered", "stack.tif"),
        ("stack.npy", "-o", "stack.npy"),
        ("stack.tif", "-o", "stack.tif"),
        ("group.zarr/frames", "--registered", "group.zarr"),  # the group around the array read
    ],
)
def test_no_output_replaces_an_input_even_with_overwrite(folder, source, option, target):
    before = _snapshot(folder)
    argv = ["stack", folder / source, "--boundary", "wrap", "--overwrite"]
    argv += ["--dataset", "frames"] if source.endswith(".zarr") else []
    if option == "--registered":
        argv += ["-o", folder / "shifts.csv"]
    done = run(*argv, option, folder / target, cwd=folder)
    assert done.returncode == 1, done.stderr
    assert "would replace the input" in done.stderr
    assert str(folder / target) in done.stderr
    assert _snapshot(folder) == before


def test_an_input_reached_through_a_hard_link_is_refused(folder):
    os.link(folder / "stack.npy", folder / "alias.csv")
    before = _snapshot(folder)
    done = run("stack", folder / "stack.npy", "-o", folder / "alias.csv", "--overwrite")
    assert done.returncode == 1
    assert "would replace the input" in done.stderr
    assert _snapshot(folder) == before


def test_existing_outputs_are_kept_unless_overwrite(folder):
    old_csv = "old table\n"
    (folder / "stack_shifts.csv").write_text(old_csv)  # the default -o
    existing = zarr.open_group(str(folder / "aligned.zarr"), mode="w")
    existing.create_array("mine", shape=(3,), dtype="i4")[:] = [7, 8, 9]
    before = _snapshot(folder)

    for argv in (["stack", "stack.npy"], ["stack", "stack.npy", "-o", "s.csv"]):
        done = run(*argv, "--registered", "aligned.zarr", cwd=folder)
        assert done.returncode == 1
        assert "already exists; pass --overwrite" in done.stderr
        assert _snapshot(folder) == before

    done = run("stack", "stack.npy", "--boundary", "wrap", "--overwrite", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert (folder / "stack_shifts.csv").read_text().startswith("frame,shift_y,shift_x")
    done = run("stack", "stack.npy", "-o", "s.csv", "--registered", "aligned.zarr", cwd=folder)
    assert done.returncode == 1  # stack_shifts.csv is no longer in the way, aligned.zarr is
    assert not (folder / "s.csv").exists()
    done = run(
        "stack", "stack.npy", "-o", "s.csv", "--registered", "aligned.zarr", "--overwrite",
        cwd=folder,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert zarr.open_array(str(folder / "aligned.zarr"), mode="r").shape == (5, 48, 48)
    assert _leftovers(folder) == []


@pytest.mark.parametrize("option", ["--output", "--registered"])
def test_an_output_in_a_missing_folder_is_refused_before_the_work(folder, option):
    before = _snapshot(folder)
    target = folder / "missing" / ("out.csv" if option == "--output" else "out.zarr")
    argv = ["stack", "stack.npy", option, target]
    argv += ["-o", "-"] if option == "--registered" else []
    done = run(*argv, cwd=folder)
    assert done.returncode == 1, done.stderr
    assert f"{option} {target}: the folder {target.parent} does not exist" in done.stderr
    assert "registering" not in done.stderr  # refused before any frame was registered
    assert _snapshot(folder) == before
    assert not target.parent.exists()


def test_an_output_inside_a_file_is_refused_naming_the_file(folder):
    (folder / "notes.txt").write_text("not a folder")
    before = _snapshot(folder)
    target = folder / "notes.txt" / "out.csv"
    done = run("stack", "stack.npy", "--output", target, cwd=folder)
    assert done.returncode == 1, done.stderr
    assert f"--output {target}: the folder {target.parent} is a file" in done.stderr
    assert _snapshot(folder) == before


# ---------------------------------------------------------------- 3: Ctrl-C changes nothing


@pytest.mark.parametrize("phase", ["registering", "writing"])
def test_ctrl_c_leaves_the_old_outputs_and_exits_130(tmp_path, phase):
    np.save(tmp_path / "stack.npy", _stack(frames=160, size=256))
    old_table = tmp_path / "shifts.csv"
    old_table.write_text("frame,shift_y,shift_x\n0,0.0,0.0\n")
    old_stack = zarr.open_array(str(tmp_path / "aligned.zarr"), mode="w", shape=(2, 3), dtype="f4")
    old_stack[:] = 5.0
    before = _snapshot(tmp_path)

    argv = ["stack", "stack.npy", "-o", "shifts.csv", "--registered", "aligned.zarr"]
    child = start(*argv, "--overwrite", "--progress", "--workers", "1", cwd=tmp_path)
    seen = ""
    while phase not in seen:  # tqdm announces each phase on stderr
        character = child.stderr.read(1)
        assert character, f"the run ended before {phase!r}: {seen}"
        seen += character
    child.send_signal(signal.SIGINT)
    _, rest = child.communicate(timeout=120)

    assert child.returncode == 130, seen + rest
    assert "interrupted; no output was changed" in rest
    assert _snapshot(tmp_path) == before
    assert _leftovers(tmp_path) == []


# ---------------------------------------------------------------- 7: JSON is JSON


def _strict_json(text):
    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_json_answer_without_a_measurement_is_null_with_a_reason_and_exit_3(tmp_path):
    np.save(tmp_path / "flat.npy", np.ones((48, 48)))
    np.save(tmp_path / "image.npy", make_extended(48, seed=3))
    done = run("pair", tmp_path / "flat.npy", tmp_path / "image.npy", "--json")
    assert done.returncode == 3, done.stderr
    payload = _strict_json(done.stdout)
    assert payload["measured"] is False
    assert payload["error"] == [None, None]
    assert "error is inf" in payload["why_not_measured"]
    assert "no measurement" in done.stderr

    np.save(tmp_path / "moved.npy", make_shifted(make_extended(48, seed=3), (1, 2), seed=4))
    done = run("pair", tmp_path / "image.npy", tmp_path / "moved.npy", "--json")
    assert done.returncode == 0, done.stderr
    payload = _strict_json(done.stdout)
    assert payload["measured"] is True
    assert payload["why_not_measured"] is None
    assert all(np.isfinite(payload["error"]))


# ---------------------------------------------------------------- 8: a scheduler that is not one


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture
def http_server():
    """A plain HTTP server on 127.0.0.1; ``server.connected`` is set once a client connects."""
    connected = threading.Event()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def setup(self):
            connected.set()
            super().setup()

        def log_message(self, *args):
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    server.connected = connected
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_scheduler_that_is_an_http_server_fails_with_a_clear_message(folder, http_server):
    address = f"tcp://127.0.0.1:{http_server.server_address[1]}"
    done = run(
        "stack", "stack.npy", "-o", "s.csv", "--scheduler", address, "--scheduler-timeout", "3",
        cwd=folder,
    )  # fmt: skip
    assert done.returncode == 1
    assert http_server.connected.is_set()
    (line,) = done.stderr.strip().splitlines()
    assert f"--scheduler {address}: cannot connect" in line
    assert "no answer as a dask scheduler within 3 s" in line
    assert not (folder / "s.csv").exists()


def test_ctrl_c_while_waiting_for_a_scheduler_exits_130(folder, http_server):
    address = f"tcp://127.0.0.1:{http_server.server_address[1]}"
    child = start("stack", "stack.npy", "-o", "s.csv", "--scheduler", address, cwd=folder)
    assert http_server.connected.wait(timeout=120)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert not (folder / "s.csv").exists()


# ---------------------------------------------------------------- 5, 6: files that should open


def test_a_uint16_camera_cube_registers_as_its_values_do(tmp_path):
    stack = _stack(frames=4)
    counts = np.round(stack / stack.max() * 60000).astype(np.uint16)
    fits.writeto(tmp_path / "camera.fits", counts)  # astropy stores it with BZERO = 32768
    assert fits.getheader(tmp_path / "camera.fits")["BZERO"] == 32768
    np.save(tmp_path / "camera.npy", counts)
    for name in ("camera.fits", "camera.npy"):
        done = run("stack", name, "-o", f"{name}.csv", "--boundary", "wrap", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "camera.fits.csv").read_text() == (tmp_path / "camera.npy.csv").read_text()


def test_an_image_larger_than_memory_gives_a_clear_error(tmp_path):
    path = tmp_path / "sparse.fits"
    header = fits.Header({"SIMPLE": True, "BITPIX": -32, "NAXIS": 2})
    header["NAXIS1"], header["NAXIS2"] = 32768, 24576  # 3 GiB
    with path.open("wb") as stream:
        stream.write(header.tostring().encode())
        stream.seek(2880 + -(-3 * 2**30 // 2880) * 2880 - 1)
        stream.write(b"\0")
    child = subprocess.run(
        [*COMMAND, "pair", str(path), str(path)],
        capture_output=True,
        text=True,
        env=_environment(),
        timeout=300,
        # 4 GiB of address space: the interpreter and the file's memory map fit, a copy does not.
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30)),
        check=False,
    )
    assert child.returncode == 1, child.stderr
    (line,) = child.stderr.strip().splitlines()
    assert "sparse.fits: the image (24576, 32768) (3.0 GiB) does not fit in memory" in line


def test_a_stack_with_frames_not_measured_exits_3_and_keeps_the_others(tmp_path):
    stack = _stack(frames=4)
    stack[2] = 1.0  # a constant frame: its shift is unconstrained
    np.save(tmp_path / "stack.npy", stack)
    done = run("stack", "stack.npy", "-o", "s.csv", "--boundary", "wrap", cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert "1 of 4 frames have a shift or error that is not finite (frames 2)" in done.stderr
    rows = (tmp_path / "s.csv").read_text().splitlines()[1:]
    errors = np.array([[float(v) for v in row.split(",")[3:5]] for row in rows])
    assert np.all(np.isinf(errors[2]))
    assert np.all(np.isfinite(np.delete(errors, 2, axis=0)))
