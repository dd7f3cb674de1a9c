"""``napari-imreg``: headless registration of image pairs and stacks from the shell.

::

    napari-imreg pair reference.fits moving.fits
    napari-imreg stack movie.tif -o shifts.csv --reference previous --registered aligned.zarr

Shifts are printed and written in numpy axis order (``dy, dx``; ``dz, dy, dx``
for volumes) with the core's sign: the translation that registers the moving
image (each frame) onto the reference. Bad input ends the command with a
one-line message on stderr and a non-zero exit status.

Nothing the user had is lost: no output may name an input, an existing output is
kept unless ``--overwrite`` is given, and every output is written under a
temporary name and renamed into place only when the whole run has succeeded.

Exit status: 0 for a measurement, 1 for an error, 2 for a usage error, 3 when the
run finished but the answer is not a measurement (a shift or error that is not
finite, or an answer the core flagged: ``measured`` False; for a stack, any frame's),
130 when interrupted (Ctrl-C).
"""

from __future__ import annotations

import contextlib
import math
import sys
import warnings
from pathlib import Path

import click

from napari_imreg._cli_options import StackReference, common_options, core_options, mask_options
from napari_imreg._cli_runtime import (
    FrameProgress,
    check_outputs,
    dask_config,
    dask_scheduler,
    one_line,
)
from napari_imreg.core import register, register_stack

__all__ = ["cli", "main"]

#: Exit status of a run whose answer is not a measurement (see the module docstring).
NOT_MEASURED = 3
#: Exit status after Ctrl-C, as shells report a process ended by SIGINT.
INTERRUPTED = 130
#: Seconds allowed to reach a dask scheduler and hear it answer as one.
SCHEDULER_TIMEOUT = 20


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="napari-imreg")
def cli():
    """Sub-pixel image registration with calibrated error bars.

    Shifts are in numpy axis order (dy, dx) and register the moving image onto
    the reference.
    """


@cli.command()
@click.argument("reference", type=click.Path(exists=True, dir_okay=True))
@click.argument("moving", type=click.Path(exists=True, dir_okay=True))
@core_options(register)
@common_options
@mask_options
@click.option(
    "--reference-error",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="1-sigma noise per pixel of the reference image.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def pair(
    reference, moving, error, dataset, mask_path, fits_mask, reference_error, as_json, **options
):
    """Register MOVING onto REFERENCE (FITS, TIFF, npy or zarr) and print the shift.

    The pixels a FITS file's DQ or MASK extension flags are ignored (--no-fits-mask: used),
    and so are those of --mask.
    """
    from napari_imreg import _io
    from napari_imreg._shift_table import axis_names
    from napari_imreg.core import RegistrationWarning

    ref = _io.read_image(reference, dataset=dataset)
    mov = _io.read_image(moving, dataset=dataset)
    mask = _pair_mask(reference, moving, ref.shape, mask_path, fits_mask)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RegistrationWarning)
        result = register(
            ref,
            mov,
            error=error,
            reference_error=reference_error,
            mask=mask,
            **options,
        )
    for caught_warning in caught:  # still shown on stderr, as without the recording
        warnings.warn_explicit(
            caught_warning.message,
            caught_warning.category,
            caught_warning.filename,
            caught_warning.lineno,
        )
    notes = [str(w.message) for w in caught if issubclass(w.category, RegistrationWarning)]
    unmeasured = _unmeasured(result, notes)
    names = axis_names(len(result.shift))
    if as_json:
        import json

        payload = {
            "axes": list(names),
            "shift": _finite_or_none(result.shift),
            "error": None if result.error is None else _finite_or_none(result.error),
            "chi2": _finite_or_none(result.chi2_min),
            "dof": _finite_or_none(result.dof),
            "noise": _finite_or_none(result.noise),
            "boundary": result.boundary,
            "measured": unmeasured is None,
            "why_not_measured": unmeasured,
        }
        # allow_nan=False: a value this code failed to turn into null raises, never prints NaN.
        click.echo(json.dumps(payload, allow_nan=False))
    else:
        parts = ", ".join(
            f"{s:+.4f} ± {e:.4f}" for s, e in zip(result.shift, result.error, strict=True)
        )
        click.echo(f"shift (d{', d'.join(names)}) = ({parts}) px")
        if result.chi2_min is not None and result.dof:
            click.echo(f"chi2 = {result.chi2_min:.6g} for {result.dof:.0f} degrees of freedom")
    if unmeasured is not None:
        raise _NotMeasured(unmeasured)


def _pair_mask(reference, moving, shape, mask_path, fits_mask):
    """(reference mask, moving mask) from --mask and each FITS file's DQ/MASK; None if none."""
    import numpy as np

    from napari_imreg import _io

    shared = None if mask_path is None else _io.read_mask(mask_path, {"the images": shape})
    flags = [_file_flags(path, shape) if fits_mask else None for path in (reference, moving)]
    if shared is None and all(flagged is None for flagged in flags):
        return None
    masks = []
    for flagged in flags:
        ignored = np.zeros(shape, dtype=bool)
        for part in (shared, flagged):
            if part is not None:
                ignored |= part
        masks.append(ignored)
    return tuple(masks)


def _file_flags(path, *shapes):
    """The pixels a FITS file's DQ/MASK extension flags, or None; refused if on another grid."""
    from napari_imreg import _io

    flags = _io.read_fits_mask(path)
    if flags is not None and flags.shape not in shapes:
        raise click.UsageError(
            f"{path}: its DQ/MASK extension has shape {flags.shape}, but the image "
            f"{' or '.join(map(str, shapes))}; use --no-fits-mask to register without it."
        )
    return flags


class _NotMeasured(click.ClickException):
    """The run finished, but its answer is not a measurement (exit status 3)."""

    exit_code = NOT_MEASURED

    def format_message(self) -> str:
        return f"no measurement: {self.message}"


def _finite_or_none(value):
    """``value`` (a number or a sequence) with every non-finite number replaced by ``None``."""
    if value is None:
        return None
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return float(value) if math.isfinite(value) else None


def _unmeasured(result, notes: list[str]) -> str | None:
    """Why ``result`` is not a measurement, or ``None``: values that are not finite, or a
    finite answer the core flagged (``measured`` False: a rival match as good, the edge of
    the search window), with the core's warnings."""
    import numpy as np

    bad = [
        f"{name} is {'/'.join(sorted({str(v) for v in np.ravel(values) if not np.isfinite(v)}))}"
        for name, values in (("shift", result.shift), ("error", result.error))
        if values is not None and not np.all(np.isfinite(values))
    ]
    if not bad and not result.measured:
        bad = ["the registration flagged its answer (measured is False)"]
    if not bad:
        return None
    return "; ".join(bad) + (f" ({' '.join(notes)})" if notes else "")


@cli.command()
@click.argument("stack_path", metavar="STACK", type=click.Path(exists=True, dir_okay=True))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default=None,
    help="CSV file for the shifts ('-' for standard output). Default: STACK_shifts.csv here.",
)
@click.option("--axis", type=int, default=0, show_default=True, help="The frame axis.")
@click.option(
    "--reference",
    type=StackReference(),
    default="0",
    show_default=True,
    help="A frame index, 'mean', 'previous' (frame to frame, drift accumulated) or an image file.",
)
@core_options(register_stack)
@common_options
@mask_options
@click.option(
    "--registered",
    type=click.Path(dir_okay=True, writable=True),
    default=None,
    help="Also write the registered stack here (.zarr, .tif or .tiff).",
)
@click.option(
    "--order",
    type=click.IntRange(0, 5),
    default=3,
    show_default=True,
    help="Spline order used to move the frames ('overlap').",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Frames registered at once (default: the number of CPUs).",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Address of a dask.distributed scheduler to run on (default: local threads).",
)
@click.option(
    "--scheduler-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=SCHEDULER_TIMEOUT,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for the scheduler to answer.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: when stderr is a terminal).",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace outputs that exist already (an input is never replaced).",
)
def stack(
    stack_path,
    output,
    axis,
    reference,
    error,
    dataset,
    mask_path,
    fits_mask,
    registered,
    order,
    workers,
    scheduler,
    scheduler_timeout,
    progress,
    overwrite,
    **options,
):
    """Register every frame of STACK (multi-page TIFF, FITS cube, zarr, npy) to CSV.

    The pixels a FITS stack's DQ or MASK extension flags are ignored (--no-fits-mask: used),
    and so are those of --mask (one frame's grid, for every frame, or the stack's).

    The outputs appear together when the run succeeds; until then, and after a failure or
    Ctrl-C, the files of an earlier run stay as they were.
    """
    from napari_imreg import _io
    from napari_imreg._shift_table import write_shift_rows
    from napari_imreg.core import apply_shifts
    from napari_imreg.core._atomic import Staging

    if registered is not None and not str(registered).lower().rstrip("/").endswith(
        _io.STACK_OUTPUT_SUFFIXES
    ):
        raise click.BadParameter(
            f"{registered}: use a name ending in .zarr, .tif or .tiff", param_hint="--registered"
        )
    table = None if output == "-" else Path(output or f"{Path(stack_path).stem}_shifts.csv")
    outputs = [("--output", table), ("--registered", registered)]
    inputs = [stack_path, *([reference] if isinstance(reference, Path) else [])]
    # Checked before the work starts, so that a refusal costs nothing.
    check_outputs([(o, p) for o, p in outputs if p is not None], inputs, overwrite=overwrite)

    frames = _io.read_stack(stack_path, dataset=dataset)
    if isinstance(reference, Path):
        reference = _io.read_image(reference)
    mask = _stack_mask(stack_path, tuple(frames.shape), axis, mask_path, fits_mask)
    frame_shape = _frame_shape(stack_path, tuple(frames.shape), axis)
    with _about_frames(stack_path, frame_shape, axis):
        result = register_stack(
            frames, axis=axis, reference=reference, error=error, mask=mask, **options
        )
    count = result.shifts.shape[0]
    disable = None if progress is None else not progress
    with dask_scheduler(scheduler, workers, scheduler_timeout) as compute_options:
        about_frames = _about_frames(stack_path, frame_shape, axis)
        with FrameProgress(count, "registering", disable) as callback, about_frames:
            result = result.compute(**compute_options)
            callback.finish()
        columns = {"chi2": result.chi2, "dof": result.dof, "noise": result.noise}
        columns["measured"] = result.measured
        with Staging() as staging:
            if table is None:
                write_shift_rows(sys.stdout, result.shifts, result.errors, **columns)
            else:
                with staging.path_for(table).open("w", newline="") as stream:
                    write_shift_rows(stream, result.shifts, result.errors, **columns)
            if registered is not None:
                aligned = apply_shifts(
                    frames, result.shifts, axis=axis, boundary=result.boundary, order=order
                )
                from tqdm import tqdm

                bar = tqdm(total=count, unit="frame", desc="writing", disable=disable)
                with bar, dask_config(compute_options):
                    _io.write_stack(staging.path_for(registered), aligned, on_frames=bar.update)
    if table is not None:
        click.echo(f"shifts of {count} frames written to {table}", err=True)
    if registered is not None:
        click.echo(f"registered stack written to {registered}", err=True)
    unmeasured = _unmeasured_frames(result.shifts, result.errors, result.measured)
    if unmeasured is not None:
        raise _NotMeasured(unmeasured)


def _frame_shape(stack_path, shape: tuple[int, ...], axis: int) -> tuple[int, ...]:
    """One frame's shape; a stack of fewer than two frames along ``axis`` is refused (an
    axis out of range is left to the core's message)."""
    if not -len(shape) <= axis < len(shape):
        return shape
    if shape[axis] < 2:
        raise click.ClickException(
            f"{stack_path}: has {shape[axis]} frame(s) along axis {axis} (shape {shape}); a "
            "stack needs at least 2 (register two images with 'napari-imreg pair')."
        )
    return tuple(n for i, n in enumerate(shape) if i != axis % len(shape))


@contextlib.contextmanager
def _about_frames(stack_path, frame_shape: tuple[int, ...], axis: int):
    """The core's refusals and warnings about the frames, said of the file: the core
    counts a frame's axes, which differ from the file's from the frame axis on. Those
    that name axes (:class:`~napari_imreg.core.AxisMessage`) name the file's."""
    from napari_imreg.core import AxisMessage

    frame_axis = axis % (len(frame_shape) + 1)

    def named(axes: tuple[int, ...]) -> str:
        told = ", ".join(str(k + (k >= frame_axis)) for k in axes)
        return f"axis {told} of the stack"

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if isinstance(message, AxisMessage):
            message = message.told(named)
        shown(message, category, filename, lineno, file, line)

    frames = f"{stack_path}: frames of shape {frame_shape} along axis {axis}"
    with warnings.catch_warnings():
        warnings.showwarning = show
        try:
            yield
        except ValueError as exc:
            if isinstance(exc, AxisMessage):
                raise ValueError(f"{frames}: {exc.told(named)}") from exc
            raise ValueError(f"{frames} (the axes that follow are a frame's): {exc}") from exc


def _stack_mask(stack_path, shape, axis, mask_path, fits_mask):
    """The pixels to ignore (one frame's grid, or the stack's as stored), or None."""
    import numpy as np

    from napari_imreg import _io

    axis = axis % len(shape) if -len(shape) <= axis < len(shape) else 0
    frame = tuple(n for i, n in enumerate(shape) if i != axis)
    grids = {"one frame": frame, "the stack": tuple(shape)}
    parts = [] if mask_path is None else [_io.read_mask(mask_path, grids)]
    flags = _file_flags(stack_path, frame, tuple(shape)) if fits_mask else None
    if flags is not None:
        parts.append(flags)
    if not parts:
        return None
    stacked = [part for part in parts if part.shape == tuple(shape)]
    shared = [part for part in parts if part.shape != tuple(shape)]
    one = np.logical_or.reduce(shared) if shared else None
    if not stacked:
        return one
    ignored = np.logical_or.reduce(stacked)
    # One frame's mask is every frame's: it broadcasts along the frame axis.
    return ignored if one is None else ignored | np.expand_dims(one, axis)


def _unmeasured_frames(shifts, errors, measured) -> str | None:
    """Which frames are not measurements (a shift or error that is not finite, or a finite
    answer the core flagged: ``measured`` False), or ``None`` if every frame is one."""
    import numpy as np

    lost = ~np.all(np.isfinite(shifts), axis=1) | ~np.all(np.isfinite(errors), axis=1)
    bad = lost | ~np.asarray(measured, dtype=bool)
    if not bad.any():
        return None
    parts = []
    nan_rows = "; their rows hold nan or inf"
    for frames, what, rows in (
        (np.flatnonzero(lost), "a shift or error that is not finite", nan_rows),
        (np.flatnonzero(bad & ~lost), "an answer the registration flagged (measured False)", ""),
    ):
        if frames.size:
            listed = ", ".join(str(i) for i in frames[:10]) + (", ..." if frames.size > 10 else "")
            parts.append(f"{frames.size} of {bad.size} frames have {what} (frames {listed}){rows}")
    return "; ".join(parts) + "."


def main(argv=None) -> int:
    """Entry point of the ``napari-imreg`` console script; returns the exit status."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            cli.main(args=argv, prog_name="napari-imreg", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):  # click turns Ctrl-C into Abort
        click.echo("napari-imreg: interrupted; no output was changed.", err=True)
        return INTERRUPTED
    except _NotMeasured as exc:
        click.echo(f"napari-imreg: {one_line(exc.format_message())}", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"napari-imreg: error: {one_line(exc.format_message())}", err=True)
        return exc.exit_code
    except (ValueError, TypeError, OSError) as exc:
        click.echo(f"napari-imreg: error: {one_line(str(exc))}", err=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
