"""The standalone executable: build it with installer.spec, run its self-test.

The build takes a few minutes on two cores, so it happens once per session (module fixture)
into a temporary folder, leaving any `make dist` output alone. Outside CI,
GENRE_DESKTOP_FROZEN_APP=dist/genre-desktop reuses an existing build instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, require

import genre_desktop
from genre_desktop import selftest

pytestmark = pytest.mark.slow


def _folder_size_mb(folder: Path) -> float:
    # PyInstaller links some libraries twice under _internal: count each file once
    files = (p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    return sum(p.stat().st_size for p in files) / 1e6


@pytest.fixture(scope="module")
def frozen_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Developers iterating on these tests may point at an existing `make dist` output.
    prebuilt = os.environ.get("GENRE_DESKTOP_FROZEN_APP")
    if prebuilt and not os.environ.get("CI"):
        return Path(prebuilt)
    pyinstaller = Path(sys.executable).with_name("pyinstaller")
    require(pyinstaller.exists(), "PyInstaller is not installed (pip install -e '.[dev]')")
    base = tmp_path_factory.mktemp("pyinstaller")
    start = time.perf_counter()
    out = subprocess.run(
        [str(pyinstaller), "--noconfirm", "--log-level=WARN", "--distpath", str(base / "dist"),
         "--workpath", str(base / "work"), str(REPO / "installer.spec")],
        cwd=REPO, capture_output=True, text=True, timeout=1500,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-6000:]
    app = base / "dist" / "genre-desktop"
    print(f"\nfrozen build: {time.perf_counter() - start:.0f} s, "
          f"{_folder_size_mb(app):.0f} MB in {app}")
    return app


def _frozen_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "QT_QPA_PLATFORM", "NUMBA_CACHE_DIR", "PYTHONPATH")}
    env["HOME"] = str(tmp_path / "home")  # a first start on a fresh account
    env.pop("XDG_CACHE_HOME", None)
    return env


def test_bundle_holds_resources_libraries_and_plugins(frozen_app: Path) -> None:
    internal = frozen_app / "_internal"
    assert (frozen_app / "genre-desktop").is_file()
    assert (internal / "resources" / "features_30_sec.csv").is_file()
    assert (internal / "resources" / "gtzan_shared_tagger.csv").is_file()
    for model in ("MSD_musicnn", "MTT_musicnn"):  # the tagger's weights, nothing else of musicnn
        assert (internal / "musicnn" / model / ".data-00000-of-00001").is_file()
    assert not list(internal.rglob("musicnn/*.py"))
    assert (internal / "librosa" / "core" / "spectrum.py").is_file()  # numba needs the source
    assert list(internal.rglob("libportaudio.so*")), "PortAudio is not bundled"
    assert list(internal.rglob("libsndfile*.so*")), "libsndfile is not bundled"
    platforms = internal / "PySide6" / "Qt" / "plugins" / "platforms"
    assert {"libqxcb.so", "libqoffscreen.so"} <= {p.name for p in platforms.iterdir()}
    assert not list(internal.rglob("libQt6Qml.so*")), "an unused Qt module was bundled"


def test_frozen_version(frozen_app: Path, tmp_path: Path) -> None:
    out = subprocess.run([str(frozen_app / "genre-desktop"), "--version"], capture_output=True,
                         text=True, timeout=120, env=_frozen_env(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"genre-desktop {genre_desktop.__version__}"


def test_frozen_self_test(frozen_app: Path, gtzan_dir: Path, tmp_path: Path, secret_service,
                          pulse_null_sink) -> None:
    env = _frozen_env(tmp_path)
    env["GENRE_DATA"] = str(gtzan_dir)
    # keyring must find the Secret Service through its entry points, not be told which backend
    env.pop("PYTHON_KEYRING_BACKEND", None)
    env["GENRE_DESKTOP_SELFTEST_EXTRAS"] = "keyring,audio"
    recording = pulse_null_sink.server.start_recording(tmp_path / "monitor.raw")
    start = time.perf_counter()
    try:
        out = subprocess.run([str(frozen_app / "genre-desktop"), "--self-test"],
                             capture_output=True, text=True, timeout=900, env=env)
    finally:
        captured = recording.stop()
    took = time.perf_counter() - start
    print(f"\nfrozen self-test: {took:.0f} s\n{out.stdout}")
    assert out.returncode == 0, out.stdout + out.stderr[-6000:]
    for step in ("modules", "clips", "extract", "classify", "keyring", "audio", "window"):
        assert f"self-test: PASS {step}" in out.stdout
    assert "frozen build" in out.stdout
    assert "Traceback" not in out.stderr, out.stderr[-6000:]
    # the frozen app's bundled PortAudio really reached the sound server
    loud = captured[np.abs(captured) > 0.05]
    assert len(loud) > recording.rate * 0.3, f"only {len(loud)} non-silent samples arrived"
    # the runtime hook sent numba's compiled kernels to the (test's) user cache folder
    numba_cache = Path(env["GENRE_DESKTOP_CACHE_DIR"]) / "numba"
    assert list(numba_cache.rglob("*.nbi")), f"no numba cache index under {numba_cache}"


@pytest.mark.gui
def test_frozen_app_opens_its_window_on_x11(frozen_app: Path, qapp, xvfb_display,
                                           artifacts_dir: Path, tmp_path: Path) -> None:
    """The bundled xcb plugin and its libraries work: the real app shows up on the X server."""
    require(shutil.which("xwininfo") is not None, "xwininfo missing (x11-utils)")
    env = _frozen_env(tmp_path)
    env.update(xvfb_display.env())
    app = subprocess.Popen([str(frozen_app / "genre-desktop")], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        found = False
        while time.monotonic() < deadline and app.poll() is None and not found:
            tree = subprocess.run(["xwininfo", "-root", "-tree"], env=env, capture_output=True,
                                  text=True, timeout=30).stdout
            found = '"Genre Desktop"' in tree
            time.sleep(0.5)
        time.sleep(1.0)  # let it paint before the screenshot
        shot = qapp.primaryScreen().grabWindow(0)
        shot.save(str(artifacts_dir / "frozen_app_window.png"))
        still_running = app.poll() is None
    finally:
        app.terminate()
        output = app.communicate(timeout=30)[0]
    assert found and still_running, output[-4000:]
    assert "Traceback" not in output, output[-4000:]


def test_self_test_fails_on_a_missing_module(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(selftest, "_MODULES", ("json", "genre_desktop_no_such_module"))
    assert selftest._run_step("modules", selftest.check_modules) is False
    assert "FAIL modules" in capsys.readouterr().out
