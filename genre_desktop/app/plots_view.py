"""Plots tab: the report's four panels, rendered by matplotlib (Agg) away from the window.

Measured on the shared 2-core test machine, drawing the four panels takes 1.2-1.6 s; on a
QtAgg canvas that whole time is spent on the GUI thread (and again on every resize), which
breaks the window's 100 ms responsiveness budget during a run. So each picture is drawn by a
helper process (plot_render.py) at the widget's pixel size, and the GUI thread only paints
the finished image.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from genre_desktop.app.plot_render import RENDERER
from genre_desktop.app.workers import run_task
from genre_desktop.core.results import SongResult

PLOT_INTERVAL_MS = 1500
RESIZE_SETTLE_MS = 300


class PlotsTab(QWidget):
    """Shows the latest rendered picture; asks for a new one at most every PLOT_INTERVAL_MS,
    only while on screen, and after a resize settles."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("plotsView")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.image: QImage | None = None
        self.axes_drawn = 0
        self.draw_count = 0
        self._data: tuple[dict[str, Any], list[SongResult]] | None = None
        self._fresh = False  # _data changed since the last render
        self._rendering = False
        self._last_draw = 0.0
        self._generation = 0  # bumped by clear(): a late picture of the old folder is dropped
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._render)

    def clear(self) -> None:
        """Another folder: no picture until its first results (a render under way is dropped)."""
        self._timer.stop()
        self._data = None
        self._fresh = False
        self.image = None
        self._generation += 1
        self.update()

    def update_plots(self, metrics: dict[str, Any], results: list[SongResult]) -> None:
        self._data = (metrics, results)
        self._fresh = True
        self._schedule(PLOT_INTERVAL_MS - (time.monotonic() - self._last_draw) * 1000)

    def _schedule(self, wait_ms: float) -> None:
        if not self._timer.isActive():
            self._timer.start(max(0, int(wait_ms)))

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self._fresh:
            self._schedule(0)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        if self._data is not None:
            self._fresh = True
            self._timer.stop()
            self._timer.start(RESIZE_SETTLE_MS)

    def is_idle(self) -> bool:
        return not (self._rendering or self._timer.isActive())

    def _render(self) -> None:
        if self._data is None or not self.isVisible() or not self._fresh:
            return  # rendered when the tab is shown
        if self._rendering:
            return  # _rendered() starts the next one
        metrics, results = self._data
        self._fresh = False
        self._rendering = True
        width, height = self.width(), self.height()
        generation = self._generation
        run_task(lambda: RENDERER.render(metrics, results, width, height),
                 lambda outcome: self._rendered(outcome, generation), self._failed)

    def _rendered(self, outcome: tuple[np.ndarray, int], generation: int = 0) -> None:
        pixels, n_axes = outcome
        self._rendering = False
        if generation != self._generation:
            return
        height, width = pixels.shape[:2]
        self.image = QImage(pixels.data, width, height, 4 * width,
                            QImage.Format.Format_RGBA8888).copy()
        self.axes_drawn = n_axes
        self.draw_count += 1
        self._last_draw = time.monotonic()
        self.update()
        if self._fresh:
            self._schedule(PLOT_INTERVAL_MS)

    def _failed(self, _text: str) -> None:
        self._rendering = False

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("white"))
        if self.image is None:
            painter.setPen(QColor("#6b6b6b"))
            painter.drawText(QRectF(self.rect()), Qt.AlignmentFlag.AlignCenter,
                             "Plots appear here once songs are classified")
        else:
            # Until the re-render after a resize arrives, scale the last picture to fit.
            size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
            x = (self.width() - size.width()) / 2
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(QRectF(x, 0, size.width(), size.height()), self.image)
        painter.end()
