"""Entry point of the desktop app: `genre-desktop` with no arguments calls `run_app()`."""

from __future__ import annotations

import sys

from genre_desktop.core.resources import resource

APP_NAME = "Genre Desktop"
ORGANIZATION = "genre-desktop"


def app_icon():  # -> QIcon
    from PySide6.QtGui import QIcon

    icon = QIcon()
    for name in ("genre-desktop.svg", "genre-desktop.png"):
        path = resource("icons", name)
        if path.is_file():
            icon.addFile(str(path))
    return icon


def create_application(argv: list[str] | None = None):  # -> QApplication
    """The QApplication with names and icon set (reused when one exists, e.g. in tests)."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORGANIZATION)
    # No application display name: Qt would append it to every title ("Genre Desktop — genres
    # — Genre Desktop"); the window sets its own full title.
    app.setDesktopFileName("genre-desktop")
    app.setWindowIcon(app_icon())
    return app


def run_app(argv: list[str] | None = None, folder: str | None = None) -> int:
    """The app; `folder` (from `genre-desktop FOLDER`) is opened instead of the last one."""
    # matplotlib must pick the Qt backend before anything imports pyplot.
    import matplotlib

    matplotlib.use("QtAgg")
    app = create_application(argv)
    from genre_desktop.app.main_window import MainWindow

    window = MainWindow(folder=folder)
    window.show()
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(run_app())
