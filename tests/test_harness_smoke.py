"""The harness's real parts, used for real: a secret, a tone, a window on screen."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from conftest import require
from harness import dominant_frequency
from harness.fixtures import AudioOutput
from harness.secrets import SecretService


@pytest.mark.keyring
def test_secret_round_trips_through_gnome_keyring(secret_service: SecretService) -> None:
    import keyring
    from keyring.backends.SecretService import Keyring

    assert isinstance(keyring.get_keyring(), Keyring)
    service, user, secret = "genre-desktop-smoke", "tester", f"s3cret-{uuid.uuid4().hex}"
    keyring.set_password(service, user, secret)
    assert keyring.get_password(service, user) == secret

    # Another client of the same bus (libsecret's CLI) sees it: it lives in gnome-keyring.
    require(shutil.which("secret-tool") is not None, "secret-tool missing (libsecret-tools)")
    looked_up = subprocess.run(
        ["secret-tool", "lookup", "service", service, "username", user],
        capture_output=True, text=True, timeout=30, check=True,
    )
    assert looked_up.stdout == secret

    keyring.delete_password(service, user)
    assert keyring.get_password(service, user) is None


@pytest.mark.audio
def test_tone_reaches_the_null_sink(pulse_null_sink: AudioOutput, tmp_path: Path) -> None:
    import sounddevice as sd

    info = sd.query_devices(pulse_null_sink.device)
    assert info["max_output_channels"] > 0

    rate, freq = 48000, 440.0
    t = np.arange(int(rate * 0.5)) / rate
    tone = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)

    recording = pulse_null_sink.server.start_recording(tmp_path / "monitor.raw", rate=rate)
    states: list[str] = []
    try:
        sd.play(tone, rate, device=pulse_null_sink.device)
        time.sleep(0.25)
        states.append(pulse_null_sink.server.sink_state())  # mid-tone
        sd.wait()
        time.sleep(0.3)  # let the tail leave PulseAudio's buffers
    finally:
        captured = recording.stop()

    assert "RUNNING" in states
    loud = captured[np.abs(captured) > 0.05]
    assert len(loud) > rate * 0.3, f"only {len(loud)} non-silent samples arrived"
    assert 0.2 < float(np.max(np.abs(captured))) < 0.4
    start = int(np.argmax(np.abs(captured) > 0.05))
    segment = captured[start : start + rate // 4]
    assert abs(dominant_frequency(segment, rate) - freq) < 10


@pytest.mark.gui
def test_window_shows_on_xvfb(qtbot, xvfb_display, artifacts_dir: Path) -> None:
    from PySide6.QtGui import QColor, QGuiApplication, QPalette
    from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

    assert QGuiApplication.platformName() == "xcb"

    window = QWidget()
    window.setWindowTitle("Harness smoke")
    palette = window.palette()
    palette.setColor(QPalette.ColorRole.Window, QColor(200, 30, 40))
    window.setPalette(palette)
    window.setAutoFillBackground(True)
    layout = QVBoxLayout(window)
    layout.addWidget(QLabel("Genre Desktop harness: a real window on Xvfb"))
    window.setGeometry(100, 100, 420, 200)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(200)

    # Grab the X root window: pixels come from the X server, not from Qt's own backing store.
    shot = window.screen().grabWindow(0)
    path = artifacts_dir / "harness_smoke_window.png"
    assert shot.save(str(path))
    image = shot.toImage()
    assert (image.width(), image.height()) == (xvfb_display.width, xvfb_display.height)

    inside = window.mapToGlobal(window.rect().bottomRight()) - window.rect().bottomRight() / 8
    assert image.pixelColor(inside) == QColor(200, 30, 40)
    assert image.pixelColor(5, 5) != QColor(200, 30, 40)  # outside the window: Xvfb's backdrop


@pytest.mark.parametrize(("ci", "expected"), [("true", "error"), ("", "skipped")])
def test_missing_binary_fails_in_ci_and_skips_locally(ci: str, expected: str,
                                                      tmp_path: Path) -> None:
    """Without Xvfb on PATH a GUI test must fail under CI=true, never turn into a skip."""
    import os
    import sys

    from conftest import REPO

    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "CI")}
    env.update(PATH=str(empty_bin), CI=ci)
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfs",
         f"{REPO / 'tests' / 'test_harness_smoke.py'}::test_window_shows_on_xvfb"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert f"1 {expected}" in out.stdout, out.stdout[-3000:]  # a fixture failing is an error
    assert "missing Xvfb" in out.stdout
    if expected == "error":
        assert out.returncode != 0 and "skipped" not in out.stdout
        assert "CI=true and a prerequisite is missing" in out.stdout
