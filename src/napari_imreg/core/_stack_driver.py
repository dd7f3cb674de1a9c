"""The one stack driver: frames registered one at a time, against one reference or
each onto the frame before it.

:func:`register_stack`'s dask tasks and :func:`iter_register_stack` both run these
generators, so a stack is registered the same way whichever entry point is used.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import numpy as np

from . import _fft
from ._options import Options
from ._register import Registrar
from ._result import RegistrationResult, held_warnings, warn_registration
from ._template import moved_frame
from ._threads import started_pool

T = TypeVar("T")


def in_order(tasks: Iterable[Callable[[], T]], workers: int) -> Iterator[T]:
    """Run ``tasks`` on ``workers`` threads, each with one BLAS thread, yielding their
    results in order.

    At most ``workers`` tasks run ahead of the one the caller waits for, so that memory
    stays bounded; closing the iterator cancels those not yet started (the running ones
    finish in the background). The tasks' registration warnings are raised from the
    caller's thread as their results are yielded. One worker runs each task when its
    result is asked for.
    """
    if workers <= 1:
        for task in tasks:
            yield task()
        return
    tasks = iter(tasks)
    pool = started_pool(workers, "register-stack")
    pending = deque()

    def submit(task):
        pending.append(pool.submit(_with_one_blas_thread, task))

    try:
        for task in itertools.islice(tasks, workers):
            submit(task)
        while pending:
            result, said = pending.popleft().result()
            for task in itertools.islice(tasks, 1):
                submit(task)
            for message in said:  # at the caller, from the caller's thread
                warn_registration(message)
            yield result
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def computed_in_threads(graph, workers: int):
    """``graph`` (a dask collection) computed on ``workers`` threads of a pool of its
    own, which is waited for: a task that raises leaves no frame registering after
    the call, as it would in a thread of dask's shared pool (holding the cores, and
    the locks a later stack's fork would copy held)."""
    pool = started_pool(workers, "register-stack")
    try:
        return graph.compute(scheduler="threads", pool=pool)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _with_one_blas_thread(task: Callable[[], T]) -> tuple[T, list[str]]:
    """The task's result, and the warnings it held for the caller."""
    with _fft.one_blas_thread(), held_warnings() as said:
        return task(), said


def row_columns(ndim: int) -> int:
    """Columns of the per-frame table: shift, error, chi2, dof, noise, flagged."""
    return 2 * ndim + 4


def flagged_column(ndim: int) -> int:
    """The table's column that is 1 where the frame's answer is not a measurement
    (``measured`` False), 0 where it is: a row of zeros (the reference frame) is measured."""
    return 2 * ndim + 3


def table(results: Iterable[RegistrationResult | None], count: int, ndim: int) -> np.ndarray:
    """The per-frame table of ``count`` results; a None result (the reference frame
    itself) leaves its row at 0."""
    out = np.zeros((count, row_columns(ndim)))
    for row, result in enumerate(results):
        if result is None:
            continue
        out[row, :ndim] = result.shift
        out[row, ndim : 2 * ndim] = result.error if result.error is not None else np.nan
        out[row, 2 * ndim] = np.nan if result.chi2_min is None else result.chi2_min
        out[row, 2 * ndim + 1] = np.nan if result.dof is None else result.dof
        out[row, 2 * ndim + 2] = np.nan if result.noise is None else result.noise
        out[row, flagged_column(ndim)] = 0.0 if result.measured else 1.0
    return out


def unmeasured(ndim: int, boundary: str) -> RegistrationResult:
    """The result of a frame that could not be measured: NaN shift, infinite error."""
    return RegistrationResult(
        shift=np.full(ndim, np.nan),
        error=np.full(ndim, np.inf),
        covariance=np.diag(np.full(ndim, np.inf)),
        boundary=boundary,
        method="unmeasured",
        measured=False,
    )


def at_origin(ndim: int, boundary: str) -> RegistrationResult:
    """The result of the frame the others are measured from: zero shift and error."""
    return RegistrationResult(
        shift=np.zeros(ndim),
        error=np.zeros(ndim),
        covariance=np.zeros((ndim, ndim)),
        chi2_min=0.0,
        boundary=boundary,
        method="reference",
    )


def from_row(row: np.ndarray, ndim: int, boundary: str) -> RegistrationResult:
    """A result from its row of :func:`table` (shift, error, chi2, dof, noise, flagged)."""
    error = row[ndim : 2 * ndim]
    return RegistrationResult(
        shift=row[:ndim],
        error=error,
        covariance=np.diag(np.square(error)),
        chi2_min=float(row[2 * ndim]),
        dof=float(row[2 * ndim + 1]),
        noise=float(row[2 * ndim + 2]),
        boundary=boundary,
        measured=not row[flagged_column(ndim)],
    )


def _has_valid_pixel(image, mask=None) -> bool:
    valid = np.isfinite(image)
    if mask is not None:
        valid &= ~np.asarray(mask)
    return bool(valid.any())


_NO_PIXEL = "it has no valid pixel (all NaN, infinite or masked)"


def _warn_unmeasured(index: int, why: str) -> None:
    warn_registration(
        f"frame {index} was not measured: {why}. Its shift is NaN and its error infinite; "
        "the other frames are kept."
    )


def against_one(
    reference: np.ndarray,
    reference_error,
    frames: Iterable,
    options: Options,
    *,
    reference_mask=None,
    workers: int = 1,
    quiet: bool = False,
) -> Iterator[RegistrationResult | None]:
    """Register each ``(index, frame, error, mask)`` of ``frames`` onto ``reference``
    (its pixels where ``reference_mask`` is True ignored), prepared once per worker
    thread; an item None (the reference frame itself) yields None. ``quiet``: drop
    the frames' warnings (a first pass whose results are superseded).

    A frame with no valid pixel (all NaN, infinite or masked) gives :func:`unmeasured`
    and a warning naming it, rather than an error that would lose every other frame's
    result.
    """
    local = threading.local()

    def registrar() -> Registrar:
        if not hasattr(local, "registrar"):
            local.registrar = Registrar.from_options(
                reference, options, reference_error=reference_error, reference_mask=reference_mask
            )
        return local.registrar

    if workers <= 1:
        registrar()  # the reference's problems are reported before any frame is read

    def run(item):
        if not quiet:
            return _one(registrar, item, options)
        with held_warnings():
            return _one(registrar, item, options)

    def task(item):
        return lambda: run(item)

    return in_order((task(item) for item in frames), workers)


def _one(registrar, item, options: Options) -> RegistrationResult | None:
    if item is None:
        return None
    index, frame, error, mask = item
    try:
        return registrar().register(frame, error=error, mask=mask, delta_chi2_map=False)
    except ValueError:
        # Checked only on failure, so the frames that register pay nothing for it.
        if _has_valid_pixel(frame, mask):
            raise
        _warn_unmeasured(index, _NO_PIXEL)
        return unmeasured(np.ndim(frame), options.boundary)


def chunk_onto_one(
    *,
    frames: np.ndarray,
    first: int,
    reference: np.ndarray,
    options: Options,
    reference_error=None,
    reference_mask=None,
    error=None,
    errors=None,
    mask=None,
    masks=None,
    skip: int | None = None,
    quiet: bool = False,
) -> list[RegistrationResult | None]:
    """The results of :func:`against_one` for ``frames``, frames ``first`` on of the
    stack, in one thread: a worker process's job. Each frame's noise and mask are
    its row of ``errors`` and ``masks`` (one per frame of the chunk), else the shared
    ``error`` and ``mask``; frame ``skip`` (the reference itself) gives None."""
    items = (
        None
        if first + row == skip
        else (first + row, frame, _own(errors, error, row), _own(masks, mask, row))
        for row, frame in enumerate(frames)
    )
    results = against_one(
        reference, reference_error, items, options, reference_mask=reference_mask, quiet=quiet
    )
    return list(results)


def chunk_steps(
    *,
    frames: np.ndarray,
    first: int,
    options: Options,
    error=None,
    errors=None,
    mask=None,
    masks=None,
) -> list[RegistrationResult]:
    """The steps of :func:`onto_previous` for each frame of ``frames`` after the
    first (frames ``first`` on of the stack), in one thread: a worker process's job.
    Noise and masks as for :func:`chunk_onto_one`."""
    pairs = (
        (
            first + row,
            frames[row - 1],
            frames[row],
            _own(errors, error, row - 1),
            _own(errors, error, row),
            _own(masks, mask, row - 1),
            _own(masks, mask, row),
        )
        for row in range(1, len(frames))
    )
    return list(onto_previous(pairs, options))


def chunk_moved(
    *,
    frames: np.ndarray,
    first: int,
    shifts: np.ndarray,
    options: Options,
    mask=None,
    masks=None,
) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Each frame of ``frames`` (frames ``first`` on of the stack) moved by its row
    of ``shifts`` (one per frame of the stack) for the template of ``reference="mean"``
    (:func:`~._template.moved_frame`), in one thread: a worker process's job. Masks as
    for :func:`chunk_onto_one`."""
    wrap = options.boundary == "wrap"
    return [
        moved_frame(frame, shifts[first + row], _own(masks, mask, row), wrap=wrap)
        for row, frame in enumerate(frames)
    ]


def _own(rows, shared, row: int):
    """Frame ``row``'s entry of ``rows`` (one per frame), else the ``shared`` one."""
    return shared if rows is None else rows[row]


def onto_previous(
    pairs: Iterable, options: Options, *, workers: int = 1
) -> Iterator[RegistrationResult]:
    """Register each frame of ``(index, previous, frame, previous_error, error,
    previous_mask, mask)`` onto its predecessor, both ways (:func:`_step`): the steps
    of the drift.

    A step that touches a frame with no valid pixel gives :func:`unmeasured`, with a
    warning naming the frame (:func:`chained` bridges the drift over it).
    """

    local = threading.local()

    def prepared() -> dict:
        if not hasattr(local, "prepared"):
            local.prepared = {}
        return local.prepared

    def task(pair):
        return lambda: _step(pair, options, prepared())

    return in_order((task(pair) for pair in pairs), workers)


def chained(
    steps: Iterable[RegistrationResult],
    bridge: Callable[[int, int], RegistrationResult],
    origin_result: RegistrationResult,
) -> Iterator[RegistrationResult]:
    """The drift of every frame from ``steps`` (step ``i - 1`` registers frame ``i``
    onto frame ``i - 1``): the steps added up, their covariances summed, from the
    origin, whose result is ``origin_result`` (a zero shift and error).

    Only measured steps are added up. A frame whose predecessor's drift is not a
    measurement (a blank, featureless or unmatched frame, or one whose step was
    flagged, ``measured`` False) is registered onto the last measured frame instead,
    ``bridge(anchor, index)`` (a step of the same kind): a dropped frame costs its own
    drift, not every later frame's, and no later drift carries a step that was not a
    measurement. A frame whose step is flagged keeps the drift through that step
    (its error widened to reach the step's rivals), ``measured`` False; one whose step
    has no bounded answer gets a NaN drift and an infinite error.

    The origin is the first frame unless nothing can be measured against it (a
    blank or dark first frame): when a frame is measured onto its predecessor but
    neither it nor any frame before it onto the first frame, the drifts are measured
    from that predecessor instead, with a warning, and the frames before it are not
    measured.
    """
    origin, held = 0, []
    steps = enumerate(steps, start=1)
    for index, step in steps:
        if index > 1:
            bridged = bridge(origin, index)
            if not _linked(bridged) and _linked(step):
                origin = index - 1
                _warn_new_origin(origin)
                break
            step = bridged
        if _linked(step):
            break
        held.append(step)
    else:
        index, step = len(held) + 1, None
    yield origin_result if origin == 0 else _lost(origin_result)
    for before in held[: max(origin - 1, 0)]:
        yield _lost(before)
    if origin > 0:
        yield origin_result
    else:
        yield from (_through(before, 0.0, 0.0) for before in held)
    if step is None:
        return
    anchor, total, covariance = index, step.shift, step.covariance
    yield step
    for index, step in steps:
        if anchor != index - 1:
            step = bridge(anchor, index)
        result = _through(step, total, covariance)
        if result.measured:
            anchor, total, covariance = index, result.shift, result.covariance
        yield result


def _linked(step: RegistrationResult) -> bool:
    """True if ``step`` measured a frame onto another: bounded and not flagged."""
    return _finite(step) and step.measured


def _through(step: RegistrationResult, total, covariance) -> RegistrationResult:
    """``step`` added to the drift ``total`` (covariance ``covariance``) of the frame
    it registers onto; a step with no bounded answer gives a NaN drift."""
    if not _finite(step):
        return _lost(step)
    spread = covariance + step.covariance
    return dataclasses.replace(
        step, shift=total + step.shift, error=np.sqrt(np.diag(spread)), covariance=spread
    )


def _lost(result: RegistrationResult) -> RegistrationResult:
    """``result`` with a NaN drift and an infinite error, not measured."""
    lost = unmeasured(len(result.shift), result.boundary)
    return dataclasses.replace(
        result, shift=lost.shift, error=lost.error, covariance=lost.covariance, measured=False
    )


def _warn_new_origin(origin: int) -> None:
    warn_registration(
        f"no frame could be measured onto frame 0, and frame {origin + 1} was measured onto "
        f"frame {origin}: the drifts are measured from frame {origin}, and the frames before "
        "it are not measured (NaN shift, infinite error)."
    )


def bridge_step(pair, options: Options) -> RegistrationResult:
    """:func:`_step` for a frame registered onto an earlier frame than its predecessor
    (see :func:`chained`); a frame with no valid pixel was reported by its own step."""
    frame, mask = pair[2], pair[6]
    if not _has_valid_pixel(frame, mask):
        return unmeasured(np.ndim(frame), options.boundary)
    return _step(pair, options)


def _step(pair, options: Options, prepared: dict | None = None) -> RegistrationResult:
    """Frame ``index`` registered onto its predecessor, measured both ways.

    The reference is filtered and tapered as it is and the moving image is
    interpolated, so a pair has a bias of the same sign whichever image is the
    reference; the drift would add it up once per step. The mean of the step and of
    the reverse step, negated, cancels it. The two share their noise, so their
    covariances are averaged, not halved. A reverse step that is not measured
    leaves the forward step as it is; its warnings repeat the forward step's and are
    dropped.

    ``prepared`` (frame index: its :class:`Registrar`) keeps the frame prepared as the
    reverse step's reference for the next step, whose forward step it serves: each
    frame is then prepared once, not twice, where one thread runs consecutive steps
    (one worker, or a worker process's chunk: :func:`chunk_steps`). Threads given
    steps in turn rarely find the frame their step needs, and prepare it again.
    """
    index, previous, frame, previous_error, error, previous_mask, mask = pair
    forward = _one_way(
        previous,
        frame,
        previous_error,
        error,
        previous_mask,
        mask,
        options,
        index=index,
        reference_index=index - 1,
        prepared=prepared,
    )
    if not _finite(forward):
        return forward
    with held_warnings():
        reverse = _one_way(
            frame,
            previous,
            error,
            previous_error,
            mask,
            previous_mask,
            options,
            index=index,
            reference_index=index,
            prepared=prepared,
        )
    if not (_finite(reverse) and reverse.measured):
        return forward
    covariance = (forward.covariance + reverse.covariance) / 2
    return dataclasses.replace(
        forward,
        shift=(forward.shift - reverse.shift) / 2,
        error=np.sqrt(np.diag(covariance)),
        covariance=covariance,
    )


def _finite(result: RegistrationResult) -> bool:
    return bool(np.all(np.isfinite(result.shift)) and np.all(np.isfinite(result.covariance)))


def _one_way(
    reference,
    moving,
    reference_error,
    error,
    reference_mask,
    mask,
    options,
    *,
    index: int,
    reference_index: int,
    prepared: dict | None,
):
    """``moving`` registered onto ``reference`` in step ``index``; ``reference_index``
    is the reference's frame, ``prepared`` the prepared references (see :func:`_step`).
    A prepared reference had a valid pixel."""
    if prepared is not None and reference_index in prepared:
        registrar = prepared[reference_index]
    elif not _has_valid_pixel(reference, reference_mask):
        # Reported as the moving frame of the step before, unless it is the first.
        if index == 1:
            _warn_unmeasured(0, _NO_PIXEL)
        return unmeasured(np.ndim(moving), options.boundary)
    else:
        registrar = Registrar.from_options(
            reference, options, reference_error=reference_error, reference_mask=reference_mask
        )
        if prepared is not None:
            prepared.clear()  # one frame kept: the next step's predecessor
            prepared[reference_index] = registrar
    try:
        return registrar.register(moving, error=error, mask=mask, delta_chi2_map=False)
    except ValueError:
        if _has_valid_pixel(moving, mask):
            raise
        _warn_unmeasured(index, _NO_PIXEL)
        return unmeasured(np.ndim(moving), options.boundary)
