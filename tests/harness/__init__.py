"""Real parts for tests: Xvfb, a private D-Bus + gnome-keyring Secret Service, PulseAudio.

Every service starts lazily (the first test that asks for it), lives for the session, and is
stopped by PID at the end. A missing binary goes through `conftest.require()`: a skip locally,
a failure when CI=true. Daemons' logs land in the session's pytest temp folder.

Fixtures (loaded by tests/conftest.py via `pytest_plugins = ("harness.fixtures",)`):

- ``xvfb_display`` -> XvfbDisplay(display=":N", pid, width, height). Sets DISPLAY and
  QT_QPA_PLATFORM=xcb in os.environ for the session.
- ``secret_service`` -> SecretService(bus, pid, env()). Sets DBUS_SESSION_BUS_ADDRESS and
  PYTHON_KEYRING_BACKEND=keyring.backends.SecretService.Keyring, and `keyring.set_keyring()`s
  the SecretService backend in-process. Never a fake or plaintext backend.
- ``pulse_null_sink`` -> AudioOutput(device=<sounddevice index>, name, server). Sets PULSE_SERVER
  and PULSE_SINK; `server.start_recording(path)` records the sink's monitor, `server.sink_state()`
  says RUNNING while something plays.
- ``artifacts_dir`` -> <repo>/test-artifacts (git-ignored): save screenshots there and look at them.

Markers do the same without naming the fixture: ``@pytest.mark.gui`` starts Xvfb,
``@pytest.mark.audio`` PulseAudio, ``@pytest.mark.keyring`` the Secret Service.

Recipe for a GUI test (pytest-qt's ``qapp`` depends on ``xvfb_display`` through the
``qapp_args`` override, so its QApplication always opens on the private Xvfb screen)::

    import pytest

    @pytest.mark.gui
    def test_window(qtbot, artifacts_dir):
        w = MainWindow()
        qtbot.addWidget(w)
        w.show()
        qtbot.waitExposed(w)
        w.screen().grabWindow(0).save(str(artifacts_dir / "main_window.png"))

Child processes started by a test (the app, the CLI) inherit these variables, so they use the
same screen, keyring and sound server. For a subprocess that needs all three at once, merge
``xvfb_display.env() | secret_service.env() | pulse_null_sink.server.env()``.
"""

from .display import XvfbDisplay, start_xvfb
from .processes import HarnessError, ManagedProcess, wait_until
from .secrets import SECRET_SERVICE_BACKEND, SecretService, SessionBus, start_secret_service
from .sound import MonitorRecording, PulseServer, dominant_frequency, start_pulseaudio

__all__ = [
    "SECRET_SERVICE_BACKEND",
    "HarnessError",
    "ManagedProcess",
    "MonitorRecording",
    "PulseServer",
    "SecretService",
    "SessionBus",
    "XvfbDisplay",
    "dominant_frequency",
    "start_pulseaudio",
    "start_secret_service",
    "start_xvfb",
    "wait_until",
]
