"""Waveform and spectrogram of the loaded song, with a moving playback cursor.

Both views are computed once on a pool thread (`render_views`); painting then only scales a
ready image and draws a line, so the 20 Hz cursor costs next to nothing on the GUI thread.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

ENVELOPE_COLUMNS = 1200
# Looked up once here, on the GUI thread: render_views runs on pool threads, and PySide creates
# its Python enums lazily (an intermittent crash in enum code pointed at a first use there).
_RGBA8888 = QImage.Format.Format_RGBA8888


def render_views(y: np.ndarray, rate: int) -> tuple[np.ndarray, QImage]:
    """(min/max envelope, spectrogram image) of a mono signal; safe off the GUI thread."""
    y = np.asarray(y, dtype=np.float32)
    if y.size == 0:
        y = np.zeros(2048, dtype=np.float32)
    cols = min(ENVELOPE_COLUMNS, max(1, y.size))
    edges = np.linspace(0, y.size, cols + 1).astype(int)
    lo = np.minimum.reduceat(y, edges[:-1])
    hi = np.maximum.reduceat(y, edges[:-1])
    envelope = np.vstack([lo, hi])

    n_fft, hop = 1024, 512
    if y.size < n_fft:
        y = np.pad(y, (0, n_fft - y.size))
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop]
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1))
    db = 20.0 * np.log10(np.maximum(spectrum, 1e-6))
    db = np.clip(db - db.max(), -80.0, 0.0)
    # Log-spaced frequency rows read like a music spectrogram (more room for the low end).
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    rows = 160
    wanted = np.geomspace(40.0, rate / 2.0, rows)
    idx = np.clip(np.searchsorted(freqs, wanted), 0, len(freqs) - 1)
    grid = db[:, idx].T[::-1]  # high frequencies at the top
    norm = (grid + 80.0) / 80.0
    from matplotlib import colormaps

    rgba = (colormaps["magma"](norm) * 255).astype(np.uint8)
    rgba = np.ascontiguousarray(rgba)
    height, width = rgba.shape[:2]
    image = QImage(rgba.data, width, height, 4 * width, _RGBA8888).copy()
    return envelope, image


class WaveformView(QWidget):
    """Top: waveform; bottom: spectrogram; a red line at the playback position."""

    seek_requested = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("waveformView")
        self.setMinimumHeight(140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._envelope: np.ndarray | None = None
        self._image: QImage | None = None
        self._duration = 0.0
        self._cursor = 0.0
        self.song_paints = 0  # paintEvents that drew a song's views (the tests count them)

    def clear(self) -> None:
        self._envelope = None
        self._image = None
        self._cursor = 0.0
        self.update()

    def set_audio(self, envelope: np.ndarray, image: Any, duration_s: float) -> None:
        self._envelope = envelope
        self._image = image
        self._duration = max(duration_s, 1e-6)
        self._cursor = 0.0
        self.update()

    def set_cursor(self, seconds: float) -> None:
        if abs(seconds - self._cursor) > 1e-3:
            self._cursor = seconds
            self.update()

    def cursor_s(self) -> float:
        return self._cursor

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self._envelope is not None and self.width() > 0:
            fraction = min(max(event.position().x() / self.width(), 0.0), 1.0)
            self.seek_requested.emit(fraction * self._duration)

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        w, h = self.width(), self.height()
        wave_h = h * 0.4
        painter.fillRect(0, 0, w, int(wave_h), QColor("#1e2430"))
        if self._envelope is None or self._image is None:
            painter.fillRect(0, int(wave_h), w, h - int(wave_h), QColor("#120c1e"))
            painter.setPen(QColor("#aab4c8"))
            painter.drawText(QRectF(0, 0, w, h), Qt.AlignmentFlag.AlignCenter,
                             "Double-click a song (or press Space) to listen")
            painter.end()
            return
        lo, hi = self._envelope
        cols = lo.size
        mid = wave_h / 2.0
        scale = mid * 0.95
        painter.setPen(QPen(QColor("#5fb3f0"), 1))
        for x in range(w):
            i = min(cols - 1, int(x * cols / max(w, 1)))
            painter.drawLine(QPointF(x, mid - hi[i] * scale), QPointF(x, mid - lo[i] * scale))
        painter.drawImage(QRectF(0, wave_h, w, h - wave_h), self._image)
        x = self._cursor / self._duration * w
        painter.setPen(QPen(QColor("#ff4d4d"), 2))
        painter.drawLine(QPointF(x, 0), QPointF(x, h))
        painter.end()
        self.song_paints += 1
