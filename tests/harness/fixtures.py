"""pytest fixtures over the harness services: session scope, started on first request.

Loaded from tests/conftest.py through `pytest_plugins`. Each fixture checks its binaries with
conftest's `require()` (skip locally, fail when CI=true), exports what child processes need into
os.environ for the rest of the session, and stops its daemons by PID at the end.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, require

from .display import XvfbDisplay, start_xvfb
from .processes import which
from .secrets import SECRET_SERVICE_BACKEND, SecretService, start_secret_service
from .sound import PulseServer, find_output_device, rescan_portaudio, start_pulseaudio

ARTIFACTS = REPO / "test-artifacts"


def _require_binaries(*names: str, package_hint: str) -> None:
    missing = [n for n in names if which(n) is None]
    require(not missing, f"missing {', '.join(missing)} (run build/system_deps.sh: {package_hint})")


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests save screenshots and other files a person should look at (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def xvfb_display(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XvfbDisplay]:
    """A private Xvfb screen; DISPLAY and QT_QPA_PLATFORM=xcb point at it for the session."""
    _require_binaries("Xvfb", package_hint="xvfb")
    display = start_xvfb(tmp_path_factory.mktemp("xvfb"))
    patch = pytest.MonkeyPatch()
    for key, value in display.env().items():
        patch.setenv(key, value)
    yield display
    _release_qt_display()
    display.stop()
    patch.undo()


def _release_qt_display() -> None:
    """Drop the QApplication's X connection before its server goes away.

    Qt's xcb plugin exits the process when its X server dies under it, which would turn a
    green session red at teardown.
    """
    if "PySide6.QtWidgets" not in sys.modules:
        return
    import shiboken6
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        return
    for widget in QApplication.topLevelWidgets():
        widget.close()
    app.processEvents()
    try:
        import pytestqt.plugin as qt_plugin

        qt_plugin._qapp_instance = None
    except (ImportError, AttributeError):
        pass
    shiboken6.delete(app)


@pytest.fixture(scope="session")
def qapp_args(pytestconfig: pytest.Config, xvfb_display: XvfbDisplay) -> list[str]:
    """pytest-qt builds its QApplication from this: depending on Xvfb makes every qapp use it."""
    return [pytestconfig.getini("qt_qapp_name")]


@pytest.fixture(scope="session")
def secret_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretService]:
    """gnome-keyring (unlocked) on a private D-Bus session; `keyring` uses its Secret Service."""
    _require_binaries("dbus-daemon", "gnome-keyring-daemon", package_hint="dbus gnome-keyring")
    import keyring
    from keyring.backends.SecretService import Keyring

    service = start_secret_service(tmp_path_factory.mktemp("keyring"))
    patch = pytest.MonkeyPatch()
    for key, value in service.env().items():
        patch.setenv(key, value)
    previous = keyring.get_keyring()
    keyring.set_keyring(Keyring())
    yield service
    keyring.set_keyring(previous)
    service.stop()
    patch.undo()


@dataclass
class AudioOutput:
    """The sounddevice output that plays into the harness's PulseAudio null sink."""

    device: int
    name: str
    server: PulseServer


@pytest.fixture(scope="session")
def pulse_null_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AudioOutput]:
    """PulseAudio with a null sink; `sounddevice` sees it (ALSA `pulse`/`default`) as an output."""
    _require_binaries("pulseaudio", "pactl", "parec", package_hint="pulseaudio pulseaudio-utils")
    require(
        Path("/usr/share/alsa/alsa.conf.d/50-pulseaudio.conf").exists()
        or Path("/etc/alsa/conf.d/50-pulseaudio.conf").exists(),
        "ALSA's pulse plugin is missing (run build/system_deps.sh: libasound2-plugins)",
    )
    server = start_pulseaudio(tmp_path_factory.mktemp("pulse"))
    patch = pytest.MonkeyPatch()
    for key, value in server.env().items():
        patch.setenv(key, value)
    try:
        rescan_portaudio()
        index, name = find_output_device(server)
    except BaseException:
        server.stop()
        patch.undo()
        raise
    yield AudioOutput(device=index, name=name, server=server)
    server.stop()
    patch.undo()
    rescan_portaudio()


@pytest.fixture(autouse=True)
def _harness_for_markers(request: pytest.FixtureRequest) -> None:
    """Tests marked gui / audio / keyring get their service without naming the fixture."""
    for marker, fixture in (("gui", "xvfb_display"), ("audio", "pulse_null_sink"),
                            ("keyring", "secret_service")):
        if request.node.get_closest_marker(marker) is not None:
            request.getfixturevalue(fixture)


__all__ = [
    "SECRET_SERVICE_BACKEND",
    "AudioOutput",
    "artifacts_dir",
    "pulse_null_sink",
    "qapp_args",
    "secret_service",
    "xvfb_display",
]
