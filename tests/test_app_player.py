"""The player on a real PulseAudio null sink: a second of a clip really reaches the sink."""

from __future__ import annotations

import time

import numpy as np
import pytest
from app_fixtures import *  # noqa: F403
from app_fixtures import open_folder

from genre_desktop.app.player import readable_device_name

pytestmark = [pytest.mark.gui, pytest.mark.audio]


def test_play_a_clip_to_the_null_sink_for_a_second(qtbot, main_window, gtzan_dir,
                                                    pulse_null_sink, tmp_path):
    w = main_window
    w.player.refresh_devices(pulse_null_sink.name)
    assert w.player.has_device()
    assert w.player.device_name() == pulse_null_sink.name
    assert w.player.device_combo.currentText() == readable_device_name(pulse_null_sink.name)
    assert w.player.notice.isHidden()
    open_folder(qtbot, w, gtzan_dir / "genres")
    clip = str((gtzan_dir / "genres" / "classical" / "classical.00000.wav").resolve())
    w.browser.select_path(clip)
    qtbot.waitUntil(lambda: w.player.current is not None and w.player.current.path == clip,
                    timeout=15000)
    assert w.player.view._image is not None and w.player.current.duration_s > 29

    recording = pulse_null_sink.server.start_recording(tmp_path / "monitor.raw")
    w.toggle_play()  # what Space does
    qtbot.waitUntil(lambda: w.player.engine.position_s() >= 1.0, timeout=10000)
    qtbot.wait(200)  # let the last blocks through the sink
    samples = recording.stop()
    assert pulse_null_sink.server.sink_state() == "RUNNING"
    assert w.player.engine.is_playing()
    assert w.player.view.cursor_s() > 0.5  # the cursor follows the playback
    assert samples.size > 0.5 * recording.rate
    assert float(np.sqrt(np.mean(samples ** 2))) > 1e-3  # real sound, not silence

    w.toggle_play()  # pause keeps the position
    paused_at = w.player.engine.position_s()
    qtbot.wait(300)
    assert w.player.engine.position_s() == pytest.approx(paused_at, abs=0.05)
    w.player.play()
    qtbot.waitUntil(lambda: w.player.engine.position_s() > paused_at + 0.2, timeout=5000)

    w.player.seek_slider.setValue(20000)
    w.player.seek_slider.sliderMoved.emit(20000)  # what dragging the slider does
    assert 20.0 <= w.player.engine.position_s() < 21.0
    w.player.volume.setValue(0)
    assert w.player.engine._volume == 0.0

    w.close()  # closing the window stops playback cleanly
    assert w.player.engine._stream is None
    deadline = time.monotonic() + 10
    while pulse_null_sink.server.sink_state() == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pulse_null_sink.server.sink_state() != "RUNNING"


def test_no_output_device_gives_a_clear_message(qtbot, main_window, monkeypatch):
    from genre_desktop.app import player

    monkeypatch.setattr(player, "output_devices", lambda: [])
    main_window.player.refresh_devices()
    assert not main_window.player.has_device()
    assert "No audio output device" in main_window.player.notice.text()
    assert not main_window.player.notice.isHidden()
    assert not main_window.player.play_button.isEnabled()


def test_play_a_whole_song_with_the_views_painting(qtbot, main_window, gtzan_dir,
                                                   pulse_null_sink):
    """30 s of playback with the waveform and spectrogram repainting at the cursor's pace: the
    PySide6 6.12.0 None-refcount bug killed the app 3-12 s into this (none_dealloc)."""
    w = main_window
    w.player.refresh_devices(pulse_null_sink.name)
    open_folder(qtbot, w, gtzan_dir / "genres")
    clip = str((gtzan_dir / "genres" / "jazz" / "jazz.00000.wav").resolve())
    w.browser.select_path(clip)
    qtbot.waitUntil(lambda: w.player.current is not None and w.player.current.path == clip,
                    timeout=15000)
    duration = w.player.current.duration_s
    assert duration > 29
    view = w.player.view
    assert view.isVisible() and view.width() > 200 and view.height() > 100
    paints_before = view.song_paints
    w.toggle_play()
    assert w.player.engine.is_playing()
    seen = {"cursor": 0.0, "halfway_playing": False}

    def follow() -> bool:  # polled every few ms: the furthest cursor, playing at halfway
        seen["cursor"] = max(seen["cursor"], view.cursor_s())
        if w.player.engine.position_s() >= duration / 2 and not seen["halfway_playing"]:
            seen["halfway_playing"] = w.player.engine.is_playing()
        return seen["halfway_playing"] and not w.player.engine.is_playing()

    qtbot.waitUntil(follow, timeout=int(duration * 1000) + 20000)
    assert seen["cursor"] >= duration - 1.0  # the cursor went all the way
    assert w.player.play_button.isEnabled()  # at the end the player stops, ready to replay
    # about 20 cursor updates a second; each repaints both views
    assert view.song_paints - paints_before > 10 * duration
    assert w.isVisible() and w.player.title.text() == "jazz.00000.wav"


def test_device_names_are_readable():
    assert readable_device_name("pulse") == "PulseAudio"
    assert readable_device_name("HDA Intel PCH: ALC892 Analog (hw:0,0)") == \
        "HDA Intel PCH — ALC892 Analog"
    assert readable_device_name("Speakers (Realtek)") == "Speakers (Realtek)"
