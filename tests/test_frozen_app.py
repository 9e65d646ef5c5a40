"""The standalone executable: build it with installer.spec, run its self-test.

The build takes a few minutes on two cores, so it happens once per session (module fixture)
into a temporary folder, leaving any `make dist` output alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, require

import genre_desktop
from genre_desktop import selftest

pytestmark = pytest.mark.slow


def _folder_size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


@pytest.fixture(scope="module")
def frozen_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
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


def test_frozen_self_test(frozen_app: Path, gtzan_dir: Path, tmp_path: Path) -> None:
    env = _frozen_env(tmp_path)
    env["GENRE_DATA"] = str(gtzan_dir)
    start = time.perf_counter()
    out = subprocess.run([str(frozen_app / "genre-desktop"), "--self-test"], capture_output=True,
                         text=True, timeout=900, env=env)
    took = time.perf_counter() - start
    print(f"\nfrozen self-test: {took:.0f} s\n{out.stdout}")
    assert out.returncode == 0, out.stdout + out.stderr[-6000:]
    for step in ("modules", "clips", "extract", "classify", "window"):
        assert f"self-test: PASS {step}" in out.stdout
    assert "frozen build" in out.stdout
    assert "Traceback" not in out.stderr, out.stderr[-6000:]
    # the runtime hook sent numba's compiled kernels to the (test's) user cache folder
    numba_cache = Path(env["GENRE_DESKTOP_CACHE_DIR"]) / "numba"
    assert list(numba_cache.rglob("*.nbi")), f"no numba cache index under {numba_cache}"


def test_self_test_fails_on_a_missing_module(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(selftest, "_MODULES", ("json", "genre_desktop_no_such_module"))
    assert selftest._run_step("modules", selftest.check_modules) is False
    assert "FAIL modules" in capsys.readouterr().out
