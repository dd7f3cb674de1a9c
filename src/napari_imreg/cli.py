"""``napari-imreg``: headless registration of image pairs and stacks from the shell.

::

    napari-imreg pair reference.fits moving.fits
    napari-imreg stack movie.tif -o shifts.csv --reference previous --registered aligned.zarr

Shifts are printed and written in numpy axis order (``dy, dx``; ``dz, dy, dx``
for volumes) with the core's sign: the translation that registers the moving
image (each frame) onto the reference. Bad input ends the command with a
one-line message on stderr and a non-zero exit status.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from pathlib import Path

import click

__all__ = ["cli", "main"]

_BOUNDARY = click.Choice(["overlap", "wrap"])


class _UpsampleFactor(click.ParamType):
    name = "auto|INTEGER"

    def convert(self, value, param, ctx):
        if value == "auto" or isinstance(value, int):
            return value
        try:
            number = int(value)
        except ValueError:
            self.fail(f"{value!r} is neither 'auto' nor an integer", param, ctx)
        if number < 1:
            self.fail(f"{value!r} must be >= 1", param, ctx)
        return number


class _Reference(click.ParamType):
    """A frame index, ``mean``, ``previous`` or the path of an image file."""

    name = "INDEX|mean|previous|FILE"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value in ("mean", "previous"):
            return value
        with contextlib.suppress(ValueError):
            return int(value)
        if Path(value).exists():
            return Path(value)
        self.fail(
            f"{value!r} is not a frame index, 'mean', 'previous' or an existing file", param, ctx
        )


def _common_options(function):
    options = [
        click.option(
            "--boundary",
            type=_BOUNDARY,
            default="overlap",
            show_default=True,
            help="'overlap': non-periodic images; 'wrap': periodic (like FFT phase correlation).",
        ),
        click.option(
            "--upsample-factor",
            type=_UpsampleFactor(),
            default="auto",
            show_default=True,
            help="Samples per pixel of the delta-chi2 map (the shift itself is continuous).",
        ),
        click.option(
            "--error",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="1-sigma noise per pixel of the moving image(s); default: from the data.",
        ),
        click.option(
            "--max-shift",
            type=click.FloatRange(min=0),
            default=None,
            help="Largest shift searched, in pixels (all axes).",
        ),
        click.option(
            "--dataset",
            default=None,
            help="The array of a zarr group, or the extension (name or number) of a FITS file.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


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
@_common_options
@click.option(
    "--reference-error",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="1-sigma noise per pixel of the reference image.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def pair(
    reference,
    moving,
    boundary,
    upsample_factor,
    error,
    max_shift,
    dataset,
    reference_error,
    as_json,
):
    """Register MOVING onto REFERENCE (FITS, TIFF, npy or zarr) and print the shift."""
    from napari_imreg import _io
    from napari_imreg.core import register

    ref = _io.read_image(reference, dataset=dataset)
    mov = _io.read_image(moving, dataset=dataset)
    result = register(
        ref,
        mov,
        error=error,
        reference_error=reference_error,
        boundary=boundary,
        upsample_factor=upsample_factor,
        max_shift=max_shift,
    )
    names = _io.axis_names(len(result.shift))
    if as_json:
        import json

        payload = {
            "axes": list(names),
            "shift": result.shift.tolist(),
            "error": None if result.error is None else result.error.tolist(),
            "chi2": result.chi2_min,
            "dof": result.dof,
            "noise": result.noise,
            "boundary": result.boundary,
        }
        click.echo(json.dumps(payload))
        return
    parts = ", ".join(
        f"{s:+.4f} ± {e:.4f}" for s, e in zip(result.shift, result.error, strict=True)
    )
    click.echo(f"shift (d{', d'.join(names)}) = ({parts}) px")
    if result.chi2_min is not None and result.dof:
        click.echo(f"chi2 = {result.chi2_min:.6g} for {result.dof:.0f} degrees of freedom")


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
    type=_Reference(),
    default="0",
    show_default=True,
    help="A frame index, 'mean', 'previous' (frame to frame, drift accumulated) or an image file.",
)
@_common_options
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
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: when stderr is a terminal).",
)
def stack(
    stack_path,
    output,
    axis,
    reference,
    boundary,
    upsample_factor,
    error,
    max_shift,
    dataset,
    registered,
    order,
    workers,
    scheduler,
    progress,
):
    """Register every frame of STACK (multi-page TIFF, FITS cube, zarr, npy) to CSV."""
    from napari_imreg import _io
    from napari_imreg.core import apply_shifts, register_stack

    if registered is not None and not str(registered).lower().rstrip("/").endswith(
        _io.STACK_OUTPUT_SUFFIXES
    ):
        raise click.BadParameter(
            f"{registered}: use a name ending in .zarr, .tif or .tiff", param_hint="--registered"
        )
    frames = _io.read_stack(stack_path, dataset=dataset)
    if isinstance(reference, Path):
        reference = _io.read_image(reference)
    result = register_stack(
        frames,
        axis=axis,
        reference=reference,
        error=error,
        boundary=boundary,
        upsample_factor=upsample_factor,
        max_shift=max_shift,
    )
    count = result.shifts.shape[0]
    disable = None if progress is None else not progress
    with _scheduler(scheduler, workers) as compute_options:
        with _FrameProgress(count, "registering", disable) as callback:
            result = result.compute(**compute_options)
            callback.finish()
        if output == "-":
            _io.write_shifts_csv(sys.stdout, result)
        else:
            target = Path(output) if output else Path(f"{Path(stack_path).stem}_shifts.csv")
            with open(target, "w", newline="") as stream:
                _io.write_shifts_csv(stream, result)
            click.echo(f"shifts of {count} frames written to {target}", err=True)
        if registered is not None:
            aligned = apply_shifts(
                frames, result.shifts, axis=axis, boundary=boundary, order=order
            )
            from tqdm import tqdm

            bar = tqdm(total=count, unit="frame", desc="writing", disable=disable)
            with bar, _dask_config(compute_options):
                _io.write_stack(registered, aligned, on_frames=bar.update)
            click.echo(f"registered stack written to {registered}", err=True)


@contextlib.contextmanager
def _dask_config(compute_options):
    import dask

    with dask.config.set(**{k: v for k, v in compute_options.items() if k != "num_workers"}):
        yield


@contextlib.contextmanager
def _scheduler(address, workers):
    """Keyword arguments for ``dask.compute``: local threads, or a distributed client."""
    if address is None:
        options = {"scheduler": "threads"}
        if workers is not None:
            options["num_workers"] = workers
        yield options
        return
    try:
        from distributed import Client
    except ImportError:
        raise click.ClickException(
            "--scheduler needs dask.distributed: pip install 'napari-imreg[distributed]'."
        ) from None
    try:
        client = Client(address, timeout="10s")
    except OSError as exc:
        raise click.ClickException(f"cannot reach the scheduler at {address} ({exc}).") from None
    with client:
        yield {"scheduler": client}


class _FrameProgress:
    """A tqdm bar advanced by the registration tasks of a dask computation."""

    def __init__(self, total: int, description: str, disable):
        self.total = total
        self.description = description
        self.disable = disable

    def __enter__(self):
        from dask.callbacks import Callback
        from tqdm import tqdm

        self.bar = tqdm(
            total=self.total, unit="frame", desc=self.description, disable=self.disable
        )
        bar = self.bar

        class _Tasks(Callback):
            def _posttask(self, key, result, dsk, state, worker_id):
                name = key[0] if isinstance(key, tuple) else key
                if str(name).startswith("register-stack") and hasattr(result, "shape"):
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


def main(argv=None) -> int:
    """Entry point of the ``napari-imreg`` console script; returns the exit status."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            cli.main(args=argv, prog_name="napari-imreg", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        click.echo("napari-imreg: aborted.", err=True)
        return 1
    except click.ClickException as exc:
        click.echo(f"napari-imreg: error: {_one_line(exc.format_message())}", err=True)
        return exc.exit_code
    except (ValueError, TypeError, OSError) as exc:
        click.echo(f"napari-imreg: error: {_one_line(str(exc))}", err=True)
        return 1
    return 0


def _one_line(message: str) -> str:
    return " ".join(message.split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
