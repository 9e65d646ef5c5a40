"""Audio player on sounddevice: play/pause/stop, seek, volume, output device, waveform view.

friture's rule: the audio callback only copies the next block out of an array decoded ahead
of time (never decodes, allocates big buffers, logs or touches Qt). Decoding, resampling and
the spectrogram run on a pool thread; the GUI polls the play position with a timer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from genre_desktop.app.waveform import WaveformView, render_views
from genre_desktop.app.wording import mmss
from genre_desktop.app.workers import run_task


@dataclass
class LoadedAudio:
    path: str
    samples: np.ndarray  # float32 mono at `rate`, for playback
    rate: int
    duration_s: float
    envelope: np.ndarray  # (2, columns): min/max per column, for the waveform
    spectrogram: Any  # QImage


def output_devices() -> list[tuple[int, str]]:
    """(index, name) of every device that can play; empty when there is none or no PortAudio."""
    try:
        import sounddevice as sd

        devices = sd.query_devices()
    except Exception:  # no PortAudio library or no sound server: treated as "no device"
        return []
    return [(i, str(d["name"])) for i, d in enumerate(devices) if d["max_output_channels"] > 0]


RAW_NAME = Qt.ItemDataRole.UserRole + 1  # PortAudio's device name, beside the label shown

# ALSA's virtual devices, as PortAudio lists them on Linux, in words (short: the combo is narrow).
_ALSA_LABELS = {
    "default": "Default (ALSA)",
    "sysdefault": "System default (ALSA)",
    "pulse": "PulseAudio",
    "pipewire": "PipeWire",
    "jack": "JACK",
    "dmix": "ALSA software mixer",
    "spdif": "Digital output (S/PDIF)",
    "hdmi": "HDMI output",
    "front": "Front speakers",
    "surround40": "Surround 4.0",
    "surround51": "Surround 5.1",
    "surround71": "Surround 7.1",
}


def readable_device_name(raw: str) -> str:
    """'HDA Intel PCH: ALC892 Analog (hw:0,0)' -> 'HDA Intel PCH — ALC892 Analog';
    'pulse' -> 'PulseAudio'. Anything else is shown as it is."""
    if raw in _ALSA_LABELS:
        return _ALSA_LABELS[raw]
    name = raw
    if name.endswith(")") and "(hw:" in name:
        name = name[:name.rindex("(hw:")].strip()
    card, sep, port = name.partition(": ")
    if sep and port:
        return f"{card} — {port}"
    return name or raw


class AudioEngine:
    """One sounddevice OutputStream playing a preloaded mono float32 array."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples = np.zeros(0, dtype=np.float32)
        self._pos = 0
        self._volume = 0.8
        self._stream: Any = None
        self.rate = 22050
        self.device: int | None = None

    # The callback runs on PortAudio's thread: copy, scale, advance. Nothing else.
    def _callback(self, outdata: np.ndarray, frames: int, _time: Any, _status: Any) -> None:
        with self._lock:
            start = self._pos
            chunk = self._samples[start:start + frames]
            n = len(chunk)
            outdata[:n, 0] = chunk
            outdata[:n, 0] *= self._volume
            outdata[n:, 0] = 0.0
            self._pos = start + n

    def load(self, samples: np.ndarray, rate: int) -> None:
        self.stop()
        with self._lock:
            self._samples = np.ascontiguousarray(samples, dtype=np.float32)
            self._pos = 0
        self.rate = rate

    def play(self) -> None:
        import sounddevice as sd

        if self._stream is None:
            self._stream = sd.OutputStream(
                samplerate=self.rate, channels=1, dtype="float32", device=self.device,
                callback=self._callback, blocksize=1024,
            )
        if self.finished():
            self.seek(0.0)
        self._stream.start()

    def pause(self) -> None:
        if self._stream is not None and self._stream.active:
            self._stream.stop()

    def stop(self) -> None:
        if self._stream is not None:
            try:
                self._stream.abort()
                self._stream.close()
            finally:
                self._stream = None
        with self._lock:
            self._pos = 0

    def is_playing(self) -> bool:
        return self._stream is not None and bool(self._stream.active) and not self.finished()

    def finished(self) -> bool:
        return self._pos >= len(self._samples)

    def seek(self, seconds: float) -> None:
        with self._lock:
            self._pos = int(max(0.0, seconds) * self.rate)
            self._pos = min(self._pos, len(self._samples))

    def position_s(self) -> float:
        return self._pos / float(self.rate)

    def frames_played(self) -> int:
        return self._pos

    def set_volume(self, fraction: float) -> None:
        self._volume = float(min(max(fraction, 0.0), 1.0))

    def set_device(self, device: int | None) -> None:
        was_playing = self.is_playing()
        position = self.position_s()
        self.stop()
        self.device = device
        if len(self._samples):
            self.seek(position)
            if was_playing:
                self.play()


def _device_rate(device: int | None) -> int:
    import sounddevice as sd

    info = sd.query_devices(device if device is not None else sd.default.device[1], "output")
    return int(info["default_samplerate"])


def _load_for_playback(path: str, device: int | None) -> LoadedAudio:
    """Pool thread: decode, resample to what the device takes, build the two views."""
    from genre_desktop.core.audio import load_audio

    audio = load_audio(path, sr=22050)
    y = np.asarray(audio.y, dtype=np.float32)
    rate = int(audio.sr)
    envelope, spectrogram = render_views(y, rate)
    play_rate = rate
    if output_devices():
        try:
            import sounddevice as sd

            sd.check_output_settings(device=device, samplerate=rate, channels=1, dtype="float32")
        except Exception:
            # The device refuses this rate: resample once here, never in the callback.
            from scipy.signal import resample_poly

            play_rate = _device_rate(device)
            g = np.gcd(play_rate, rate)
            y = resample_poly(y, play_rate // g, rate // g).astype(np.float32)
    return LoadedAudio(path, y, play_rate, float(audio.duration_s), envelope, spectrogram)


class PlayerPanel(QWidget):
    """Transport, seek, volume, device choice, waveform and spectrogram with a cursor."""

    loaded = Signal(str)
    message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = AudioEngine()
        self.current: LoadedAudio | None = None
        self._pending_play = False
        self._load_token = 0
        style = self.style()

        self.title = QLabel("No song loaded")
        self.title.setObjectName("playerTitle")
        self.play_button = self._button(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay),
                                        "Play / pause (Space)", self.toggle_play)
        self.stop_button = self._button(style.standardIcon(QStyle.StandardPixmap.SP_MediaStop),
                                        "Stop", self.stop)
        self.seek_slider = QSlider(Qt.Orientation.Horizontal)
        self.seek_slider.setRange(0, 0)
        self.seek_slider.sliderMoved.connect(lambda ms: self._seek_to(ms / 1000.0))
        self.time_label = QLabel("0:00 / 0:00")
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        self.volume.setValue(80)
        self.volume.setMaximumWidth(90)
        self.volume.setMinimumWidth(60)  # a usable handle in a narrow window
        self.volume.setToolTip("Volume")
        self.volume.valueChanged.connect(lambda v: self.engine.set_volume(v / 100.0))
        self.device_combo = QComboBox()
        self.device_combo.setToolTip("Output device")
        self.device_combo.setMinimumContentsLength(14)
        self.device_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.device_combo.currentIndexChanged.connect(self._device_changed)
        self.notice = QLabel("")
        self.notice.setObjectName("playerNotice")
        self.notice.setStyleSheet("color: #b3261e;")
        self.notice.setWordWrap(True)
        self.notice.hide()
        self.view = WaveformView()
        self.view.seek_requested.connect(self._seek_to)
        for widget, name in ((self.play_button, "Play or pause"), (self.stop_button, "Stop"),
                             (self.seek_slider, "Seek"), (self.volume, "Volume"),
                             (self.device_combo, "Output device"),
                             (self.view, "Waveform and spectrogram")):
            widget.setAccessibleName(name)
        self.seek_slider.setToolTip("Seek (click the waveform to jump)")
        self.seek_slider.setMinimumWidth(120)  # stays usable in a narrow window

        transport = QHBoxLayout()
        transport.addWidget(self.play_button)
        transport.addWidget(self.stop_button)
        transport.addWidget(self.seek_slider, 1)
        transport.addWidget(self.time_label)
        transport.addWidget(QLabel("Vol"))
        transport.addWidget(self.volume)
        transport.addWidget(self.device_combo)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addLayout(transport)
        layout.addWidget(self.notice)
        layout.addWidget(self.view, 1)

        self._timer = QTimer(self)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self._tick)
        self.refresh_devices()

    def _button(self, icon: Any, tip: str, slot: Any) -> QToolButton:
        button = QToolButton()
        button.setIcon(icon)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # -- devices ----------------------------------------------------------------------------
    def refresh_devices(self, preferred: str = "") -> None:
        devices = output_devices()
        self.device_combo.blockSignals(True)
        self.device_combo.clear()
        if not devices:
            self.device_combo.addItem("No output device", None)
            self.device_combo.setEnabled(False)
            self._show_notice("No audio output device was found, so songs cannot be played. "
                              "Connect speakers or headphones, or start a sound server, "
                              "then reopen the app.")
        else:
            self.device_combo.setEnabled(True)
            self.device_combo.addItem("System default", None)
            for index, name in devices:
                self.device_combo.addItem(readable_device_name(name), index)
                self.device_combo.setItemData(self.device_combo.count() - 1, name, RAW_NAME)
                self.device_combo.setItemData(self.device_combo.count() - 1, name,
                                              Qt.ItemDataRole.ToolTipRole)
            # The settings keep PortAudio's own name (stable), not the label shown.
            at = self.device_combo.findData(preferred, RAW_NAME) if preferred else -1
            self.device_combo.setCurrentIndex(max(at, 0))
            self.engine.device = self.device_combo.currentData()
            self.notice.hide()
        self.device_combo.blockSignals(False)
        self.play_button.setEnabled(bool(devices))

    def has_device(self) -> bool:
        return self.device_combo.isEnabled()

    def device_name(self) -> str:
        """PortAudio's name of the chosen device ("" for the system default)."""
        chosen = self.device_combo.currentData() is not None
        return str(self.device_combo.currentData(RAW_NAME) or "") if chosen else ""

    def _device_changed(self, _index: int) -> None:
        try:
            self.engine.set_device(self.device_combo.currentData())
        except Exception as exc:
            self._show_notice(f"Cannot use this output device: {exc}")

    def _show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.show()
        self.message.emit(text)

    # -- loading and transport ------------------------------------------------------------------
    def load(self, path: str, autoplay: bool = False) -> None:
        self.engine.stop()
        self._timer.stop()
        self._pending_play = autoplay
        self.title.setText(f"Loading {path.rsplit('/', 1)[-1]} ...")
        device = self.device_combo.currentData()
        self._load_token += 1
        token = self._load_token
        # Loads can finish out of order (arrow keys through the table): only the last counts.
        run_task(lambda: _load_for_playback(path, device),
                 lambda audio: token == self._load_token and self._on_loaded(audio),
                 lambda text: token == self._load_token
                 and self._show_notice(f"Cannot open this song: {text}"))

    def _on_loaded(self, audio: LoadedAudio) -> None:
        self.current = audio
        self.engine.load(audio.samples, audio.rate)
        self.title.setText(audio.path.rsplit("/", 1)[-1])
        self.seek_slider.setRange(0, int(audio.duration_s * 1000))
        self.view.set_audio(audio.envelope, audio.spectrogram, audio.duration_s)
        self._update_time()
        self.loaded.emit(audio.path)
        if self._pending_play:
            self.play()

    def play(self) -> None:
        if self.current is None or not self.has_device():
            return
        try:
            self.engine.play()
        except Exception as exc:  # PortAudio errors: a message, not a crash
            self._show_notice(f"Playback failed on this output device: {exc}")
            return
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPause))
        self._timer.start()

    def pause(self) -> None:
        self.engine.pause()
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self._timer.stop()

    def toggle_play(self) -> None:
        if self.engine.is_playing():
            self.pause()
        else:
            self.play()

    def stop(self) -> None:
        self.engine.stop()
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self._timer.stop()
        self._update_time()

    def unload(self) -> None:
        """Another folder was opened: stop and forget the song (a load under way is dropped)."""
        self.stop()
        self._load_token += 1
        self._pending_play = False
        self.current = None
        self.engine.load(np.zeros(0, dtype=np.float32), self.engine.rate)
        self.title.setText("No song loaded")
        self.seek_slider.setRange(0, 0)
        self.view.clear()
        self._update_time()

    def shutdown(self) -> None:
        self._timer.stop()
        self.engine.stop()

    def _seek_to(self, seconds: float) -> None:
        self.engine.seek(seconds)
        self._update_time()

    def _tick(self) -> None:
        self._update_time()
        if self.engine.finished():
            self.stop()

    def _update_time(self) -> None:
        pos = self.engine.position_s()
        total = self.current.duration_s if self.current else 0.0
        if not self.seek_slider.isSliderDown():
            self.seek_slider.setValue(int(pos * 1000))
        self.time_label.setText(f"{mmss(pos)} / {mmss(total)}")
        self.view.set_cursor(pos)


SPACE = QKeySequence(Qt.Key.Key_Space)
