"""Fixtures shared by the app tests: a real MainWindow on the harness's Xvfb screen.

Imported by tests/test_app_*.py (`from app_fixtures import ...`); the window gets its own
settings file under the per-test config folder that conftest sets.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "docs" / "screenshots"
# The fixtures: test modules star-import them.
__all__ = ["app_settings", "main_window", "shared_cache"]


@pytest.fixture
def app_settings(xvfb_display, qapp):
    from genre_desktop.app.settings import AppSettings

    return AppSettings()


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One user cache for all app tests: the offline model trains and numba compiles once."""
    return tmp_path_factory.mktemp("app_cache")


@pytest.fixture
def main_window(qtbot, app_settings, shared_cache, monkeypatch) -> Iterator[object]:
    monkeypatch.setenv("GENRE_DESKTOP_CACHE_DIR", str(shared_cache))
    import matplotlib

    matplotlib.use("QtAgg")
    from genre_desktop.app.main import create_application
    from genre_desktop.app.main_window import MainWindow

    create_application()
    window = MainWindow(app_settings)
    # Not qtbot.addWidget: its teardown would close a window with a run still going, and the
    # window then asks "Stop the classification?" with nobody to answer.
    window.resize(1280, 760)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.stop_run_now()  # a test may leave a run going (e.g. a menu action it triggered)
    window.close()
    window.deleteLater()


def open_folder(qtbot, window, folder: Path | str, expected: int | None = None) -> None:
    window.open_folder(str(folder))
    qtbot.waitUntil(lambda: window.browser.model.rowCount() > 0, timeout=15000)
    if expected is not None:
        assert window.browser.model.rowCount() == expected


def small_folder(tmp_path: Path, manifest: list[dict[str, str]], per_genre: int,
                 genres: tuple[str, ...] | None = None, name: str = "songs") -> Path:
    """A GTZAN-layout folder of symlinks to the first `per_genre` clips of each genre."""
    root = tmp_path / name
    counts: dict[str, int] = {}
    for row in manifest:
        genre = row["genre"]
        if genres and genre not in genres:
            continue
        if counts.get(genre, 0) >= per_genre:
            continue
        counts[genre] = counts.get(genre, 0) + 1
        target = root / genre / Path(row["path"]).name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(row["path"], target)
    return root


def wait_for_run(qtbot, window, timeout: int = 120000) -> None:
    qtbot.waitUntil(lambda: not window.run_controller.is_running(), timeout=timeout)
    qtbot.waitUntil(window.results.is_settled, timeout=10000)


def save_screenshot(widget, name: str, artifacts_dir: Path) -> Path:
    """Grab a widget into test-artifacts/; with UPDATE_SCREENSHOTS=1 also into docs/screenshots
    (committed, shown in the README), so an ordinary test run leaves the checkout clean."""
    path = artifacts_dir / name
    pixmap = widget.grab()
    assert not pixmap.isNull()
    assert pixmap.save(str(path), "PNG")
    # A 256-colour palette keeps the PNGs small and the UI text crisp.
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SCREENSHOTS / name)
    return path
