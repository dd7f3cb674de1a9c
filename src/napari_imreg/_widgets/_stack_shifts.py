"""What the stack widget does with the shifts it holds (measured or loaded): apply them to
the stack and other layers in a thread worker, and save or load them as CSV.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from napari.layers import Layer
from napari.utils.notifications import show_error, show_info

from napari_imreg._shift_table import load_shift_table, save_shifts_csv
from napari_imreg._widgets._layers import add_output, numbers
from napari_imreg._widgets._stack_model import StackJob, shifted_layers
from napari_imreg._widgets._worker import start_worker


class HeldShifts:
    """The stack widget's shifts-held actions, mixed into :class:`~._stack.StackWidget`.

    It uses the widget's ``viewer``, ``model``, ``worker``, ``shifts``, ``errors``,
    ``flagged``, ``last_added``, ``plot``, ``busy``, ``options`` and its layer, apply-to,
    button and status controls.
    """

    def apply_shifts(self, event: Any = None, *, job: StackJob | None = None) -> Any:
        """Add registered copies of the stack and the 'apply to' layers, with the shifts held
        (measured or loaded). The frames are resampled in a thread worker; the copies appear
        in the viewer (and in :attr:`last_added`) as each layer is done. Returns the worker,
        or None if there is nothing to apply.

        ``job``: the registration that measured the shifts, just finished: its layer and
        options are used, not the widget's choice, which may have changed while it ran (a
        stack layer removed from the viewer, another one chosen). Layers whose pixel size
        differs from the stack's are left out with a message: the shifts are in the stack's
        pixels.
        """
        if self.shifts is None or not len(self.shifts):
            show_info("No shifts yet: register the stack or load shifts from a CSV file.")
            return None
        if self.busy:
            show_info("Wait for the running registration to finish, or cancel it.")
            return None
        if job is None:
            try:
                self.model.options = self.options
            except (ValueError, TypeError) as exc:
                show_error(str(exc))
                return None
            stack = self._layer.value
        elif job.layer in list(self.viewer.layers) and job.layer.data is job.data:
            stack = job.layer
        elif job.layer in list(self.viewer.layers):
            show_info(
                f"The data of {job.layer.name!r} changed during the registration: no copy of "
                "it is added (the shifts, measured on the data it had, are kept: save "
                "them, or register it again)."
            )
            stack = None
        else:
            show_info(
                f"{job.layer.name!r} left the viewer during the registration: no copy of it "
                "is added (the shifts are kept: save them, or apply them to another layer)."
            )
            stack = None
        targets = [stack, *(self._apply_to.value or [])]
        targets = [layer for layer in dict.fromkeys(targets) if layer is not None]
        if not targets and job is None:
            show_info("No layer to apply the shifts to: choose a stack, or layers to apply to.")
            return None
        targets = _on_the_stacks_grid(targets, job.layer if job is not None else stack)
        if not targets:
            return None
        self.last_added = []
        worker = start_worker(
            self,
            shifted_layers,
            self.model,
            targets,
            np.array(self.shifts),
            self.flagged,
            total=len(targets),
            desc="Applying shifts",
            yielded=self._add_layer,
            errored=self._on_apply_error,
            finished=self._on_apply_finished,
        )
        self._apply_button.enabled = False
        return worker

    def save_csv(self, path: str | os.PathLike) -> Path | None:
        """Save the shifts held to a CSV file, with whether each frame is a measurement
        (False for a frame not measured, NaN, and for a flagged one)."""
        if self.shifts is None:
            show_info("No shifts to save yet.")
            return None
        measured = np.all(np.isfinite(self.shifts), axis=1)
        measured[list(self.flagged)] = False
        return save_shifts_csv(path, self.shifts, self.errors, measured=measured)

    def load_csv(self, path: str | os.PathLike) -> bool:
        """Load shifts from a CSV file (then "Apply shifts" re-applies them); the frames its
        ``measured`` column flags with a finite shift are held as flagged."""
        try:
            shifts, errors, measured = load_shift_table(path)
        except (OSError, ValueError) as exc:
            show_error(f"Could not load shifts: {exc}")
            return False
        finite = np.all(np.isfinite(shifts), axis=1)
        flagged = [] if measured is None else np.flatnonzero(finite & ~measured).tolist()
        self.shifts, self.errors, self.flagged = shifts, errors, flagged
        self._apply_button.enabled = self._save_button.enabled = True
        self._status.value = f"Loaded {len(shifts)} shifts from {Path(path).name}."
        self.plot.set_data(shifts, errors, len(shifts))
        return True

    def _add_layer(self, layer_data: tuple[Any, dict[str, Any], str]) -> None:
        data, kwargs, kind = layer_data
        self.last_added.append(add_output(self.viewer, kind, data, **kwargs))

    def _on_apply_error(self, exc: Exception) -> None:
        show_error(f"Could not apply the shifts: {exc}")

    def _on_apply_finished(self) -> None:
        self.worker = None
        self._run_button.enabled = self._apply_button.enabled = True
        self._cancel_button.enabled = False

    def _ask_save(self, event: Any = None) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(
            self.native, "Save shifts", "shifts.csv", "CSV (*.csv)"
        )
        if path:
            self.save_csv(path)

    def _ask_load(self, event: Any = None) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self.native, "Load shifts", "", "CSV (*.csv)")
        if path:
            self.load_csv(path)


def _on_the_stacks_grid(layers: list[Layer], stack: Layer | None) -> list[Layer]:
    """``layers`` without those whose pixel size differs from the stack's (the shifts are in
    the stack's pixels), each left out with a message."""
    if stack is None:
        return layers
    kept = []
    for layer in layers:
        n = min(layer.ndim, stack.ndim)
        if np.allclose(np.asarray(layer.scale)[-n:], np.asarray(stack.scale)[-n:]):
            kept.append(layer)
        else:
            show_error(
                f"{layer.name!r} has another pixel size than {stack.name!r} (scale "
                f"{numbers(layer.scale)} and {numbers(stack.scale)}): the shifts, in "
                f"{stack.name!r}'s pixels, are not applied to it."
            )
    return kept
