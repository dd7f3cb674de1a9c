"""Two small plots drawn with Qt alone: the shift of each frame, and the Δχ² map of a pair.

Qt is what the widgets already stand on, so the plots need no plotting library (napari's
plugin manager installs without extras, and a matplotlib redraw cost more than registering a
frame). Each plot holds its data and paints it on demand; nothing here computes a shift.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from qtpy.QtCore import QPointF, QRectF, Qt
from qtpy.QtGui import QColor, QImage, QPainter, QPen, QPolygonF
from qtpy.QtWidgets import QSizePolicy, QWidget

from napari_imreg._shift_table import axis_names

#: Colours of the Δχ² regions, shared with the map layer's colormap: inside 1σ, 1-2σ, 2-3σ,
#: beyond 3σ (RGBA, 0-1).
SIGMA_COLORS = np.array(
    [
        [1.00, 0.93, 0.35, 1.0],
        [0.96, 0.55, 0.20, 1.0],
        [0.55, 0.20, 0.55, 1.0],
        [0.08, 0.06, 0.18, 1.0],
    ]
)
SIGMA_LABELS = ("1σ (68%)", "2σ (95%)", "3σ (99.7%)")
_SERIES_COLORS = ("#4fc3f7", "#ff8a65", "#aed581")
_TEXT = QColor("#dddddd")
_GRID = QColor(255, 255, 255, 40)
_MARGIN = (46, 10, 12, 30)  # left, top, right, bottom (pixels)


def ellipse_points(
    centre: np.ndarray, covariance: np.ndarray, level: float, n: int = 96
) -> np.ndarray:
    """Points ``(n, 2)`` of the ellipse where the fitted quadratic Δχ² equals ``level``.

    With ``covariance`` ``C`` (of the two plotted components, the others held at their best
    value), Δχ² = dsᵀ C⁻¹ ds, so the ellipse is ``centre + sqrt(level) L u`` with ``L`` the
    Cholesky factor of ``C`` and ``u`` the unit circle.
    """
    angle = np.linspace(0.0, 2.0 * np.pi, n)
    circle = np.stack([np.cos(angle), np.sin(angle)])
    factor = np.linalg.cholesky(covariance)
    return np.asarray(centre)[None, :] + np.sqrt(level) * (factor @ circle).T


class _Plot(QWidget):
    """A plot area with a frame and axis labels; subclasses paint the data."""

    def __init__(self, parent: QWidget | None = None, height: int = 190):
        super().__init__(parent)
        self.setMinimumHeight(height)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def _area(self) -> QRectF:
        left, top, right, bottom = _MARGIN
        return QRectF(left, top, self.width() - left - right, self.height() - top - bottom)

    def _background(self, painter: QPainter) -> None:
        painter.fillRect(self.rect(), QColor("#262930"))
        painter.setPen(QPen(_GRID))
        painter.drawRect(self._area())


class ShiftPlot(_Plot):
    """Shift against frame, one line per axis with its 1σ band; frames not (yet) registered
    are shaded and labelled so that a partial result cannot pass for a whole one."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.shifts: np.ndarray | None = None
        self.errors: np.ndarray | None = None
        self.n_frames = 0
        #: The shift components' names (:func:`~napari_imreg._shift_table.axis_names`).
        self.names: tuple[str, ...] | None = None

    def set_data(
        self,
        shifts: np.ndarray | None,
        errors: np.ndarray | None,
        n_frames: int,
        names: Sequence[str] | None = None,
    ) -> None:
        """Plot ``shifts`` (frames done, ndim) out of ``n_frames`` and schedule a repaint;
        ``names``: the shift's components (else the default :func:`axis_names`)."""
        self.names = None if names is None else tuple(names)
        self.shifts = None if shifts is None else np.asarray(shifts, dtype=float)
        self.errors = None if errors is None else np.asarray(errors, dtype=float)
        self.n_frames = int(n_frames)
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._background(painter)
        area = self._area()
        painter.setPen(_TEXT)
        painter.drawText(
            QRectF(area.left(), area.bottom() + 4, area.width(), 20),
            int(Qt.AlignmentFlag.AlignHCenter),
            "frame",
        )
        shifts = self.shifts
        if shifts is None or not len(shifts):
            painter.drawText(area, int(Qt.AlignmentFlag.AlignCenter), "shift per frame (px)")
            painter.end()
            return
        errors = np.zeros_like(shifts) if self.errors is None else self.errors
        errors = np.where(np.isfinite(errors), errors, 0.0)
        low, high = float(np.min(shifts - errors)), float(np.max(shifts + errors))
        pad = max(high - low, 1e-3) * 0.08
        low, high = low - pad, high + pad
        total = max(self.n_frames, len(shifts), 2)

        def point(frame: float, value: float) -> QPointF:
            x = area.left() + area.width() * frame / (total - 1)
            y = area.bottom() - area.height() * (value - low) / (high - low)
            return QPointF(x, y)

        done = len(shifts)
        if done < total:  # the frames without a shift
            start = point(done - 0.5, high).x()
            shade = QRectF(start, area.top(), area.right() - start, area.height())
            painter.fillRect(shade, QColor(255, 255, 255, 25))
            if shade.width() > painter.fontMetrics().horizontalAdvance("not registered"):
                painter.drawText(shade, int(Qt.AlignmentFlag.AlignCenter), "not registered")
        frames = np.arange(done)
        names = self.names if self.names is not None else axis_names(shifts.shape[1])
        for axis in range(shifts.shape[1]):
            color = QColor(_SERIES_COLORS[axis % len(_SERIES_COLORS)])
            upper = shifts[:, axis] + errors[:, axis]
            lower = shifts[:, axis] - errors[:, axis]
            band = [point(f, v) for f, v in zip(frames, upper, strict=True)]
            band += [point(f, v) for f, v in zip(frames[::-1], lower[::-1], strict=True)]
            fill = QColor(color)
            fill.setAlpha(60)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(fill)
            painter.drawPolygon(QPolygonF(band))
            painter.setPen(QPen(color, 1.5))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            line = [point(f, v) for f, v in zip(frames, shifts[:, axis], strict=True)]
            painter.drawPolyline(QPolygonF(line))
            painter.drawText(
                QPointF(area.left() + 6 + 44 * axis, area.top() + 14), f"d{names[axis]}"
            )
        painter.setPen(_TEXT)
        for value in (low + pad, high - pad):
            painter.drawText(
                QRectF(0, point(0, value).y() - 8, _MARGIN[0] - 4, 16),
                int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                f"{value:.3g}",
            )
        painter.drawText(
            QRectF(area.left(), area.bottom() + 4, 40, 20), int(Qt.AlignmentFlag.AlignLeft), "0"
        )
        painter.drawText(
            QRectF(area.right() - 40, area.bottom() + 4, 40, 20),
            int(Qt.AlignmentFlag.AlignRight),
            str(total - 1),
        )
        painter.end()


class DeltaChi2Plot(_Plot):
    """The Δχ² map around the best shift: the 1σ/2σ/3σ regions in colour, the fitted
    ellipses as lines, the shift as a cross, a legend, and the axes in pixels of shift."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, height=230)
        self.image: np.ndarray | None = None  # (rows, columns) region index per sample
        self.extent: tuple[float, float, float, float] | None = None  # x0, x1, y0, y1
        self.shift: np.ndarray | None = None  # (dy, dx)
        self.ellipses: list[np.ndarray] = []  # (n, 2) points (dy, dx) per level
        self.title = ""

    def clear(self) -> None:
        """Show nothing (no result, or a result with no map)."""
        self.image, self.extent, self.shift, self.ellipses, self.title = None, None, None, [], ""
        self.update()

    def set_map(
        self,
        delta_chi2: np.ndarray,
        coords: Sequence[np.ndarray],
        levels: Sequence[float],
        shift: np.ndarray,
        covariance: np.ndarray | None,
        title: str,
    ) -> None:
        """Show a 2-D map (rows dy, columns dx) sampled at ``coords``, with its ``levels``."""
        self.image = np.searchsorted(np.asarray(levels), np.asarray(delta_chi2), side="right")
        step = [(c[1] - c[0]) / 2 if len(c) > 1 else 0.5 for c in coords]
        self.extent = (
            coords[1][0] - step[1],
            coords[1][-1] + step[1],
            coords[0][0] - step[0],
            coords[0][-1] + step[0],
        )
        self.shift = np.asarray(shift, dtype=float)
        self.ellipses = []
        if covariance is not None and np.all(np.isfinite(covariance)):
            try:
                self.ellipses = [ellipse_points(self.shift, covariance, lv) for lv in levels]
            except np.linalg.LinAlgError:  # not positive definite: the regions alone
                self.ellipses = []
        self.title = title
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._background(painter)
        full = self._area()
        legend_width = 86.0
        area = QRectF(full.left(), full.top(), full.width() - legend_width, full.height())
        if self.image is None or self.extent is None:
            painter.setPen(_TEXT)
            painter.drawText(full, int(Qt.AlignmentFlag.AlignCenter), "Δχ² map: register a pair")
            painter.end()
            return
        side = min(area.width(), area.height())
        area = QRectF(area.left(), area.top(), side, side)
        x0, x1, y0, y1 = self.extent

        def point(dy: float, dx: float) -> QPointF:
            return QPointF(
                area.left() + area.width() * (dx - x0) / (x1 - x0),
                area.top() + area.height() * (dy - y0) / (y1 - y0),
            )

        colors = (SIGMA_COLORS * 255).astype(np.uint8)
        rgba = np.ascontiguousarray(colors[np.clip(self.image, 0, 3)])
        rows, columns = rgba.shape[:2]
        picture = QImage(rgba.data, columns, rows, 4 * columns, QImage.Format.Format_RGBA8888)
        painter.drawImage(area, picture.copy())
        painter.setPen(QPen(QColor("white"), 1.2))
        painter.setClipRect(area)  # the 3σ ellipse can reach past the sampled map
        for points in self.ellipses:
            painter.drawPolyline(QPolygonF([point(dy, dx) for dy, dx in points]))
        painter.setClipping(False)
        centre = point(*self.shift)
        painter.drawLine(centre + QPointF(-5, 0), centre + QPointF(5, 0))
        painter.drawLine(centre + QPointF(0, -5), centre + QPointF(0, 5))

        painter.setPen(_TEXT)
        painter.drawText(
            QRectF(area.left(), area.bottom() + 4, area.width(), 20),
            int(Qt.AlignmentFlag.AlignHCenter),
            f"dx {_span(x0, x1)} px",
        )
        painter.save()
        painter.translate(area.left() - 6, area.center().y())
        painter.rotate(-90)
        painter.drawText(
            QRectF(-area.height() / 2, -18, area.height(), 16),
            int(Qt.AlignmentFlag.AlignHCenter),
            f"dy {_span(y0, y1)} px",
        )
        painter.restore()
        left = area.right() + 10
        for index, label in enumerate(SIGMA_LABELS):
            top = full.top() + 4 + 20 * index
            painter.fillRect(QRectF(left, top, 12, 12), QColor(*colors[index]))
            painter.drawText(QPointF(left + 16, top + 11), label)
        top = full.top() + 4 + 20 * len(SIGMA_LABELS)
        painter.setPen(QPen(QColor("white"), 1.2))
        painter.drawLine(QPointF(left, top + 6), QPointF(left + 12, top + 6))
        painter.setPen(_TEXT)
        painter.drawText(QPointF(left + 16, top + 11), "fit")
        painter.drawText(QPointF(left + 2, top + 31), "+ shift")
        if self.title:
            painter.drawText(
                QRectF(left, full.bottom() - 60, legend_width, 60),
                int(Qt.AlignmentFlag.AlignBottom | Qt.TextFlag.TextWordWrap),
                self.title,
            )
        painter.end()


def _span(low: float, high: float) -> str:
    """``low … high`` with enough decimals to tell the two apart."""
    width = abs(high - low)
    decimals = 3 if width == 0 else max(0, 1 - int(np.floor(np.log10(width))))
    return f"{low:+.{decimals}f} … {high:+.{decimals}f}"
